import { describe, expect, it } from 'vitest';
import {
  type Coordinator,
  isInvalidArgumentError,
  isLockLostError,
  isLockTimeoutError,
  isSessionLostError,
  MAX_MULTI_LOCK_NAMES,
} from '../src/index.js';
import { coordinatorsPerTest, failOnUnhandledRejections, keysUnder, Occupancy, work } from './fixtures/lock-util.js';
import { rejectionOf, waitFor } from './harness/index.js';

failOnUnhandledRejections();

const open = coordinatorsPerTest();

/** Every key in the coordinator's namespace. */
async function allKeys(coord: Coordinator): Promise<string[]> {
  return keysUnder(coord, '');
}

describe('coord.multiLock()', () => {
  it('holds every lock, in queue-prefix order, fences with txn() and releases all idempotently', async () => {
    const coord = await open();
    const session = await coord.session();
    const multi = await coord.multiLock(['b', 'a-b', 'a', 'a/b']);
    // '-' (0x2d) < '/' (0x2f): 'a-b/' sorts before 'a/', and 'a/' before 'a/b/'.
    expect(multi.names).toEqual(['a-b', 'a', 'a/b', 'b']);
    expect(multi.locks.map((l) => l.name)).toEqual(['a-b', 'a', 'a/b', 'b']);
    expect(multi.session).toBe(session);
    for (const lock of multi.locks) {
      expect(lock.session).toBe(session);
      expect(await lock.isHeld()).toBe(true);
    }
    const put = await multi.txn().then(coord.kv.put('data').value('v1')).commit();
    expect(put.succeeded).toBe(true);

    await multi.release();
    await multi.release();
    expect(isLockLostError(multi.signal.reason)).toBe(true);
    for (const lock of multi.locks) expect(lock.signal.aborted).toBe(true);
    expect(await allKeys(coord)).toEqual(['data']);
    const stale = await multi.txn().then(coord.kv.put('data').value('v2')).commit();
    expect(stale.succeeded).toBe(false);
    expect(await coord.kv.get('data').string()).toBe('v1');

    const again = await coord.multiLock(['a']);
    await again[Symbol.asyncDispose]();
    expect(again.signal.aborted).toBe(true);
    expect(await allKeys(coord)).toEqual(['data']);
  });

  it('two coordinators taking overlapping names in opposite order, 10 rounds each, concurrently: no deadlock, mutual exclusion via txn()', async () => {
    const a = await open();
    const b = await open();
    const names = ['acct/1', 'acct/2', 'acct/3'];
    await a.kv.put('counter').value('0');
    const occ = new Occupancy();
    let done = 0;
    const worker = async (coord: Coordinator, order: string[], rounds: number) => {
      for (let i = 0; i < rounds; i++) {
        // No timeout: a deadlock would hang here and fail the test by its own timeout.
        const multi = await coord.multiLock(order);
        occ.enter();
        const n = Number(await coord.kv.get('counter').string());
        await work(2);
        const res = await multi
          .txn()
          .then(coord.kv.put('counter').value(String(n + 1)))
          .commit();
        expect(res.succeeded).toBe(true);
        occ.exit();
        await multi.release();
        done++;
      }
    };
    await Promise.all([
      worker(a, names, 10),
      worker(b, [...names].reverse(), 10),
      worker(a, ['acct/3', 'acct/1'], 10), // overlaps both; the same session as the first worker
      worker(b, ['acct/2', 'acct/3'], 10),
    ]);
    expect(done).toBe(40);
    expect(occ.max).toBe(1); // every pair of these name sets overlaps
    expect(await a.kv.get('counter').string()).toBe('40');
    expect(await allKeys(a)).toEqual(['counter']);
  }, 60_000);

  it('a timeout while acquiring (one deadline for all) releases what was taken and leaves no key', async () => {
    const a = await open();
    const b = await open();
    const held = await a.mutex('m2').acquire();
    const err = await rejectionOf(b.multiLock(['m1', 'm2', 'm3'], { timeoutMs: 300 }));
    expect(isLockTimeoutError(err)).toBe(true);
    expect(await allKeys(a)).toEqual([held.key.slice(a.namespace.length)]);
    await held.release();
    const after = await b.multiLock(['m1', 'm2', 'm3'], { timeoutMs: 10_000 });
    await after.release();
    expect(await allKeys(a)).toEqual([]);
  });

  it('an abort while acquiring rejects with signal.reason and leaves no key', async () => {
    const a = await open();
    const b = await open();
    const held = await a.mutex('y').acquire();
    const ac = new AbortController();
    const pending = rejectionOf(b.multiLock(['z', 'x', 'y'], { signal: ac.signal }));
    // x is taken, then b waits behind a on y (z is not reached).
    await waitFor(async () => (await keysUnder(a, 'y/')).length === 2, 'b waiting on y');
    expect(await keysUnder(a, 'x/')).toHaveLength(1);
    const reason = new Error('shutting down');
    ac.abort(reason);
    expect(await pending).toBe(reason);
    expect(await allKeys(a)).toEqual([held.key.slice(a.namespace.length)]);
    // An already aborted signal: rejected before anything is written.
    expect(await rejectionOf(b.multiLock(['q'], { signal: ac.signal }))).toBe(reason);
    expect(await keysUnder(a, 'q/')).toEqual([]);
    await held.release();
  });

  it('losing a lock already taken while acquiring the next rejects with that reason and leaves no key', async () => {
    const a = await open();
    const b = await open();
    const held = await a.mutex('l2').acquire();
    const pending = rejectionOf(b.multiLock(['l1', 'l2']));
    await waitFor(async () => (await keysUnder(a, 'l2/')).length === 2, 'b waiting on l2');
    const [taken] = await keysUnder(a, 'l1/');
    await a.client.delete().key(`${a.namespace}${taken}`); // an operator deletes b's l1 key
    expect(isLockLostError(await pending)).toBe(true);
    expect(await allKeys(a)).toEqual([held.key.slice(a.namespace.length)]);
    await held.release();
  });

  it('losing one held lock aborts the multi-lock signal and gives the others back', async () => {
    const coord = await open();
    const multi = await coord.multiLock(['p', 'q', 'r']);
    const q = multi.locks[1];
    await coord.client.delete().key(q.key);
    await waitFor(() => multi.signal.aborted, 'multi-lock signal aborted');
    expect(isLockLostError(multi.signal.reason)).toBe(true);
    expect(multi.signal.reason).toBe(q.signal.reason);
    await waitFor(async () => (await allKeys(coord)).length === 0, 'the other locks released');
    const res = await multi.txn().then(coord.kv.put('w').value('late')).commit();
    expect(res.succeeded).toBe(false);
    await multi.release(); // still safe
  });

  it('a lost session aborts the multi-lock with SessionLostError', async () => {
    const coord = await open();
    const session = await coord.newSession();
    const multi = await coord.multiLock(['s1', 's2'], { session });
    expect(multi.session).toBe(session);
    await session.close();
    expect(multi.signal.aborted).toBe(true);
    expect(isSessionLostError(multi.signal.reason)).toBe(true);
    expect(await allKeys(coord)).toEqual([]);
    expect(isSessionLostError(await rejectionOf(coord.multiLock(['s1'], { session })))).toBe(true);
  });

  it('bad input rejects with InvalidArgumentError before anything is written', async () => {
    const coord = await open();
    const bad: Array<[unknown, unknown]> = [
      [[], undefined],
      [['a', 'b', 'a'], undefined],
      [['ok', 'bad//name'], undefined],
      [['/lead'], undefined],
      [[''], undefined],
      [[42], undefined],
      ['a', undefined],
      [undefined, undefined],
      [Array.from({ length: MAX_MULTI_LOCK_NAMES + 1 }, (_, i) => `n${i}`), undefined],
      [['a'], { timeoutMs: -1 }],
      [['a'], { timeoutMs: Number.NaN }],
      [['a'], { session: {} }],
      [['a'], { owner: 'bad\nowner' }],
      [['a'], { signal: 'nope' }],
    ];
    for (const [names, options] of bad) {
      const p = coord.multiLock(names as never, options as never); // never throws synchronously
      const err = await rejectionOf(p);
      expect(isInvalidArgumentError(err), `${String(names)} ${JSON.stringify(options)}: ${err}`).toBe(true);
    }
    expect(await allKeys(coord)).toEqual([]);
    expect(coord.diagnostics().sessions).toBe(0); // not even a session was granted
  });
});
