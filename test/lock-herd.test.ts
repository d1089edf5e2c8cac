import { afterEach, describe, expect, it } from 'vitest';
import type { Coordinator } from '../src/index.js';
import { failOnUnhandledRejections, keysUnder } from './fixtures/lock-util.js';
import { connectShared, waitFor } from './harness/index.js';

failOnUnhandledRejections();

const coords: Coordinator[] = [];
afterEach(async () => {
  await Promise.all(coords.splice(0).map((c) => c.close()));
});

/** Watch events the coordinator's shared watch stream has received. */
const events = (c: Coordinator) => c.diagnostics().watch.eventsReceived;

/** Queues `n` waiters (one session each) behind a holder, releases, and counts watch events per handoff. */
async function eventsPerHandoff(holder: Coordinator, waiters: Coordinator, name: string, n: number): Promise<number> {
  const first = await holder.mutex(name).acquire();
  const sessions = await Promise.all(Array.from({ length: n }, () => waiters.newSession({ ttl: 10 })));
  const order: number[] = [];
  const done = sessions.map((session, i) =>
    waiters
      .mutex(name, { session })
      .acquire()
      .then(async (lock) => {
        order.push(i);
        await lock.release();
        await session.close();
      }),
  );
  await waitFor(async () => (await keysUnder(holder, `${name}/`)).length === n + 1, `${n} waiters queued`, 20_000);
  const before = events(waiters);
  await first.release();
  await Promise.all(done);
  expect(order).toHaveLength(n);
  return (events(waiters) - before) / n;
}

describe('herd-free handoff', () => {
  it('one release wakes one waiter: watch events per handoff stay constant from 10 to 50 waiters', async () => {
    const holder = await connectShared();
    coords.push(holder);
    const waiters = await connectShared({ namespace: holder.namespace });
    coords.push(waiters);
    const at10 = await eventsPerHandoff(holder, waiters, 'herd10', 10);
    const at50 = await eventsPerHandoff(holder, waiters, 'herd50', 50);
    // A herd (every waiter watching the whole prefix) would deliver ~n/2 events per handoff.
    // Slightly under 1 is fine: a waiter whose watch etcd registered in the past reads the
    // queue again at once, and may find its predecessor gone without an event.
    expect(at10).toBeGreaterThan(0);
    expect(at10).toBeLessThanOrEqual(2);
    expect(at50).toBeGreaterThan(0);
    expect(at50).toBeLessThanOrEqual(2);
    expect(Math.abs(at50 - at10)).toBeLessThanOrEqual(0.5);
  }, 60_000);
});
