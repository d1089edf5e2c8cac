/**
 * Barriers against a real etcd: a barrier holds waiters back until it is released or its
 * holder's lease ends; a double barrier lets `count` members enter together and leave
 * together; aborts, session loss and close() leave no key behind; bad input throws
 * synchronously and writes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Coordinator,
  type DoubleBarrier,
  isClosedError,
  isConflictError,
  isInvalidArgumentError,
  isSessionLostError,
} from '../src/index.js';
import { failOnUnhandledRejections } from './fixtures/lock-util.js';
import {
  connectShared,
  killAllChildren,
  rejectionOf,
  sharedEndpoints,
  spawnChild,
  uniqueNamespace,
  waitFor,
} from './harness/index.js';

failOnUnhandledRejections();

const namespace = uniqueNamespace('barrier');
let a: Coordinator;
let b: Coordinator;
let c: Coordinator;

beforeAll(async () => {
  [a, b, c] = await Promise.all([1, 2, 3].map(() => connectShared({ namespace, ttl: 5 })));
});
afterAll(async () => {
  await Promise.allSettled([a, b, c].map((x) => x?.close()));
});

/** Every key under the test's namespace (relative to it). */
async function keys(prefix = ''): Promise<string[]> {
  return a.kv.getAll().prefix(prefix).sort('Create', 'Ascend').keys();
}

/** Tracks whether a promise has settled, without awaiting it. */
function track<T>(p: Promise<T>): { p: Promise<T>; settled: () => boolean } {
  let settled = false;
  p.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  return { p, settled: () => settled };
}

/** Waits until `coord` has at least `n` watchers open (its waits are registered). */
function watching(coord: Coordinator, n: number): Promise<boolean> {
  return waitFor(() => coord.diagnostics().watch.watchers >= n, `${n} watchers`);
}

describe('barrier', () => {
  it('hold -> waiters block; release -> every waiter resolves; no key left', async () => {
    const gate = a.barrier('gate');
    expect(await keys()).toEqual([]);
    await b.barrier('gate').wait(); // not held: resolves at once
    await gate.hold();
    await gate.hold(); // held by this object already: resolves
    expect(gate.isHeld).toBe(true);
    expect(await keys()).toEqual(['gate']);
    const before = [b, c].map((x) => x.diagnostics().watch.watchers);
    const waiters = [track(b.barrier('gate').wait()), track(c.barrier('gate').wait()), track(b.barrier('gate').wait())];
    await watching(b, before[0] + 2);
    await watching(c, before[1] + 1);
    expect(waiters.map((w) => w.settled())).toEqual([false, false, false]);
    // Someone else cannot hold it meanwhile.
    expect(isConflictError(await rejectionOf(c.barrier('gate').hold()))).toBe(true);
    await gate.release();
    await Promise.all(waiters.map((w) => w.p));
    expect(gate.isHeld).toBe(false);
    await gate.release(); // twice: nothing to do
    expect(await keys()).toEqual([]);
  });

  it("a crashed holder's barrier goes with its lease: orphaned session (expiry) and revoked lease", async () => {
    for (const end of ['orphan', 'revoke'] as const) {
      const session = await a.newSession({ ttl: 2 });
      const gate = a.barrier(`crash-${end}`, { session });
      await gate.hold();
      expect(await keys(`crash-${end}`)).toEqual([`crash-${end}`]);
      const before = c.diagnostics().watch.watchers;
      const waiter = track(c.barrier(`crash-${end}`).wait());
      await watching(c, before + 1);
      expect(waiter.settled()).toBe(false);
      if (end === 'orphan') session.orphan();
      else await session.close();
      await waiter.p;
      expect(await keys(`crash-${end}`)).toEqual([]);
      await gate.release(); // the session is gone: resolves, nothing to do
    }
  });

  it('an aborted wait rejects with the reason and writes nothing; close() ends a wait', async () => {
    const gate = a.barrier('aborted');
    await gate.hold();
    const ac = new AbortController();
    const waiter = track(b.barrier('aborted').wait({ signal: ac.signal }));
    const reason = new Error('stop waiting');
    ac.abort(reason);
    expect(await rejectionOf(waiter.p)).toBe(reason);
    const other = await connectShared({ namespace, ttl: 5 });
    const before = other.diagnostics().watch.watchers;
    const closing = other.barrier('aborted').wait();
    await watching(other, before + 1);
    await other.close();
    expect(isClosedError(await rejectionOf(closing))).toBe(true);
    {
      await using held = a.barrier('disposed');
      await held.hold();
      expect(await keys('disposed')).toEqual(['disposed']);
    }
    await gate.release();
    expect(await keys()).toEqual([]);
  });
});

describe('double barrier', () => {
  it('count 3 across 3 coordinators: enter together, leave together, no key left', async () => {
    const members = [a, b, c].map((x) => x.doubleBarrier('round', 3));
    const entering = [track(members[0].enter()), track(members[1].enter())];
    await waitFor(async () => (await keys('round/waiters/')).length === 2, 'two members waiting');
    await watching(a, 1);
    expect(entering.map((e) => e.settled())).toEqual([false, false]);
    // coord.inspect() lists the members (queue `<name>/waiters`) with their owners.
    const snap = await a.inspect('round/');
    const waitersQueue = snap.queues.find((q) => q.name === 'round/waiters');
    expect(waitersQueue?.contenders.map((m) => m.owner)).toEqual([a.owner, b.owner]);
    await members[2].enter();
    await Promise.all(entering.map((e) => e.p));
    expect(members.map((m) => m.entered)).toEqual([true, true, true]);
    expect(await keys('round/')).toHaveLength(4); // 3 members and ready

    const leaving = [track(members[0].leave()), track(members[2].leave())];
    await waitFor(async () => (await keys('round/waiters/')).length === 1, 'two members left');
    expect(leaving.map((l) => l.settled())).toEqual([false, false]);
    await members[1].leave();
    await Promise.all(leaving.map((l) => l.p));
    expect(await keys()).toEqual([]);
  });

  it('count 1: enter and leave at once, twice over with one object', async () => {
    const solo = b.doubleBarrier('solo', 1);
    for (let i = 0; i < 2; i++) {
      await solo.enter();
      expect(await keys('solo/')).toHaveLength(2); // my key and ready
      await solo.leave();
      expect(await keys()).toEqual([]);
    }
  });

  it('a member that arrives during a round enters the next one', async () => {
    const sessions = await Promise.all([1, 2, 3, 4].map(() => a.newSession()));
    const [m1, m2, late, m4] = sessions.map((session) => a.doubleBarrier('next', 2, { session }));
    await Promise.all([m1.enter(), m2.enter()]);
    const before = a.diagnostics().watch.watchers;
    const lateEnter = track(late.enter());
    await watching(a, before + 1); // waiting for the round to end
    const leaving = m1.leave(); // resolves once m2 left too
    await m2.leave();
    await leaving;
    expect(lateEnter.settled()).toBe(false);
    await m4.enter();
    await lateEnter.p;
    await Promise.all([late.leave(), m4.leave()]);
    expect(await keys()).toEqual([]);
    await Promise.all(sessions.map((s) => s.close()));
  });

  it('a member that crashes before leaving counts as left once its lease ends; a stale ready is cleaned up', async () => {
    const session = await b.newSession({ ttl: 2 });
    const [stays, crashes] = [a.doubleBarrier('crash', 2), b.doubleBarrier('crash', 2, { session })];
    await Promise.all([stays.enter(), crashes.enter()]);
    const leaving = track(stays.leave());
    await waitFor(async () => (await keys('crash/waiters/')).length === 1, 'one member left');
    expect(leaving.settled()).toBe(false);
    session.orphan(); // the crashed member's key expires with its lease
    await leaving.p;
    expect(await keys()).toEqual([]); // ready deleted by the member that saw the round end

    // A `ready` whose round is gone (its last member died while leaving) does not block the next round.
    await a.kv.put('stale/ready').value('');
    const pair = [a.doubleBarrier('stale', 2), c.doubleBarrier('stale', 2)];
    await Promise.all(pair.map((m) => m.enter()));
    await Promise.all(pair.map((m) => m.leave()));
    expect(await keys()).toEqual([]);
  });

  it('aborted enter and leave reject with the reason and leave no key', async () => {
    // enter
    const ac = new AbortController();
    const lonely = a.doubleBarrier('abort-enter', 2);
    const entering = track(lonely.enter({ signal: ac.signal }));
    await waitFor(async () => (await keys('abort-enter/')).length === 1, 'my key written');
    const reason = new Error('give up entering');
    ac.abort(reason);
    expect(await rejectionOf(entering.p)).toBe(reason);
    expect(lonely.entered).toBe(false);
    expect(await keys()).toEqual([]);

    // leave
    const [x, y] = [a, b].map((co) => co.doubleBarrier('abort-leave', 2));
    await Promise.all([x.enter(), y.enter()]);
    const leaveAc = new AbortController();
    const leaving = track(x.leave({ signal: leaveAc.signal }));
    await waitFor(async () => (await keys('abort-leave/waiters/')).length === 1, 'x left');
    const leaveReason = new Error('give up leaving');
    leaveAc.abort(leaveReason);
    expect(await rejectionOf(leaving.p)).toBe(leaveReason);
    await y.leave(); // the last member deletes ready
    expect(await keys()).toEqual([]);
  });

  it('session loss while entering rejects with SessionLostError; dispose and close() leave no key', async () => {
    const session = await a.newSession({ ttl: 2 });
    const member = a.doubleBarrier('lost', 2, { session });
    const entering = track(member.enter());
    await waitFor(async () => (await keys('lost/')).length === 1, 'my key written');
    await session.close();
    expect(isSessionLostError(await rejectionOf(entering.p))).toBe(true);
    expect(await keys()).toEqual([]);

    let disposed: DoubleBarrier;
    {
      await using m = b.doubleBarrier('disposed', 2);
      disposed = m;
      const pending = track(m.enter());
      pending.p.catch(() => {});
      await waitFor(async () => (await keys('disposed/')).length === 1, 'my key written');
    }
    expect(disposed.entered).toBe(false);
    expect(await keys()).toEqual([]);

    const other = await connectShared({ namespace, ttl: 5 });
    const closing = track(other.doubleBarrier('closing', 2).enter());
    await waitFor(async () => (await keys('closing/')).length === 1, 'my key written');
    await other.close();
    expect(isClosedError(await rejectionOf(closing.p))).toBe(true);
    expect(await keys()).toEqual([]);
  });

  it('one member per session; leave() before enter() is refused', async () => {
    const session = await a.newSession();
    const first = a.doubleBarrier('one', 2, { session });
    const entering = track(first.enter());
    await waitFor(async () => (await keys('one/')).length === 1, 'first key written');
    const twice = await rejectionOf(a.doubleBarrier('one', 2, { session }).enter());
    expect(isInvalidArgumentError(twice)).toBe(true);
    expect(twice.message).toMatch(/already has a member/);
    await expect(a.doubleBarrier('one', 2).leave()).rejects.toThrow(/leave\(\) before enter\(\)/);
    await session.close();
    expect(isSessionLostError(await rejectionOf(entering.p))).toBe(true);
    expect(await keys()).toEqual([]);
  });
});

describe('bad input', () => {
  it('bad names, counts and sessions throw InvalidArgumentError synchronously and write nothing', async () => {
    const invalid = (fn: () => unknown, expected: RegExp) => {
      let error: unknown;
      try {
        fn();
      } catch (err) {
        error = err;
      }
      expect(isInvalidArgumentError(error), String(error)).toBe(true);
      expect((error as Error).message).toMatch(expected);
    };
    for (const name of ['', '/x', 'x/', 'a//b', 'sp ace', 5 as unknown as string, undefined as unknown as string]) {
      invalid(() => a.barrier(name), /barrier name/);
      invalid(() => a.doubleBarrier(name, 2), /double barrier name/);
    }
    for (const count of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '3' as unknown as number, 10_001]) {
      invalid(() => a.doubleBarrier('x', count), /count must be a whole number from 1 to 10000/);
    }
    const notSession = { session: {} } as unknown as Parameters<Coordinator['barrier']>[1];
    invalid(() => a.barrier('x', notSession), /options\.session must be a Session/);
    invalid(() => a.doubleBarrier('x', 2, notSession), /options\.session must be a Session/);
    invalid(() => a.barrier('x', 'nope' as unknown as Parameters<Coordinator['barrier']>[1]), /options must be/);
    const badSignal = { signal: 'soon' } as unknown as AbortSignal;
    expect(isInvalidArgumentError(await rejectionOf(a.barrier('x').wait({ signal: badSignal })))).toBe(true);
    expect(isInvalidArgumentError(await rejectionOf(a.doubleBarrier('x', 2).enter(badSignal as never)))).toBe(true);
    expect(await keys()).toEqual([]);
  });
});

describe('across processes', () => {
  const env = () => ({ BARRIER_NS: namespace, ETCD_ENDPOINTS: sharedEndpoints().join(','), TTL: '2' });
  afterAll(() => killAllChildren());

  it('count 3 in 3 processes: enter together, leave together', async () => {
    const children = [1, 2, 3].map(() => spawnChild('test/fixtures/barrier-member.ts', env()));
    await Promise.all(children.map((ch) => ch.next('ready')));
    for (const ch of children.slice(0, 2)) ch.send({ type: 'enter', name: 'procs', count: 3 });
    await waitFor(async () => (await keys('procs/waiters/')).length === 2, 'two members waiting');
    expect(children.flatMap((ch) => ch.messages.map((m) => m.type))).toEqual([]); // nobody entered yet
    children[2].send({ type: 'enter', name: 'procs', count: 3 });
    await Promise.all(children.map((ch) => ch.next('entered')));
    for (const ch of children.slice(0, 2)) ch.send({ type: 'leave' });
    await waitFor(async () => (await keys('procs/waiters/')).length === 1, 'two members left');
    expect(children.flatMap((ch) => ch.messages.map((m) => m.type))).toEqual([]);
    children[2].send({ type: 'leave' });
    await Promise.all(children.map((ch) => ch.next('left')));
    expect(await keys()).toEqual([]);
    for (const ch of children) ch.send({ type: 'exit' });
    await Promise.all(children.map((ch) => ch.exited));
  });

  it("SIGKILL: a killed holder's barrier lets waiters go; a killed member counts as left", async () => {
    const holder = spawnChild('test/fixtures/barrier-member.ts', env());
    await holder.next('ready');
    holder.send({ type: 'hold', name: 'killed' });
    await holder.next('held');
    const before = c.diagnostics().watch.watchers;
    const waiter = track(c.barrier('killed').wait());
    await watching(c, before + 1);
    expect(waiter.settled()).toBe(false);
    await holder.kill();
    await waiter.p; // the key went with the lease, a TTL later
    expect(await keys('killed')).toEqual([]);

    const member = spawnChild('test/fixtures/barrier-member.ts', env());
    await member.next('ready');
    const stays = a.doubleBarrier('killed-member', 2);
    member.send({ type: 'enter', name: 'killed-member', count: 2 });
    await Promise.all([stays.enter(), member.next('entered')]);
    const leaving = track(stays.leave());
    await waitFor(async () => (await keys('killed-member/waiters/')).length === 1, 'one member left');
    expect(leaving.settled()).toBe(false);
    await member.kill();
    await leaving.p;
    expect(await keys()).toEqual([]);
  });
});
