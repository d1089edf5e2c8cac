import { describe, expect, it } from 'vitest';
import {
  isInvalidArgumentError,
  isLockLostError,
  isLockTimeoutError,
  isSessionLostError,
  type Lock,
} from '../src/index.js';
import { coordinatorsPerTest, failOnUnhandledRejections, keysUnder, Occupancy, work } from './fixtures/lock-util.js';
import { waitFor } from './harness/index.js';

failOnUnhandledRejections();

const open = coordinatorsPerTest();

describe('Mutex', () => {
  it('acquires uncontended, fences with txn(), reports the holder, and releases idempotently', async () => {
    const coord = await open();
    const session = await coord.session();
    const mutex = coord.mutex('jobs/nightly');
    expect(await mutex.holder()).toBeUndefined();
    const lock = await mutex.acquire();
    expect(lock.name).toBe('jobs/nightly');
    expect(lock.key).toBe(`${coord.namespace}jobs/nightly/${session.leaseId}`);
    expect(lock.session).toBe(session);
    expect(typeof lock.token).toBe('bigint');
    expect(await lock.isHeld()).toBe(true);
    expect(await mutex.holder()).toEqual({ key: lock.key, token: lock.token, leaseId: session.leaseId });

    const put = await lock.txn().then(coord.kv.put('data').value('v1')).commit();
    expect(put.succeeded).toBe(true);
    expect(await coord.kv.get('data').string()).toBe('v1');

    await lock.release();
    await lock.release();
    expect(lock.signal.aborted).toBe(true);
    expect(isLockLostError(lock.signal.reason)).toBe(true);
    expect(await lock.isHeld()).toBe(false);
    expect(await keysUnder(coord, 'jobs/nightly/')).toEqual([]);
    const stale = await lock.txn().then(coord.kv.put('data').value('v2')).commit();
    expect(stale.succeeded).toBe(false);
    expect(await coord.kv.get('data').string()).toBe('v1');

    expect(lock.signal).toBe(lock.signal); // first read after the release: made aborted, then the same one

    const again = await mutex.acquire();
    expect(again.token).toBeGreaterThan(lock.token);
    const heard = new Promise((resolve) => again.signal.addEventListener('abort', () => resolve(again.signal.reason)));
    expect(again.signal.aborted).toBe(false);
    await again[Symbol.asyncDispose]();
    expect(isLockLostError(await heard)).toBe(true);
    expect(await mutex.holder()).toBeUndefined();
  });

  it('tryAcquire() never waits and leaves no key behind when the lock is taken', async () => {
    const a = await open();
    const b = await open();
    const held = await a.mutex('m').acquire();
    expect(await b.mutex('m').tryAcquire()).toBeUndefined();
    // Same session, same process: the local line is busy, so no key is even written.
    expect(await a.mutex('m').tryAcquire()).toBeUndefined();
    expect(await keysUnder(a, 'm/')).toEqual([held.key.slice(a.namespace.length)]);
    await held.release();
    const got = await b.mutex('m').tryAcquire();
    expect(got).toBeDefined();
    await got?.release();
  });

  it('10 concurrent acquire() calls on one session never overlap, and each gets a larger token', async () => {
    const coord = await open();
    const mutex = coord.mutex('shared');
    const occ = new Occupancy();
    const tokens: bigint[] = [];
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const lock = await mutex.acquire();
        occ.enter();
        tokens.push(lock.token);
        await work(5);
        occ.exit();
        await lock.release();
      }),
    );
    expect(occ.max).toBe(1);
    expect(tokens).toHaveLength(10);
    expect([...tokens].sort((x, y) => (x < y ? -1 : 1))).toEqual(tokens);
    expect(new Set(tokens).size).toBe(10);
    expect(await keysUnder(coord, 'shared/')).toEqual([]);
  });

  it('is FIFO: waiters get the lock in the order they queued', async () => {
    const holder = await open();
    const first = await holder.mutex('fifo').acquire();
    const order: number[] = [];
    const waiters: Promise<void>[] = [];
    const others = await Promise.all(Array.from({ length: 5 }, () => open()));
    for (const [i, c] of others.entries()) {
      waiters.push(
        c
          .mutex('fifo')
          .acquire()
          .then(async (lock) => {
            order.push(i);
            await lock.release();
          }),
      );
      await waitFor(async () => (await keysUnder(holder, 'fifo/')).length === i + 2, `waiter ${i} queued`);
    }
    await first.release();
    await Promise.all(waiters);
    expect(order).toEqual([0, 1, 2, 3, 4]);
  });

  it('an aborted or timed-out wait rejects with the reason and leaves no key', async () => {
    const a = await open();
    const b = await open();
    const held = await a.mutex('wait').acquire();
    const ac = new AbortController();
    const waiting = b.mutex('wait').acquire({ signal: ac.signal });
    await waitFor(async () => (await keysUnder(a, 'wait/')).length === 2, 'the waiter queued');
    const reason = new Error('changed my mind');
    ac.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(await keysUnder(a, 'wait/')).toHaveLength(1);

    const err = await b
      .mutex('wait')
      .acquire({ timeoutMs: 300 })
      .catch((e) => e);
    expect(isLockTimeoutError(err)).toBe(true);
    expect(await keysUnder(a, 'wait/')).toHaveLength(1);

    const pre = new AbortController();
    pre.abort(reason);
    await expect(b.mutex('wait').acquire({ signal: pre.signal })).rejects.toBe(reason);
    expect(await keysUnder(a, 'wait/')).toHaveLength(1);
    expect(await held.isHeld()).toBe(true);
    await held.release();
  });

  it("aborts lock.signal when someone else deletes the holder's key, and the next waiter proceeds", async () => {
    const a = await open();
    const b = await open();
    const lock = await a.mutex('stolen').acquire();
    const next = b.mutex('stolen').acquire();
    await waitFor(async () => (await keysUnder(a, 'stolen/')).length === 2, 'the waiter queued');
    await a.client.delete().key(lock.key).exec();
    await waitFor(() => lock.signal.aborted, 'lock.signal aborted');
    expect(isLockLostError(lock.signal.reason)).toBe(true);
    expect(await lock.isHeld()).toBe(false);
    const got = await next;
    expect(got.token).toBeGreaterThan(lock.token);
    await lock.release(); // harmless after loss
    expect(await got.isHeld()).toBe(true);
    await got.release();
  });

  it('a key held again soon shares its guard watch across holds: an old release never ends a new hold, a later delete does', async () => {
    const a = await open();
    const mutex = a.mutex('again');
    const first = await mutex.acquire();
    await first.release();
    // Held once so far: its watch closed with the hold (a queue of one-off holders pays no extra event).
    expect(a.diagnostics().watch.watchers).toBe(0);
    const second = await mutex.acquire(); // held again within 3 s: the key is hot, its watch now outlives holds
    const before = a.diagnostics().watch.eventsReceived;
    await second.release();
    const third = await mutex.acquire();
    expect(third.key).toBe(second.key);
    // The watch outlived the second hold, so it receives the second release's delete (puts are filtered out)...
    await waitFor(() => a.diagnostics().watch.eventsReceived === before + 1, "the second release's delete event");
    // ...which is older than the third hold's token, so the third hold stands.
    expect(third.signal.aborted).toBe(false);
    expect(await third.isHeld()).toBe(true);
    expect(a.diagnostics().watch.watchers).toBe(1);
    await a.client.delete().key(third.key).exec();
    await waitFor(() => third.signal.aborted, 'the third hold is lost on the delete');
    expect(isLockLostError(third.signal.reason)).toBe(true);
    await third.release();
    // No hold left: the watch closes after its linger (3 s).
    await waitFor(() => a.diagnostics().watch.watchers === 0, 'the guard watch closed', 10_000);
  });

  it('a waiter whose key is deleted rejects with SessionLostError and leaves no key: one ahead, two ahead, or deleted together with the holder', async () => {
    const a = await open();
    const b = await open();
    const c = await open();
    const holder = await a.mutex('gone').acquire();
    const waiterKey = async (n: number) => {
      const keys = await waitFor(async () => {
        const k = await keysUnder(a, 'gone/');
        return k.length === n ? k : undefined;
      }, `${n} keys queued`);
      return keys.find((k) => !k.endsWith(holder.key.slice(holder.key.lastIndexOf('/'))));
    };
    // One ahead: the waiter watches the holder's key and its own in one watch.
    const one = b.mutex('gone').acquire();
    const bKey = await waiterKey(2);
    await a.client.delete().key(`${a.namespace}${bKey}`).exec();
    await expect(one).rejects.toSatisfy(isSessionLostError);
    expect(holder.signal.aborted).toBe(false);
    // Two ahead: the usual wait, with a read after it.
    const second = b.mutex('gone').acquire();
    await waiterKey(2);
    const third = c.mutex('gone').acquire();
    const keys = await waitFor(async () => {
      const k = await keysUnder(a, 'gone/');
      return k.length === 3 ? k : undefined;
    }, 'three keys queued');
    void third.catch(() => undefined); // asserted below
    const cSuffix = (await c.session()).leaseId;
    await a.client
      .delete()
      .key(`${a.namespace}${keys.find((k) => k.endsWith(`/${cSuffix}`))}`)
      .exec();
    // It watches only its predecessor, so it learns of its own key's loss from the guarded read after that goes.
    await holder.release();
    const got = await second;
    await got.release();
    await expect(third).rejects.toSatisfy(isSessionLostError);
    const back = await b.mutex('gone').acquire();
    // The holder's key and the waiter's deleted in one transaction: the waiter must not take the turn.
    const last = c.mutex('gone').acquire();
    await waiterKey(2);
    await a.client.delete().prefix(`${a.namespace}gone/`).exec();
    await expect(last).rejects.toSatisfy(isSessionLostError);
    await waitFor(() => back.signal.aborted, 'the holder lost its deleted key');
    expect(await keysUnder(a, 'gone/')).toEqual([]);
  });

  it('aborts lock.signal with SessionLostError when its session closes', async () => {
    const coord = await open();
    const session = await coord.newSession({ ttl: 5 });
    const lock = await coord.mutex('s', { session }).acquire();
    await session.close();
    expect(lock.signal.aborted).toBe(true);
    expect(isSessionLostError(lock.signal.reason)).toBe(true);
    expect(await lock.isHeld()).toBe(false);
    await expect(coord.mutex('s', { session }).acquire()).rejects.toSatisfy(isSessionLostError);
    expect(await keysUnder(coord, 's/')).toEqual([]);
  });

  it('withLock releases after fn returns, throws, or lost the lock', async () => {
    const coord = await open();
    let seen: Lock | undefined;
    expect(
      await coord.withLock('w', async (lock) => {
        seen = lock;
        expect(await lock.isHeld()).toBe(true);
        return 42;
      }),
    ).toBe(42);
    expect(seen?.signal.aborted).toBe(true);
    const boom = new Error('boom');
    await expect(
      coord.withLock('w', () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(
      await coord.withLock('w', async (lock) => {
        await coord.client.delete().key(lock.key).exec();
        await waitFor(() => lock.signal.aborted, 'lost');
        return 'done';
      }),
    ).toBe('done');
    expect(await keysUnder(coord, 'w/')).toEqual([]);
    expect(await coord.mutex('w').tryAcquire()).toBeDefined();
  });

  it('rejects bad input with InvalidArgumentError and writes nothing', async () => {
    const coord = await open();
    const bad: Array<() => unknown> = [
      () => coord.mutex(''),
      () => coord.mutex('trailing/'),
      () => coord.mutex('/leading'),
      () => coord.mutex('a//b'),
      () => coord.mutex(42 as unknown as string),
      () => coord.mutex('ok', { session: {} as never }),
      () => coord.semaphore('s', 0),
      () => coord.semaphore('s', 1.5),
      () => coord.semaphore('s', -1),
      () => coord.semaphore('', 2),
      () => coord.rwlock('x/'),
    ];
    for (const f of bad) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(isInvalidArgumentError(err), String(f)).toBe(true);
    }
    await expect(coord.mutex('ok').acquire({ timeoutMs: -1 })).rejects.toSatisfy(isInvalidArgumentError);
    await expect(coord.withLock('', async () => 1)).rejects.toSatisfy(isInvalidArgumentError);
    expect(await keysUnder(coord, '')).toEqual([]);
  });
});
