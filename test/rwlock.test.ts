import { afterEach, describe, expect, it } from 'vitest';
import type { Coordinator, Lock } from '../src/index.js';
import { failOnUnhandledRejections, keysUnder, work } from './fixtures/lock-util.js';
import { connectShared, waitFor } from './harness/index.js';

failOnUnhandledRejections();

let coord: Coordinator | undefined;
afterEach(async () => {
  await coord?.close();
  coord = undefined;
});

async function sessions(c: Coordinator, n: number) {
  return Promise.all(Array.from({ length: n }, () => c.newSession({ ttl: 5 })));
}

describe('RWLock', () => {
  it('readers overlap; a waiting writer blocks later readers (FIFO); the writer excludes everyone', async () => {
    coord = await connectShared();
    const c = coord;
    const [s1, s2, s3, s4, s5] = await sessions(c, 5);
    const rw = (session: typeof s1) => c.rwlock('doc', { session });
    const r1 = await rw(s1).read();
    const r2 = await rw(s2).read();
    expect(await r1.isHeld()).toBe(true);
    expect(await r2.isHeld()).toBe(true);
    expect((await rw(s1).holders()).readers.map((h) => h.key)).toEqual([r1.key, r2.key]);

    const order: string[] = [];
    const writing = rw(s3)
      .write()
      .then((l) => {
        order.push('writer');
        return l;
      });
    await waitFor(async () => (await keysUnder(c, 'doc/write/')).length === 1, 'the writer queued');
    expect(await rw(s4).tryRead()).toBeUndefined();
    expect(await rw(s5).tryWrite()).toBeUndefined();
    const reading = rw(s4)
      .read()
      .then((l) => {
        order.push('late reader');
        return l;
      });
    await waitFor(async () => (await keysUnder(c, 'doc/read/')).length === 3, 'the late reader queued');
    await r1.release();
    expect(order).toEqual([]);
    await r2.release();
    const w = await writing;
    expect((await rw(s1).holders()).writer?.key).toBe(w.key);
    expect(order).toEqual(['writer']);
    await w.release();
    const r3 = await reading;
    expect(order).toEqual(['writer', 'late reader']);
    expect(r3.token).toBeGreaterThan(w.token);
    await r3.release();
    expect(await keysUnder(c, 'doc/')).toEqual([]);
  });

  it('a reader behind two writers waits for both, even when the second one gives up first', async () => {
    coord = await connectShared();
    const c = coord;
    const [s1, s2, s3] = await sessions(c, 3);
    const rw = (session: typeof s1) => c.rwlock('two', { session });
    const w1 = await rw(s1).write();
    const quit = new AbortController();
    const w2 = rw(s2).write({ signal: quit.signal });
    await waitFor(async () => (await keysUnder(c, 'two/write/')).length === 2, 'the second writer queued');
    let read: Lock | undefined;
    const reading = rw(s3)
      .read()
      .then((l) => {
        read = l;
        return l;
      });
    await waitFor(async () => (await keysUnder(c, 'two/read/')).length === 1, 'the reader queued');
    quit.abort(new Error('second writer gives up'));
    await expect(w2).rejects.toThrow('second writer gives up');
    // The first writer still holds: a read that went ahead now would overlap it.
    expect(await rw(s1).tryRead()).toBeUndefined(); // a fresh reader's read of the queue: still blocked
    expect(read).toBeUndefined();
    expect(await w1.isHeld()).toBe(true);
    await w1.release();
    const r = await reading;
    expect(await r.isHeld()).toBe(true);
    await r.release();
    expect(await keysUnder(c, 'two/')).toEqual([]);
  });

  it('never lets a writer overlap a reader or another writer under contention', async () => {
    coord = await connectShared();
    const c = coord;
    const all = await sessions(c, 6);
    let readers = 0;
    let writers = 0;
    let completed = 0;
    const violations: string[] = [];
    const hold = async (lock: Lock, kind: 'r' | 'w') => {
      if (kind === 'w') {
        writers++;
        if (writers > 1 || readers > 0) violations.push(`writer with ${writers - 1} writers, ${readers} readers`);
      } else {
        readers++;
        if (writers > 0) violations.push(`reader with ${writers} writers`);
      }
      await work(5);
      if (kind === 'w') writers--;
      else readers--;
      completed++;
      await lock.release();
    };
    await Promise.all(
      all.map(async (session, i) => {
        const rw = c.rwlock('table', { session });
        const kind = i < 2 ? 'w' : 'r';
        for (let round = 0; round < 5; round++) {
          await hold(kind === 'w' ? await rw.write() : await rw.read(), kind);
        }
      }),
    );
    expect(violations).toEqual([]);
    expect(completed).toBe(30);
    expect(await keysUnder(c, 'table/')).toEqual([]);
  });
});
