/**
 * Owner records on lock keys, and `coord.inspect()`: every queue and service under a
 * prefix at one revision, with owners and lease TTLs. Against the shared etcd.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { type Coordinator, connect, isInvalidArgumentError, type Lock, type Snapshot } from '../src/index.js';
import { failOnUnhandledRejections, keysUnder } from './fixtures/lock-util.js';
import { connectShared, findEtcdctl, rejectionOf, sharedEndpoints, waitFor } from './harness/index.js';

failOnUnhandledRejections();

const coords: Coordinator[] = [];
const procs: ChildProcess[] = [];
/** A coordinator in the namespace of the first one opened by this test. */
async function open(opts: Parameters<typeof connectShared>[0] = {}): Promise<Coordinator> {
  const c = await connectShared({ ttl: 5, ...(coords[0] ? { namespace: coords[0].namespace } : {}), ...opts });
  coords.push(c);
  return c;
}
afterEach(async () => {
  for (const p of procs.splice(0)) p.kill('SIGKILL');
  await Promise.all(coords.splice(0).map((c) => c.close()));
});

/** The JSON value of a full key. */
async function record(coord: Coordinator, key: string): Promise<Record<string, unknown>> {
  const value = await coord.client.get(key).string();
  return JSON.parse(value ?? 'null');
}

const queueOf = (snap: Snapshot, name: string) => snap.queues.find((q) => q.name === name);

describe('owner records', () => {
  it('a lock key holds {owner, host, pid, since}: connect({ owner }) by default, mutex(name, { owner }) per lock', async () => {
    const before = Date.now();
    const coord = await open({ owner: 'billing-worker' });
    expect(coord.owner).toBe('billing-worker');
    const lock = await coord.mutex('jobs/nightly').acquire();
    const rec = await record(coord, lock.key);
    expect(rec).toEqual({ owner: 'billing-worker', host: hostname(), pid: process.pid, since: expect.any(String) });
    expect(Date.parse(rec.since as string)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(rec.since as string)).toBeLessThanOrEqual(Date.now() + 1000);

    const own = await coord.mutex('deploy', { owner: 'deploy #42' }).acquire();
    expect((await record(coord, own.key)).owner).toBe('deploy #42');
    await Promise.all([lock.release(), own.release()]);
  });

  it('defaults to <hostname>:<pid>; semaphores and read-write locks take an owner too; elections keep their value', async () => {
    const coord = await open();
    expect(coord.owner).toBe(`${hostname()}:${process.pid}`);
    const plain = await coord.mutex('plain').acquire();
    const permit = await coord.semaphore('pool', 3, { owner: 'sem-owner' }).acquire();
    const rw = coord.rwlock('table', { owner: 'rw-owner' });
    const read = await rw.read();
    const leadership = await coord.election('leader').campaign('http://10.0.0.1:80');
    expect((await record(coord, plain.key)).owner).toBe(`${hostname()}:${process.pid}`);
    expect((await record(coord, permit.key)).owner).toBe('sem-owner');
    expect((await record(coord, read.key)).owner).toBe('rw-owner');
    expect(await coord.client.get(leadership.key).string()).toBe('http://10.0.0.1:80');
    await read.release();
    const write = await rw.write();
    expect((await record(coord, write.key)).owner).toBe('rw-owner');
    const held = await coord.withLock('with', async (l: Lock) => record(coord, l.key), { owner: 'with-owner' });
    expect(held.owner).toBe('with-owner');
    await Promise.all([plain.release(), permit.release(), write.release(), leadership.resign()]);
  });

  it('a bad owner throws InvalidArgumentError before anything is written', async () => {
    const coord = await open();
    const bad: unknown[] = ['', 'x'.repeat(257), 'two\nlines', 'tab\there', 42, null];
    for (const owner of bad) {
      const opts = { owner } as { owner: string };
      expect(() => coord.mutex('m', opts), String(owner)).toThrow(/owner/);
      expect(isInvalidArgumentError(catchSync(() => coord.mutex('m', opts)))).toBe(true);
      expect(isInvalidArgumentError(catchSync(() => coord.semaphore('s', 2, opts)))).toBe(true);
      expect(isInvalidArgumentError(catchSync(() => coord.rwlock('r', opts)))).toBe(true);
      expect(isInvalidArgumentError(await rejectionOf(coord.withLock('w', () => 1, opts)))).toBe(true);
      const err = await rejectionOf(connect({ endpoints: sharedEndpoints(), owner: owner as string }));
      expect(isInvalidArgumentError(err), String(err)).toBe(true);
    }
    expect(coord.mutex('m', { owner: 'x'.repeat(256) }).name).toBe('m');
    expect(await coord.kv.getAll().keys()).toEqual([]);
  });
});

function catchSync(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('coord.inspect()', () => {
  it('shows the holder and the waiters in queue order, with owners, since, lease TTLs, at one revision', async () => {
    const a = await open({ ttl: 5, owner: 'a' });
    const b = await open({ ttl: 6, owner: 'b' });
    const c = await open({ ttl: 7, owner: 'c' });
    const held = await a.mutex('jobs/nightly').acquire();
    const waitB = b.mutex('jobs/nightly').acquire();
    await waitFor(async () => (await keysUnder(a, 'jobs/nightly/')).length === 2, 'b queued');
    const waitC = c.mutex('jobs/nightly').acquire();
    for (const w of [waitB, waitC]) w.catch(() => undefined); // awaited below; not unhandled when a check fails first
    await waitFor(async () => (await keysUnder(a, 'jobs/nightly/')).length === 3, 'c queued');

    const before = Date.now();
    const snap = await a.inspect();
    expect(snap.takenAt).toBeInstanceOf(Date);
    expect(snap.takenAt.getTime()).toBeGreaterThanOrEqual(before);
    const q = queueOf(snap, 'jobs/nightly');
    expect(q?.contenders.map((x) => x.owner)).toEqual(['a', 'b', 'c']);
    expect(q?.contenders.map((x) => x.position)).toEqual([0, 1, 2]);
    expect(q?.contenders.map((x) => x.holds)).toEqual([true, false, false]);
    expect(q?.contenders.map((x) => x.kind)).toEqual([undefined, undefined, undefined]);
    const sessions = await Promise.all([a.session(), b.session(), c.session()]);
    expect(q?.contenders.map((x) => x.leaseId)).toEqual(sessions.map((s) => s.leaseId));
    expect(q?.contenders.map((x) => x.key)).toEqual(sessions.map((s) => `${a.namespace}jobs/nightly/${s.leaseId}`));
    expect(q?.contenders[0].token).toBe(held.token);
    const tokens = q?.contenders.map((x) => x.token) ?? [];
    expect([...tokens].sort((x, y) => (x < y ? -1 : 1))).toEqual(tokens);
    expect(snap.revision).toBeGreaterThanOrEqual(tokens[2]);
    for (const [i, x] of (q?.contenders ?? []).entries()) {
      expect(x.host).toBe(hostname());
      expect(x.pid).toBe(process.pid);
      expect(x.since).toBeInstanceOf(Date);
      expect(x.grantedTtlS).toBe(5 + i);
      expect(x.ttlRemainingS).toBeGreaterThanOrEqual(0);
      expect(x.ttlRemainingS).toBeLessThanOrEqual(5 + i);
      expect(JSON.parse(x.value).owner).toBe(x.owner);
    }
    expect(q?.contenders[0].since?.getTime()).toBeLessThanOrEqual(q?.contenders[1].since?.getTime() ?? 0);

    await held.release();
    const second = await waitB;
    const after = queueOf(await a.inspect('jobs/'), 'jobs/nightly');
    expect(after?.contenders.map((x) => [x.owner, x.position])).toEqual([
      ['b', 0],
      ['c', 1],
    ]);
    await second.release();
    await (await waitC).release();
    expect(queueOf(await a.inspect(), 'jobs/nightly')).toBeUndefined();
  });

  it('tells who holds a semaphore (its first `limit`, from the records) and each side of a read-write lock', async () => {
    const a = await open({ owner: 'a' }); // first: the others join its namespace
    const [b, c, d] = await Promise.all(['b', 'c', 'd'].map((owner) => open({ owner })));
    // Semaphore, limit 2: a and b hold, c waits.
    const permits = [await a.semaphore('pool', 2).acquire(), await b.semaphore('pool', 2).acquire()];
    const cWaits = c.semaphore('pool', 2).acquire();
    cWaits.catch(() => undefined);
    await waitFor(async () => (await keysUnder(a, 'pool/')).length === 3, 'c queued');
    // Read-write lock: readers a and b hold; writer c waits for them; reader d waits for the writer.
    const reads = [await a.rwlock('table').read(), await b.rwlock('table').read()];
    const writeWaits = c.rwlock('table').write();
    writeWaits.catch(() => undefined);
    await waitFor(async () => (await keysUnder(a, 'table/write/')).length === 1, 'writer queued');
    const readWaits = d.rwlock('table').read();
    readWaits.catch(() => undefined);
    await waitFor(async () => (await keysUnder(a, 'table/read/')).length === 3, 'reader d queued');

    const snap = await a.inspect();
    const pool = queueOf(snap, 'pool')?.contenders ?? [];
    expect(pool.map((x) => [x.owner, x.holds, x.kind, x.limit])).toEqual([
      ['a', true, 'semaphore', 2],
      ['b', true, 'semaphore', 2],
      ['c', false, 'semaphore', 2],
    ]);
    expect(JSON.parse(pool[0].value)).toEqual({
      owner: 'a',
      host: hostname(),
      pid: process.pid,
      kind: 'semaphore',
      limit: 2,
      since: expect.any(String),
    });
    const readers = queueOf(snap, 'table/read')?.contenders ?? [];
    expect(readers.map((x) => [x.owner, x.holds, x.kind])).toEqual([
      ['a', true, 'read'],
      ['b', true, 'read'],
      ['d', false, 'read'],
    ]);
    expect(queueOf(snap, 'table/write')?.contenders.map((x) => [x.owner, x.holds, x.kind])).toEqual([
      ['c', false, 'write'],
    ]);
    // Inspected without its write side, a read side cannot tell: holds is left out.
    const readOnly = queueOf(await a.inspect('table/read'), 'table/read')?.contenders ?? [];
    expect(readOnly.map((x) => x.holds)).toEqual([undefined, undefined, undefined]);
    expect(queueOf(await a.inspect('table/'), 'table/read')?.contenders.map((x) => x.holds)).toEqual([
      true,
      true,
      false,
    ]);

    // The readers leave: the writer holds, reader d still waits for it.
    await Promise.all(reads.map((r) => r.release()));
    const write = await writeWaits;
    const later = await a.inspect('table/');
    expect(queueOf(later, 'table/write')?.contenders.map((x) => x.holds)).toEqual([true]);
    expect(queueOf(later, 'table/read')?.contenders.map((x) => [x.owner, x.holds])).toEqual([['d', false]]);
    await write.release();
    await (await readWaits).release();
    await Promise.all(permits.map((p) => p.release()));
    await (await cWaits).release();
  });

  it('shows a partition group: its live members and who owns each partition', async () => {
    const a = await open({ owner: 'a' }); // first: the other joins its namespace
    const b = await open({ owner: 'b' });
    const g1 = a.partition('grp', { partitions: 4, member: 'm1' });
    const g2 = b.partition('grp', { partitions: 4, member: 'm2' });
    const sorted = (ps: Iterable<number>) => [...ps].sort((x, y) => x - y);
    const settled = async () => {
      const view = (await a.inspect()).partitions[0];
      if (view?.members.length !== 2 || view.unowned.length !== 0) return false;
      const desired = [sorted(g1.desired()), sorted(g2.desired())];
      return desired.every((d, i) => d.length > 0 && JSON.stringify(view.members[i].owns) === JSON.stringify(d));
    };
    await waitFor(settled, "each member owns its rendezvous share, as the group's own view says", 20_000);

    const snap = await a.inspect();
    expect(snap.queues).toEqual([]); // member and owner keys are not lock contenders
    expect(snap.partitions).toHaveLength(1);
    const view = snap.partitions[0];
    expect(view).toMatchObject({ name: 'grp', partitions: 4, unowned: [] });
    const [sa, sb] = await Promise.all([a.session(), b.session()]);
    expect(view.members.map((m) => [m.member, m.leaseId, m.host, m.pid])).toEqual([
      ['m1', sa.leaseId, hostname(), process.pid],
      ['m2', sb.leaseId, hostname(), process.pid],
    ]);
    expect(view.members.map((m) => m.owns)).toEqual([sorted(g1.owned().keys()), sorted(g2.owned().keys())]);
    expect(view.owners.map((o) => o.partition)).toEqual([0, 1, 2, 3]);
    for (const o of view.owners) {
      const mine = o.member === 'm1' ? g1 : g2;
      expect(o.token).toBe(mine.owned().get(o.partition)?.token);
    }
    expect(view.members[0].since).toBeInstanceOf(Date);

    // One member leaves: the other takes its partitions, and the group shows one member.
    await g2.leave();
    await waitFor(async () => {
      const v = (await a.inspect('grp/')).partitions[0];
      return v?.members.length === 1 && v.members[0].owns.length === 4;
    }, 'm1 owns all four');
    await g1.leave();
    expect((await a.inspect()).partitions).toEqual([]);
  });

  it('lists every kind of queue and every service under the prefix, and nothing that is not one', async () => {
    const coord = await open({ owner: 'me' });
    const other = await open({ owner: 'other' });
    const lock = await coord.mutex('jobs/a').acquire();
    const permits = await Promise.all([coord.semaphore('pool', 2).acquire(), other.semaphore('pool', 2).acquire()]);
    const read = await coord.rwlock('table').read();
    const leader = await coord.election('primary').campaign('node-1');
    const candidate = other.election('primary').campaign('node-2');
    candidate.catch(() => undefined);
    await waitFor(async () => (await keysUnder(coord, 'primary/')).length === 2, 'candidate queued');
    const reg = await coord.registry.register({ service: 'api', id: 'web-1', address: '10.0.0.1', port: 8080 });
    const reg2 = await other.registry.register({ service: 'api', id: 'web-0', address: '10.0.0.2', port: 8080 });
    // Not contenders: application data under a lock's name, a key whose name is not its lease, a foreign service value.
    const session = await coord.session();
    await coord.kv.put('jobs/a/data').value('x');
    await coord.kv.put('group/owners/3').value('').lease(session.leaseIdDecimal).exec();
    await coord.kv.put('services/broken/x').value('not json');

    const snap = await coord.inspect();
    expect(snap.queues.map((q) => q.name)).toEqual(['jobs/a', 'pool', 'primary', 'table/read']);
    expect(snap.partitions).toEqual([]); // an owner key without a member key is no group
    expect(queueOf(snap, 'jobs/a')?.contenders.map((x) => x.token)).toEqual([lock.token]);
    expect(queueOf(snap, 'pool')?.contenders.map((x) => x.owner)).toEqual(
      [...permits]
        .sort((x, y) => (x.token < y.token ? -1 : 1))
        .map((p) => (p.session === permits[0].session ? 'me' : 'other')),
    );
    expect(queueOf(snap, 'table/read')?.contenders[0]).toMatchObject({ key: read.key, owner: 'me' });
    const primary = queueOf(snap, 'primary');
    expect(primary?.contenders.map((x) => x.value)).toEqual(['node-1', 'node-2']);
    expect(primary?.contenders.map((x) => x.owner)).toEqual([undefined, undefined]);
    expect(primary?.contenders[0]).toMatchObject({ key: leader.key, token: leader.token, grantedTtlS: 5 });
    expect(snap.services).toEqual([
      {
        service: 'api',
        instances: [reg2.instance, reg.instance].map((i) =>
          expect.objectContaining({ ...i, revision: expect.any(BigInt) }),
        ),
      },
    ]);
    const all = [
      ...snap.queues.flatMap((q) => q.contenders.map((x) => x.token)),
      ...snap.services.flatMap((s) => s.instances.map((i) => i.revision)),
    ];
    for (const r of all) expect(r).toBeLessThanOrEqual(snap.revision);

    const jobs = await coord.inspect('jobs/');
    expect(jobs.queues.map((q) => q.name)).toEqual(['jobs/a']);
    expect(jobs.services).toEqual([]);
    expect((await coord.inspect('services/')).services.map((s) => s.service)).toEqual(['api']);
    expect(await coord.inspect('nothing-here/')).toMatchObject({ queues: [], services: [] });

    await leader.resign();
    await (await candidate).resign();
    await Promise.all([
      lock.release(),
      ...permits.map((p) => p.release()),
      read.release(),
      reg.deregister(),
      reg2.deregister(),
    ]);
  });

  it('shows an empty (Go, etcdctl) or foreign value as an unknown owner, never an error', async () => {
    const coord = await open();
    const lease = await coord.client.lease(120, { autoKeepAlive: false }).grant();
    const hex = BigInt(lease).toString(16);
    await coord.client.put(`${coord.namespace}legacy/${hex}`).value('').lease(lease).exec();
    await coord.client.put(`${coord.namespace}foreign/${hex}`).value('{"not":"a record"').lease(lease).exec();
    await coord.client.put(`${coord.namespace}array/${hex}`).value('[1,2]').lease(lease).exec();
    const snap = await coord.inspect();
    for (const name of ['legacy', 'foreign', 'array']) {
      const [x] = queueOf(snap, name)?.contenders ?? [];
      expect(x, name).toMatchObject({ leaseId: hex, position: 0, grantedTtlS: 120 });
      expect(x.owner).toBeUndefined();
      expect(x.since).toBeUndefined();
      expect(x.pid).toBeUndefined();
    }
    expect(queueOf(snap, 'legacy')?.contenders[0].value).toBe('');
    await coord.client.leaseClient.leaseRevoke({ ID: lease });
  });

  it('etcdctl lock holds (unknown owner, empty value); our waiter queues behind it with its owner record', async () => {
    const etcdctl = findEtcdctl();
    expect(etcdctl, 'etcdctl is on PATH').toBeTruthy();
    const coord = await open({ owner: 'ours' });
    let out = '';
    const proc = spawn(
      etcdctl as string,
      [`--endpoints=${sharedEndpoints().join(',')}`, 'lock', '--ttl=5', `${coord.namespace}ctl`],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    procs.push(proc);
    proc.stdout?.on('data', (d) => {
      out += d;
    });
    const key = await waitFor(() => out.trim(), 'etcdctl printed the key it holds');
    const waiting = coord.mutex('ctl').acquire({ timeoutMs: 20_000 });
    waiting.catch(() => undefined);
    await waitFor(async () => (await keysUnder(coord, 'ctl/')).length === 2, 'our waiter queued');
    const q = queueOf(await coord.inspect('ctl'), 'ctl');
    expect(q?.contenders.map((x) => [x.key, x.owner, x.value === '' ? 'empty' : 'record'])).toEqual([
      [key, undefined, 'empty'],
      [`${coord.namespace}ctl/${(await coord.session()).leaseId}`, 'ours', 'record'],
    ]);
    expect(q?.contenders[0].grantedTtlS).toBe(5);
    proc.kill('SIGINT');
    const lock = await waiting;
    expect(await lock.isHeld()).toBe(true);
    await lock.release();
  });

  it('rejects a bad prefix with InvalidArgumentError before reading', async () => {
    const coord = await open();
    for (const prefix of ['/jobs', 'a b', 'x\ny', 'é', 'a'.repeat(513), 5, null]) {
      const err = await rejectionOf(coord.inspect(prefix as string));
      expect(isInvalidArgumentError(err), String(prefix)).toBe(true);
    }
  });
});
