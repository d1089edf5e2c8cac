import { describe, expect, it } from 'vitest';
import {
  type Coordinator,
  isInvalidArgumentError,
  isLockLostError,
  isLockTimeoutError,
  isSessionLostError,
  MAX_LOCK_DELAY_MS,
} from '../src/index.js';
import { coordinatorsPerTest, failOnUnhandledRejections, keysUnder } from './fixtures/lock-util.js';
import { rejectionOf, waitFor } from './harness/index.js';

failOnUnhandledRejections();

const open = coordinatorsPerTest();

/** Resolves when `n` contenders are queued on `name`. */
function queued(coord: Coordinator, name: string, n: number): Promise<boolean> {
  return waitFor(async () => (await keysUnder(coord, `${name}/`)).length === n, `${n} contenders on ${name}`);
}

describe('coord.mutex(name, { lockDelayMs })', () => {
  it('after the holder lease is revoked behind its back, the waiter takes the lock no earlier than lockDelayMs later', async () => {
    const a = await open();
    const b = await open();
    const holderSession = await a.newSession();
    const held = await a.mutex('job', { session: holderSession }).acquire();
    const lockDelayMs = 1500;
    const waiting = b.mutex('job', { lockDelayMs }).acquire({ timeoutMs: 20_000 });
    let acquiredAt: number | undefined;
    waiting.then(
      () => {
        acquiredAt = performance.now();
      },
      () => {},
    );
    await queued(a, 'job', 2);
    const revokeSentAt = performance.now();
    await a.client.leaseClient.leaseRevoke({ ID: holderSession.leaseIdDecimal });
    const lock = await waiting;
    // The delete happened after the revoke was sent; the waiter waited lockDelayMs after it saw the delete.
    expect(acquiredAt).toBeDefined();
    expect((acquiredAt as number) - revokeSentAt).toBeGreaterThanOrEqual(lockDelayMs);
    expect(lock.token).toBeGreaterThan(held.token);
    expect(await lock.isHeld()).toBe(true);
    // The old holder learns of its loss from its own guard (its key was deleted).
    await waitFor(() => held.signal.aborted, 'old holder notices the loss');
    await lock.release();
    expect(await keysUnder(a, 'job/')).toEqual([]);
  });

  it('session.close() by the holder counts as involuntary (it revokes the lease)', async () => {
    const a = await open();
    const b = await open();
    const holderSession = await a.newSession();
    await a.mutex('closing', { session: holderSession }).acquire();
    const lockDelayMs = 800;
    const waiting = b.mutex('closing', { lockDelayMs }).acquire({ timeoutMs: 20_000 });
    let acquiredAt: number | undefined;
    waiting.then(
      () => {
        acquiredAt = performance.now();
      },
      () => {},
    );
    await queued(a, 'closing', 2);
    const closedAt = performance.now();
    await holderSession.close();
    const lock = await waiting;
    expect((acquiredAt as number) - closedAt).toBeGreaterThanOrEqual(lockDelayMs);
    await lock.release();
  });

  it('a released lock passes on at once (a 30 s lock-delay is not applied)', async () => {
    const a = await open();
    const b = await open();
    const held = await a.mutex('handoff').acquire();
    // timeoutMs far below lockDelayMs: the acquire would fail if the delay applied.
    const waiting = b.mutex('handoff', { lockDelayMs: 30_000 }).acquire({ timeoutMs: 15_000 });
    await queued(a, 'handoff', 2);
    await held.release();
    const lock = await waiting;
    expect(lock.token).toBeGreaterThan(held.token);
    // A waiter in the middle of the queue: its predecessor (a waiter) releases by giving up.
    const c = await open();
    const ac = new AbortController();
    const middle = c.mutex('handoff').acquire({ signal: ac.signal });
    await queued(a, 'handoff', 2);
    const last = a.mutex('handoff', { lockDelayMs: 30_000 }).acquire({ timeoutMs: 15_000 });
    await queued(a, 'handoff', 3);
    ac.abort(new Error('gave up'));
    await rejectionOf(middle);
    await lock.release();
    const got = await last;
    await got.release();
    expect(await keysUnder(a, 'handoff/')).toEqual([]);
  });

  it('the delay is cancellable: a timeout or an abort while delaying rejects and leaves no key', async () => {
    const a = await open();
    const b = await open();
    for (const how of ['timeout', 'abort'] as const) {
      const holderSession = await a.newSession();
      await a.mutex('cancel', { session: holderSession }).acquire();
      const ac = new AbortController();
      const reason = new Error('stop waiting');
      const waiting = rejectionOf(
        b
          .mutex('cancel', { lockDelayMs: 30_000 })
          .acquire(how === 'timeout' ? { timeoutMs: 3_000 } : { signal: ac.signal }),
      );
      await queued(a, 'cancel', 2);
      await a.client.leaseClient.leaseRevoke({ ID: holderSession.leaseIdDecimal });
      await queued(a, 'cancel', 1); // only the waiter's key: it is delaying, and stays in the queue meanwhile
      if (how === 'abort') ac.abort(reason);
      const err = await waiting;
      if (how === 'timeout') expect(isLockTimeoutError(err), String(err)).toBe(true);
      else expect(err).toBe(reason);
      expect(await keysUnder(a, 'cancel/')).toEqual([]);
    }
  });

  it('while delaying, my own key is still checked: its deletion fails the acquire with SessionLostError', async () => {
    const a = await open();
    const b = await open();
    const holderSession = await a.newSession();
    await a.mutex('mine', { session: holderSession }).acquire();
    const waiting = rejectionOf(b.mutex('mine', { lockDelayMs: 30_000 }).acquire({ timeoutMs: 15_000 }));
    await queued(a, 'mine', 2);
    await a.client.leaseClient.leaseRevoke({ ID: holderSession.leaseIdDecimal });
    await queued(a, 'mine', 1);
    const [mine] = await keysUnder(a, 'mine/');
    await a.client.delete().key(`${a.namespace}${mine}`);
    const err = await waiting;
    expect(isSessionLostError(err), String(err)).toBe(true);
    expect(await keysUnder(a, 'mine/')).toEqual([]);
  });

  it('lockDelayMs 0 is the default behaviour: an expired holder passes on at once', async () => {
    const a = await open();
    const b = await open();
    const holderSession = await a.newSession();
    const held = await a.mutex('zero', { session: holderSession }).acquire();
    const waiting = b.mutex('zero', { lockDelayMs: 0 }).acquire({ timeoutMs: 15_000 });
    await queued(a, 'zero', 2);
    await a.client.leaseClient.leaseRevoke({ ID: holderSession.leaseIdDecimal });
    const lock = await waiting;
    expect(lock.token).toBeGreaterThan(held.token);
    await waitFor(() => held.signal.aborted, 'old holder notices');
    expect(isLockLostError(held.signal.reason) || isSessionLostError(held.signal.reason)).toBe(true);
    await lock.release();
  });

  it('bad lockDelayMs throws InvalidArgumentError synchronously', async () => {
    const coord = await open();
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, MAX_LOCK_DELAY_MS + 1, '100', null, {}]) {
      let thrown: unknown;
      try {
        coord.mutex('bad', { lockDelayMs: bad as never });
      } catch (err) {
        thrown = err;
      }
      expect(isInvalidArgumentError(thrown), `lockDelayMs ${String(bad)}`).toBe(true);
    }
    expect(coord.mutex('ok', { lockDelayMs: MAX_LOCK_DELAY_MS })).toBeDefined();
    expect(coord.mutex('ok', { lockDelayMs: 0 })).toBeDefined();
    expect(await keysUnder(coord, '')).toEqual([]);
  });
});
