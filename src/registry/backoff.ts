/**
 * The registry's background retry loops (re-registration, cache re-list): cockatiel's
 * exponential backoff with decorrelated jitter, until the attempt succeeds or the loop
 * is stopped.
 * @internal
 * @module
 */
import { ExponentialBackoff, type IBackoff } from 'cockatiel';

/** First delay of a background retry loop, ms. */
export const LOOP_INITIAL_DELAY_MS = 100;
/** Largest delay of a background retry loop, ms. */
export const LOOP_MAX_DELAY_MS = 3000;

/**
 * Runs `attempt` until it resolves, pausing with backoff after each failure. Resolves
 * undefined (never rejects) when `signal` aborts or `onError` returns 'stop'.
 * @param onError - told about each failure (with the attempt number); must not throw.
 */
export async function retryUntilDone<T>(
  attempt: () => Promise<T>,
  signal: AbortSignal,
  onError: (err: unknown, attempts: number) => 'retry' | 'stop',
): Promise<{ value: T; attempts: number } | undefined> {
  let backoff: IBackoff<unknown> = new ExponentialBackoff({
    initialDelay: LOOP_INITIAL_DELAY_MS,
    maxDelay: LOOP_MAX_DELAY_MS,
  }).next();
  for (let attempts = 1; !signal.aborted; attempts++) {
    try {
      return { value: await attempt(), attempts };
    } catch (err) {
      if (signal.aborted || onError(err, attempts) === 'stop') return undefined;
      await pause(backoff.duration, signal);
      backoff = backoff.next(undefined);
    }
  }
  return undefined;
}

/** Resolves after `ms`, or at once (without rejecting) when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
