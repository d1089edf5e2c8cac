import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { Coordinator } from '../src/index.js';
import { connectShared } from './harness/index.js';

let coord: Coordinator | undefined;
afterEach(async () => {
  await coord?.close();
  coord = undefined;
});

describe('waits leave nothing on long-lived signals', () => {
  it('acquires, campaigns and timeouts do not pile listeners on the session signal or the caller signal', async () => {
    coord = await connectShared();
    const session = await coord.session();
    const app = new AbortController(); // an application-wide signal, passed to every call
    const mutex = coord.mutex('leak');
    const election = coord.election('leak-e');
    const warm = await mutex.acquire({ signal: app.signal, timeoutMs: 5000 });
    await warm.release();
    const before = {
      session: getEventListeners(session.signal, 'abort').length,
      app: getEventListeners(app.signal, 'abort').length,
    };
    for (let i = 0; i < 30; i++) {
      const lock = await mutex.acquire({ signal: app.signal, timeoutMs: 5000 });
      await lock.release();
      const leadership = await election.campaign('v', { signal: app.signal, timeoutMs: 5000 });
      await leadership.resign();
    }
    const held = await mutex.acquire();
    const other = await coord.newSession({ ttl: 5 });
    await expect(
      coord.mutex('leak', { session: other }).acquire({ signal: app.signal, timeoutMs: 20 }),
    ).rejects.toThrow(/not acquired/);
    await held.release();
    expect(getEventListeners(session.signal, 'abort').length).toBe(before.session);
    expect(getEventListeners(app.signal, 'abort').length).toBe(before.app);
    expect(getEventListeners(other.signal, 'abort').length).toBeLessThanOrEqual(1);
  });
});
