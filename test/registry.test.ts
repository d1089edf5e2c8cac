import { afterEach, describe, expect, it } from 'vitest';
import type { CoordContext } from '../src/context.js';
import {
  type Coordinator,
  isConflictError,
  isInvalidArgumentError,
  type Registration,
  type RegistrationStatus,
  type ServiceInstance,
} from '../src/index.js';
import { claimKey } from '../src/registry/claim.js';
import { failOnUnhandledRejections } from './fixtures/lock-util.js';
import { percentile, recordChanges } from './fixtures/registry-helpers.js';
import { connectShared, waitFor } from './harness/index.js';

failOnUnhandledRejections();

const open: Coordinator[] = [];
async function coordinator(opts: Parameters<typeof connectShared>[0] = {}): Promise<Coordinator> {
  const c = await connectShared({ ttl: 5, ...opts });
  open.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

/** Every key under the coordinator's namespace. */
async function keysIn(coord: Coordinator): Promise<string[]> {
  return coord.kv.getAll().keys();
}

describe('registration', () => {
  it('writes JSON under services/<service>/<id> on its own lease; list() reads it; deregister() removes it at once', async () => {
    const coord = await coordinator();
    const reg = await coord.registry.register(
      { service: 'payments', id: 'p-1', address: '127.0.0.1', port: 8080, metadata: { zone: 'a' }, weight: 2 },
      { ttl: 3 },
    );
    expect(reg.state).toBe('registered');
    expect(reg.key).toBe(`${coord.namespace}services/payments/p-1`);
    const stored = JSON.parse((await coord.kv.get('services/payments/p-1').string()) as string);
    expect(stored).toMatchObject({
      service: 'payments',
      id: 'p-1',
      address: '127.0.0.1',
      port: 8080,
      metadata: { zone: 'a' },
      weight: 2,
      status: 'serving',
    });
    expect(Date.parse(stored.registeredAt)).not.toBeNaN();
    const ttl = await coord.client.leaseClient.leaseTimeToLive({ ID: BigInt(`0x${reg.instance.leaseId}`).toString() });
    expect(Number(ttl.grantedTTL)).toBe(3);

    const listed = await coord.registry.list('payments');
    expect(listed.map((i) => [i.id, i.port, i.leaseId])).toEqual([['p-1', 8080, reg.instance.leaseId]]);

    const statuses: RegistrationStatus[] = [];
    const done = (async () => {
      for await (const s of reg.status()) statuses.push(s);
    })();
    await reg.deregister();
    await reg.deregister();
    await done;
    expect(statuses.map((s) => s.type)).toEqual(['registered', 'deregistered']);
    expect(reg.state).toBe('deregistered');
    expect(await keysIn(coord)).toEqual([]);
    await expect(reg.update({ weight: 3 })).rejects.toThrow(/deregistered/);
  });

  it('sharedSession: registers on the shared session with no lease of its own, re-registers after its loss, and deregister() leaves it', async () => {
    const coord = await coordinator();
    const cache = await coord.registry.discover('shared');
    const input = { service: 'shared', id: 's-1', address: '127.0.0.1', port: 9000 };
    await expect(coord.registry.register(input, { sharedSession: true, ttl: 5 })).rejects.toSatisfy(
      isInvalidArgumentError,
    );
    await expect(coord.registry.register(input, { sharedSession: 'yes' as unknown as boolean })).rejects.toSatisfy(
      isInvalidArgumentError,
    );
    expect(await keysIn(coord)).toEqual([]);

    const session = await coord.session();
    const sessionsBefore = coord.diagnostics().sessions;
    const reg = await coord.registry.register(input, { sharedSession: true });
    expect(coord.diagnostics().sessions).toBe(sessionsBefore); // no lease granted for it
    expect(reg.instance.leaseId).toBe(session.leaseId);
    await waitFor(() => cache.instances().some((i) => i.id === 's-1'), 'the cache sees the instance');
    // A second registration of the same id in this coordinator is refused (the claim could not tell them apart),
    // also when two register() calls for one id run at once.
    await expect(coord.registry.register(input, { sharedSession: true })).rejects.toSatisfy(isConflictError);
    const both = await Promise.allSettled(
      [0, 1].map(() => coord.registry.register({ ...input, id: 's-2' }, { sharedSession: true })),
    );
    expect(both.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    for (const r of both) if (r.status === 'rejected') expect(isConflictError(r.reason)).toBe(true);
    for (const r of both) if (r.status === 'fulfilled') await r.value.deregister();

    const statuses: RegistrationStatus['type'][] = [];
    const seen = (async () => {
      for await (const s of reg.status()) statuses.push(s.type);
    })();
    await session.close(); // the shared session ends: the registration goes with it, and comes back on the next one
    await waitFor(() => statuses.includes('re-registered'), 're-registered on a new shared session');
    const next = await coord.session();
    expect(next.leaseId).not.toBe(session.leaseId);
    expect(reg.instance.leaseId).toBe(next.leaseId);
    expect((await coord.registry.list('shared')).map((i) => i.leaseId)).toEqual([next.leaseId]);

    await reg.deregister();
    await seen;
    expect(statuses).toEqual(['registered', 'lost', 're-registered', 'deregistered']);
    expect(await keysIn(coord)).toEqual([]);
    expect(next.isAlive).toBe(true); // deregister() deleted the key and left the shared session
    await waitFor(() => !cache.instances().some((i) => i.id === 's-1'), 'the cache sees it go');
  });

  it('generates a unique id when none is given', async () => {
    const coord = await coordinator();
    const a = await coord.registry.register({ service: 'gen', address: 'localhost', port: 1 });
    const b = await coord.registry.register({ service: 'gen', address: 'localhost', port: 2 });
    expect(a.instance.id).not.toBe(b.instance.id);
    expect((await coord.registry.list('gen')).length).toBe(2);
  });

  it('an id held by a live instance of another process is a ConflictError; nothing is overwritten or left behind', async () => {
    const mine = await coordinator();
    const theirs = await coordinator({ namespace: mine.namespace });
    const reg = await mine.registry.register({ service: 'api', id: 'x', address: '10.0.0.1', port: 80 });
    const before = await mine.kv.get('services/api/x').string();
    const err = await theirs.registry
      .register({ service: 'api', id: 'x', address: '10.0.0.2', port: 81 })
      .catch((e: unknown) => e);
    expect(isConflictError(err)).toBe(true);
    expect(await mine.kv.get('services/api/x').string()).toBe(before);
    expect(await keysIn(mine)).toEqual(['services/api/x']);
    expect(reg.state).toBe('registered');
  });

  it('claimKey takes over a key on an earlier lease of its own, and refuses any other lease', async () => {
    const coord = await coordinator();
    const ctx = (coord as unknown as { ctx: CoordContext }).ctx;
    const key = `${coord.namespace}services/own/x`;
    const grant = async () => (await coord.client.leaseClient.leaseGrant({ TTL: 30, ID: 0 })).ID;
    const [old, mine, other] = await Promise.all([grant(), grant(), grant()]);
    await coord.client.kv.put({ key: Buffer.from(key), value: Buffer.from('{}'), lease: old });
    const before = (await coord.client.kv.range({ key: Buffer.from(key) })).kvs[0];
    const value = Buffer.from('{"address":"h","port":1}');
    const refused = await claimKey(ctx, 'test', key, value, mine, new Set([other])).catch((e: unknown) => e);
    expect(isConflictError(refused)).toBe(true);
    const w = await claimKey(ctx, 'test', key, value, mine, new Set([old]));
    expect(w.tookOver).toBe(true);
    const after = (await coord.client.kv.range({ key: Buffer.from(key) })).kvs[0];
    expect([after.lease, after.create_revision, after.value.toString()]).toEqual([
      mine,
      before.create_revision,
      value.toString(),
    ]);
    const again = await claimKey(ctx, 'test', key, value, mine, new Set([old])); // a retried claim is a no-op
    expect([again.revision, again.tookOver]).toEqual([BigInt(after.mod_revision), undefined]);
    await Promise.all([old, mine, other].map((ID) => coord.client.leaseClient.leaseRevoke({ ID })));
  });

  it('update() changes metadata, weight and status; caches see an update; draining instances are not picked', async () => {
    const coord = await coordinator();
    const a = await coord.registry.register({ service: 'web', id: 'a', address: 'h', port: 1 });
    await coord.registry.register({ service: 'web', id: 'b', address: 'h', port: 2 });
    const cache = await coord.registry.discover('web');
    const rec = recordChanges(cache);
    const updated = await a.update({ metadata: { version: '2' }, weight: 5, status: 'draining' });
    expect(updated).toMatchObject({ metadata: { version: '2' }, weight: 5, status: 'draining' });
    await waitFor(() => rec.changes.length === 1, 'the update event');
    expect(rec.changes[0].type).toBe('update');
    expect(rec.changes[0].instance).toMatchObject({ id: 'a', weight: 5, status: 'draining' });
    for (let i = 0; i < 20; i++) expect(cache.pick('round-robin')?.id).toBe('b');
    await a.update({ status: 'serving' });
    await waitFor(() => cache.instances().find((i) => i.id === 'a')?.status === 'serving', 'serving again');
    expect(new Set([cache.pick()?.id, cache.pick()?.id])).toEqual(new Set(['a', 'b']));
    cache.close();
  });

  it('comes back by itself when its key is deleted behind its back', async () => {
    const coord = await coordinator();
    const reg = await coord.registry.register({ service: 'svc', id: 'one', address: 'h', port: 1 });
    const statuses: RegistrationStatus[] = [];
    void (async () => {
      for await (const s of reg.status()) statuses.push(s);
    })();
    await coord.kv.delete().key('services/svc/one');
    await waitFor(() => statuses.some((s) => s.type === 're-registered'), 're-registration');
    expect(statuses.map((s) => s.type)).toEqual(['registered', 'lost', 're-registered']);
    expect((await coord.registry.list('svc')).map((i) => i.id)).toEqual(['one']);
  });

  it('a signal aborted before register() resolves leaves nothing; aborted later, it deregisters', async () => {
    const coord = await coordinator();
    const early = new AbortController();
    const pending = coord.registry.register(
      { service: 's', id: 'early', address: 'h', port: 1 },
      { signal: early.signal },
    );
    early.abort(new Error('changed my mind'));
    await expect(pending).rejects.toThrow('changed my mind');
    expect(await keysIn(coord)).toEqual([]);

    const later = new AbortController();
    const reg = await coord.registry.register(
      { service: 's', id: 'late', address: 'h', port: 1 },
      { signal: later.signal },
    );
    expect(await keysIn(coord)).toEqual(['services/s/late']);
    later.abort();
    await waitFor(() => reg.state === 'deregistered', 'deregistered');
    expect(await keysIn(coord)).toEqual([]);
  });
});

describe('bad input', () => {
  const good = { service: 'svc', id: 'i1', address: '127.0.0.1', port: 8080 };
  const cases: [string, Record<string, unknown>, Record<string, unknown>?][] = [
    ['empty service name', { ...good, service: '' }],
    ['service with /', { ...good, service: 'a/b' }],
    ['id with /', { ...good, id: 'x/y' }],
    ['empty id', { ...good, id: '' }],
    ['port 0', { ...good, port: 0 }],
    ['port 65536', { ...good, port: 65536 }],
    ['port not an integer', { ...good, port: 80.5 }],
    ['port as a string', { ...good, port: '80' }],
    ['empty address', { ...good, address: '' }],
    ['metadata with a number', { ...good, metadata: { a: 1 } }],
    ['metadata not an object', { ...good, metadata: 'x' }],
    ['metadata an array', { ...good, metadata: ['x'] }],
    ['weight 0', { ...good, weight: 0 }],
    ['weight negative', { ...good, weight: -1 }],
    ['weight NaN', { ...good, weight: Number.NaN }],
    ['weight Infinity', { ...good, weight: Number.POSITIVE_INFINITY }],
    ['unknown status', { ...good, status: 'sleepy' }],
    ['ttl below minimum', good, { ttl: 1 }],
  ];
  it.each(cases)('%s: InvalidArgumentError, nothing written', async (_name, input, options) => {
    const coord = await coordinator();
    const err = await coord.registry.register(input as never, options).catch((e: unknown) => e);
    expect(isInvalidArgumentError(err)).toBe(true);
    expect((err as Error).message.length).toBeGreaterThan(20);
    expect(await keysIn(coord)).toEqual([]);
  });

  it('discover(), list(), pick(), update() and noteError() check their input', async () => {
    const coord = await coordinator();
    for (const bad of ['', 'a/b', 42]) {
      expect(isInvalidArgumentError(await coord.registry.discover(bad as never).catch((e) => e))).toBe(true);
      expect(isInvalidArgumentError(await coord.registry.list(bad as never).catch((e) => e))).toBe(true);
    }
    const badPolicy = await coord.registry
      .discover('svc', { downPolicy: { halfOpenAfterMs: -1 } })
      .catch((e: unknown) => e);
    expect(isInvalidArgumentError(badPolicy)).toBe(true);
    const reg = await coord.registry.register(good);
    const cache = await coord.registry.discover('svc');
    expect(() => cache.pick('fastest' as never)).toThrow(/round-robin/);
    expect(() => cache.noteError({} as ServiceInstance)).toThrow(/ServiceInstance/);
    const before = await coord.kv.get('services/svc/i1').string();
    for (const patch of [{ weight: 0 }, { metadata: { a: 2 } }, { port: 1 }, { status: 'x' }]) {
      const err = await reg.update(patch as never).catch((e: unknown) => e);
      expect(isInvalidArgumentError(err)).toBe(true);
    }
    expect(await coord.kv.get('services/svc/i1').string()).toBe(before);
    cache.close();
  });
});

describe('ServiceCache', () => {
  async function threeInstances(coord: Coordinator): Promise<Registration[]> {
    return Promise.all(
      [1, 2, 3].map((w) => coord.registry.register({ service: 'pool', id: `n${w}`, address: 'h', port: w, weight: w })),
    );
  }

  it('round-robin visits every instance in turn; random reaches all; weighted follows weights', async () => {
    const coord = await coordinator();
    await threeInstances(coord);
    const cache = await coord.registry.discover('pool');
    expect(cache.instances().map((i) => i.id)).toEqual(['n1', 'n2', 'n3']);
    const rr = Array.from({ length: 9 }, () => cache.pick('round-robin')?.id);
    const start = rr.indexOf('n1');
    for (let i = 0; i < rr.length; i++) expect(rr[i]).toBe(`n${((i - start + 9) % 3) + 1}`);
    expect(cache.pick()).toBeDefined(); // round-robin is the default

    const random = new Set(Array.from({ length: 200 }, () => cache.pick('random')?.id));
    expect(random).toEqual(new Set(['n1', 'n2', 'n3']));

    const counts = new Map<string, number>();
    const n = 12_000;
    for (let i = 0; i < n; i++) {
      const id = cache.pick('weighted')?.id as string;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const w of [1, 2, 3]) {
      const expected = (n * w) / 6;
      expect(Math.abs((counts.get(`n${w}`) ?? 0) - expected)).toBeLessThan(expected * 0.1);
    }
    cache.close();
  });

  it('sticky stays on one instance until it goes down', async () => {
    const coord = await coordinator();
    const regs = await threeInstances(coord);
    const cache = await coord.registry.discover('pool');
    const first = cache.pick('sticky')?.id as string;
    for (let i = 0; i < 50; i++) expect(cache.pick('sticky')?.id).toBe(first);
    await regs.find((r) => r.instance.id === first)?.deregister();
    await waitFor(() => !cache.instances().some((i) => i.id === first), 'the sticky instance to go');
    const second = cache.pick('sticky')?.id as string;
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    for (let i = 0; i < 50; i++) expect(cache.pick('sticky')?.id).toBe(second);
    cache.close();
  });

  it('noteError() keeps an instance out of every strategy until the half-open period passes', async () => {
    const coord = await coordinator();
    await threeInstances(coord);
    const cache = await coord.registry.discover('pool', { downPolicy: { errorThreshold: 2, halfOpenAfterMs: 600 } });
    const n2 = cache.instances()[1];
    expect(cache.noteError(n2)).toBe(false); // one error: below the threshold
    expect(cache.noteError(n2)).toBe(true);
    expect(cache.isDown(n2)).toBe(true);
    const downAt = performance.now();
    for (const s of ['round-robin', 'random', 'weighted', 'sticky'] as const) {
      for (let i = 0; i < 60; i++) expect(cache.pick(s)?.id).not.toBe('n2');
    }
    await waitFor(() => cache.pick('round-robin')?.id === 'n2', 'n2 back in the rotation', 5000, 10);
    expect(performance.now() - downAt).toBeGreaterThanOrEqual(590);
    expect(cache.isDown('n2')).toBe(false);
    expect(cache.noteError('n2')).toBe(true); // half-open: one more error is enough
    cache.noteSuccess('n2');
    expect(cache.isDown('n2')).toBe(false);
    expect(cache.instances().length).toBe(3); // instances() still lists down instances
    cache.noteError('n1');
    cache.noteError('n1');
    cache.noteError('n3');
    cache.noteError('n3');
    cache.noteError('n2');
    cache.noteError('n2');
    expect(cache.pick('random')).toBeUndefined();
    cache.close();
  });

  it('pick() returns undefined when there is no instance; close() ends changes()', async () => {
    const coord = await coordinator();
    const cache = await coord.registry.discover('nothing-here');
    expect(cache.instances()).toEqual([]);
    expect(cache.pick('weighted')).toBeUndefined();
    expect(cache.stale).toBe(false);
    const it = cache.changes();
    const next = it.next();
    cache.close();
    cache.close();
    expect(await next).toEqual({ value: undefined, done: true });
  });

  it('propagation: 200 registrations, each seen once and in order (p50/p99 printed)', async () => {
    const writer = await coordinator();
    const reader = await coordinator({ namespace: writer.namespace });
    const cache = await reader.registry.discover('prop');
    const rec = recordChanges(cache);
    const started: number[] = [];
    const resolved: number[] = [];
    const regs: Registration[] = [];
    for (let i = 0; i < 200; i++) {
      started.push(performance.now());
      regs.push(
        await writer.registry.register({
          service: 'prop',
          id: `i${String(i).padStart(3, '0')}`,
          address: 'h',
          port: 1,
        }),
      );
      resolved.push(performance.now());
    }
    await waitFor(() => rec.changes.length >= 200, '200 up events');
    const ups = rec.changes.filter((c) => c.type === 'up');
    expect(ups.map((c) => c.instance.id)).toEqual(regs.map((r) => r.instance.id));
    expect(rec.changes.length).toBe(200);
    const e2e = ups.map((c, i) => c.at - started[i]);
    const afterCommit = ups.map((c, i) => c.at - resolved[i]);
    const reg = resolved.map((r, i) => r - started[i]);
    const fmt = (v: number[]) => `p50 ${percentile(v, 50).toFixed(1)} ms, p99 ${percentile(v, 99).toFixed(1)} ms`;
    console.log(
      `registry propagation over 200 registrations:\n  register() call -> cache event: ${fmt(e2e)}\n` +
        `  register() resolved -> cache event: ${fmt(afterCommit)}\n  register() duration: ${fmt(reg)}`,
    );
    expect(cache.instances().length).toBe(200);
    await Promise.all(regs.map((r) => r.deregister()));
    await waitFor(() => cache.instances().length === 0, 'every instance down');
    expect(rec.changes.filter((c) => c.type === 'down').length).toBe(200);
    cache.close();
  }, 60_000);
});
