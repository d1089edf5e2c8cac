/**
 * connect() against dead and black-holed endpoints, failover past dead members, the
 * circuit breaker while etcd is down, and close(): no leaked leases or keys, safe twice.
 */
import { isBrokenCircuitError } from 'cockatiel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, isClosedError, isEtcdUnavailableError, type Session } from '../src/index.js';
import {
  connectShared,
  type EtcdMember,
  FaultProxy,
  freePort,
  rejectionOf,
  sharedEndpoints,
  sharedPort,
  startEtcd,
  uniqueNamespace,
  waitFor,
} from './harness/index.js';

describe('connect()', () => {
  it('rejects with EtcdUnavailableError naming an endpoint nobody listens on', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const err = await rejectionOf(connect({ endpoints: [dead], dialTimeoutMs: 1000 }));
    expect(isEtcdUnavailableError(err), String(err)).toBe(true);
    expect(err.message).toContain(`http://${dead}`);
    expect(err.message).toMatch(/no etcd endpoint answered within 1000 ms/);
  }, 10_000);

  it('rejects with EtcdUnavailableError naming a black-holed endpoint (no hang)', async () => {
    const proxy = await FaultProxy.start(sharedPort());
    try {
      proxy.blackhole();
      const err = await rejectionOf(connect({ endpoints: [proxy.endpoint], dialTimeoutMs: 1000 }));
      expect(isEtcdUnavailableError(err), String(err)).toBe(true);
      expect(err.message).toContain(`http://${proxy.endpoint}`);
    } finally {
      await proxy.close();
    }
  }, 10_000);

  it('with dead members in the list, every request reaches the live one (puts included)', async () => {
    const dead = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
    const coord = await connect({ endpoints: [...dead, ...sharedEndpoints()], namespace: uniqueNamespace('fo') });
    try {
      for (let i = 0; i < 12; i++) await coord.kv.put(`k${i}`).value(String(i)).exec();
      expect(await coord.kv.getAll().prefix('k').count()).toBe(12);
      const session = await coord.newSession({ ttl: 2 });
      expect(session.state).toBe('held');
    } finally {
      await coord.close();
    }
  }, 20_000);
});

describe('circuit breaker', () => {
  let etcd: EtcdMember;
  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => {
    await etcd?.destroy();
  });

  it('opens while etcd is down (calls fail fast with EtcdUnavailableError) and closes after it returns', async () => {
    const coord = await connect({
      endpoints: [etcd.endpoint],
      namespace: 'breaker/',
      policies: { callTimeoutMs: 2000, breaker: { threshold: 3, halfOpenAfterMs: 500 } },
    });
    try {
      expect(coord.breakerState).toBe('closed');
      await etcd.stop();
      const first = await rejectionOf(coord.newSession({ ttl: 2 })); // its retries open the breaker
      expect(isEtcdUnavailableError(first), String(first)).toBe(true);
      expect(coord.breakerState).toBe('open');

      const took: number[] = [];
      for (let i = 0; i < 5 && coord.breakerState === 'open'; i++) {
        const started = performance.now();
        const err = await rejectionOf(coord.newSession({ ttl: 2 }));
        took.push(performance.now() - started);
        expect(isEtcdUnavailableError(err), String(err)).toBe(true);
        expect(err.message).toMatch(/circuit breaker is open/);
        expect(isBrokenCircuitError((err as Error & { cause: unknown }).cause)).toBe(true);
      }
      expect(took.length).toBeGreaterThan(0);
      console.log(`[breaker] fail-fast calls took ${took.map((t) => t.toFixed(1)).join(', ')} ms`);
      expect(Math.max(...took)).toBeLessThan(1000); // generous: no request went out (see cause)

      await etcd.start();
      const session = await waitFor(
        () => coord.newSession({ ttl: 2 }).catch(() => undefined),
        'a call to succeed after etcd returned',
        10_000,
        100,
      );
      expect(session.state).toBe('held');
      expect(coord.breakerState).toBe('closed');
    } finally {
      await coord.close();
    }
  }, 30_000);
});

describe('close()', () => {
  it('leaves no lease and no key behind, and is safe twice (close and Symbol.asyncDispose)', async () => {
    const coord = await connectShared({ ttl: 5 });
    const sessions: Session[] = [await coord.session(), await coord.newSession(), await coord.newSession({ ttl: 3 })];
    for (const [i, s] of sessions.entries()) await coord.kv.put(`k${i}`).value('v').lease(s.leaseIdDecimal).exec();
    await coord.kv.put('plain').value('not on a lease').exec();
    const direct = await connectShared({ namespace: coord.namespace });
    try {
      await coord.close();
      await coord[Symbol.asyncDispose]();
      await coord.close();
      const live = new Set((await direct.client.leaseClient.leaseLeases({})).leases.map((l) => String(l.ID)));
      for (const s of sessions) {
        expect(s.state).toBe('closed');
        expect(live.has(s.leaseIdDecimal)).toBe(false);
      }
      expect(await direct.kv.getAll().keys()).toEqual(['plain']);
      const err = await rejectionOf(coord.newSession());
      expect(isClosedError(err), String(err)).toBe(true);
    } finally {
      await direct.close();
    }
  });

  it('await using closes the coordinator and its sessions; a session disposes twice', async () => {
    let session: Session;
    let namespace: string;
    {
      await using coord = await connectShared();
      namespace = coord.namespace;
      session = await coord.session();
      await coord.kv.put('k').value('v').lease(session.leaseIdDecimal).exec();
      await using own = await coord.newSession({ ttl: 2 });
      expect(own.state).toBe('held');
      await own[Symbol.asyncDispose]();
      expect(own.state).toBe('closed');
    }
    expect(session.state).toBe('closed');
    await session[Symbol.asyncDispose]();
    const direct = await connectShared({ namespace });
    try {
      expect(await direct.kv.get('k').string()).toBeNull();
    } finally {
      await direct.close();
    }
  });
});
