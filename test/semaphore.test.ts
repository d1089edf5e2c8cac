import { afterEach, describe, expect, it } from 'vitest';
import { type Coordinator, isLockTimeoutError } from '../src/index.js';
import { failOnUnhandledRejections, keysUnder, Occupancy, work } from './fixtures/lock-util.js';
import { connectShared, waitFor } from './harness/index.js';

failOnUnhandledRejections();

let coord: Coordinator | undefined;
afterEach(async () => {
  await coord?.close();
  coord = undefined;
});

describe('Semaphore', () => {
  it('never lets more than `limit` of 6 contenders hold at once, and reaches the limit', async () => {
    coord = await connectShared();
    const c = coord;
    const sessions = await Promise.all(Array.from({ length: 6 }, () => c.newSession({ ttl: 5 })));
    const occ = new Occupancy();
    const tokens = new Set<bigint>();
    await Promise.all(
      sessions.map(async (session) => {
        const sem = c.semaphore('pool', 2, { session });
        for (let round = 0; round < 4; round++) {
          const permit = await sem.acquire({ timeoutMs: 30_000 });
          occ.enter();
          tokens.add(permit.token);
          expect((await sem.holders()).map((h) => h.key)).toContain(permit.key);
          await work(10);
          occ.exit();
          await permit.release();
        }
      }),
    );
    expect(occ.max).toBe(2);
    expect(tokens.size).toBe(24);
    expect(await keysUnder(c, 'pool/')).toEqual([]);
  });

  it('tryAcquire() is undefined when full; a waiter gets the first freed permit; abort and timeout leave no key', async () => {
    coord = await connectShared();
    const c = coord;
    const [s1, s2, s3] = await Promise.all([1, 2, 3].map(() => c.newSession({ ttl: 5 })));
    const p1 = await c.semaphore('slots', 2, { session: s1 }).acquire();
    const p2 = await c.semaphore('slots', 2, { session: s2 }).tryAcquire();
    expect(p2).toBeDefined();
    const sem3 = c.semaphore('slots', 2, { session: s3 });
    expect(sem3.limit).toBe(2);
    expect(await sem3.tryAcquire()).toBeUndefined();
    expect(await sem3.acquire({ timeoutMs: 200 }).catch((e) => isLockTimeoutError(e))).toBe(true);
    const ac = new AbortController();
    const aborted = sem3.acquire({ signal: ac.signal });
    await waitFor(async () => (await keysUnder(c, 'slots/')).length === 3, 'the waiter queued');
    ac.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    expect(await keysUnder(c, 'slots/')).toHaveLength(2);

    const waiting = sem3.acquire();
    await waitFor(async () => (await keysUnder(c, 'slots/')).length === 3, 'the waiter queued');
    expect((await sem3.holders()).map((h) => h.token)).toEqual([p1.token, p2?.token]);
    await p2?.release();
    const p3 = await waiting;
    expect(p3.token).toBeGreaterThan(p2?.token ?? 0n);
    expect(await p1.isHeld()).toBe(true);
    await Promise.all([p1.release(), p3.release()]);
    expect(await keysUnder(c, 'slots/')).toEqual([]);
  });
});
