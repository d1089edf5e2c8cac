/**
 * Sessions under faults: a black-holed network (the session must know it is lost before
 * etcd deletes its keys), and an etcd that is stopped past the TTL and restarted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, isSessionLostError, type Session, type SessionStatus } from '../src/index.js';
import type { WatchEvent } from '../src/watch.js';
import {
  connectShared,
  contextOf,
  type EtcdMember,
  FaultProxy,
  sharedPort,
  startEtcd,
  uniqueNamespace,
  waitFor,
} from './harness/index.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.allSettled(cleanup.splice(0).map((f) => f()));
});

/** Records every status change of a session with the time it was seen. */
function recordStatus(session: Session): { seen: { status: SessionStatus; at: number }[]; done: Promise<void> } {
  const seen: { status: SessionStatus; at: number }[] = [];
  const done = (async () => {
    for await (const status of session.status()) seen.push({ status, at: performance.now() });
  })();
  return { seen, done };
}

describe('session under faults', () => {
  it('black-holed: the signal fires before etcd deletes the key, and at-risk comes before lost', async () => {
    const ttl = 3;
    const proxy = await FaultProxy.start(sharedPort());
    cleanup.push(() => proxy.close());
    const namespace = uniqueNamespace('bh');
    const coord = await connect({ endpoints: [proxy.endpoint], namespace, ttl });
    cleanup.push(() => coord.close());
    const direct = await connectShared({ namespace });
    cleanup.push(() => direct.close());

    const session = await coord.newSession({ ttl });
    await coord.kv.put('attached').value('mine').lease(session.leaseIdDecimal).exec();
    const { seen, done } = recordStatus(session);
    let lostAt = 0;
    session.signal.addEventListener('abort', () => {
      lostAt = performance.now();
    });
    let deletedAt = 0;
    const rev = BigInt((await direct.kv.get('attached').exec()).header.revision);
    contextOf(direct).watch.watch(
      { key: `${namespace}attached`, startRevision: rev + 1n },
      {
        onEvents: (events: WatchEvent[]) => {
          if (events.some((e) => e.type === 'delete')) deletedAt ||= performance.now();
        },
      },
    );

    // Black-hole after a keepalive was answered (so the deadline comes from a keepalive,
    // not from the grant), at a random point of the keepalive cycle.
    const before = session.remainingMs;
    await waitFor(() => session.remainingMs > before, 'a keepalive to be answered', ttl * 1000);
    await new Promise((r) => setTimeout(r, (Math.random() * (ttl * 1000)) / 3));
    proxy.blackhole();
    const cutAt = performance.now();
    await waitFor(() => deletedAt > 0, 'etcd to expire the lease', (ttl + 3) * 1000);
    await done;

    expect(lostAt, 'the session noticed the loss').toBeGreaterThan(0);
    const margin = deletedAt - lostAt;
    console.log(
      `[ordering] session lost ${(lostAt - cutAt).toFixed(0)} ms after the black hole; ` +
        `etcd deleted the key ${margin.toFixed(0)} ms after that (margin)`,
    );
    expect(lostAt).toBeLessThan(deletedAt);
    expect(session.state).toBe('lost');
    expect(isSessionLostError(session.signal.reason)).toBe(true);
    const types = seen.map((s) => s.status.type);
    expect(types).toEqual(['at-risk', 'lost']);
    expect(seen[0].at).toBeLessThan(seen[1].at);
  }, 20_000);
});

describe('session when etcd is stopped past the TTL', () => {
  let etcd: EtcdMember | undefined;
  afterEach(async () => {
    await etcd?.destroy();
    etcd = undefined;
  });

  it('is reported lost; coord.session() then hands out a fresh, working session', async () => {
    etcd = await startEtcd();
    const ttl = 2;
    const coord = await connect({ endpoints: [etcd.endpoint], namespace: 'stop/', ttl });
    cleanup.push(() => coord.close());
    const old = await coord.session();
    await coord.kv.put('old').value('x').lease(old.leaseIdDecimal).exec();
    const { seen, done } = recordStatus(old);

    await etcd.stop();
    await waitFor(() => old.state === 'lost', 'the session to be reported lost', (ttl + 3) * 1000);
    await done;
    expect(seen.map((s) => s.status.type)).toEqual(['at-risk', 'lost']);
    expect(isSessionLostError(old.signal.reason)).toBe(true);
    expect(old.isAlive).toBe(false);

    await etcd.start();
    // While the breaker is open calls fail fast; the first call after it lets one through works.
    const fresh = await waitFor(
      () => coord.session().catch(() => undefined),
      'coord.session() to work again',
      10_000,
      100,
    );
    expect(fresh).not.toBe(old);
    expect(fresh.leaseId).not.toBe(old.leaseId);
    expect(fresh.state).toBe('held');
    expect(await coord.session()).toBe(fresh);
    await coord.kv.put('fresh').value('y').lease(fresh.leaseIdDecimal).exec();
    const ttlLeft = await coord.client.leaseClient.leaseTimeToLive({ ID: fresh.leaseIdDecimal });
    expect(Number(ttlLeft.TTL)).toBeGreaterThan(0);
    // etcd gives the lost lease a full TTL again after its restart; the session revokes it
    // as soon as etcd answers, so its key goes at once: revoked, not expired.
    await waitFor(async () => (await coord.kv.get('old').string()) === null, 'the old key to go', (ttl + 3) * 1000);
    expect(await etcd.metric('etcd_debugging_server_lease_expired_total')).toBe(0);
    // The fresh one is kept alive past its TTL.
    await new Promise((r) => setTimeout(r, ttl * 1000 + 500));
    expect(fresh.state).toBe('held');
    expect(await coord.kv.get('fresh').string()).toBe('y');
  }, 30_000);
});
