/**
 * Retrying until done: runs an attempt again after each failure, pausing for the next
 * duration of a cockatiel backoff, until it succeeds, the caller's handler says stop, or
 * the signal aborts. The one loop behind the registry's background loops
 * (re-registration, cache re-list), {@link persist}'s re-reads and the lease's
 * background revoke.
 *
 * Not cockatiel's `retry()` policy: in cockatiel 3.2 its pause between attempts ignores
 * the signal (an abort waits out the whole delay, then runs the attempt once more) and
 * its timer stays behind, so an abort here ends the pause at once and leaves no timer
 * or abort listener.
 * @internal
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ExponentialBackoff, type IBackoff, type IBackoffFactory } from 'cockatiel';

/** How {@link retryWithBackoff} paces and ends its loop. */
export interface RetryOptions {
  /** The pauses between attempts, e.g. `new ExponentialBackoff({ initialDelay, maxDelay })`. */
  readonly backoff: IBackoffFactory<unknown>;
  /** Ends the loop (an attempt under way is not cut short): resolves undefined. */
  readonly signal?: AbortSignal;
  /** A pending pause does not keep the process alive (for a chore nobody awaits). */
  readonly unref?: boolean;
  /**
   * Told about each failure (the attempt number, the pause before the next one) unless
   * the signal aborted: 'stop' resolves undefined; an error it throws rejects the loop.
   */
  onError(err: unknown, attempts: number, delayMs: number): 'retry' | 'stop';
}

/**
 * Runs `attempt` until it resolves, pausing with `backoff` after each failure. Resolves
 * undefined when the signal aborts (at once, also during a pause) or `onError` returns
 * 'stop'; rejects only with what `onError` throws.
 */
export async function retryWithBackoff<T>(
  attempt: () => Promise<T>,
  o: RetryOptions,
): Promise<{ value: T; attempts: number } | undefined> {
  const signal = o.signal;
  let backoff: IBackoff<unknown> | undefined;
  for (let attempts = 1; !signal?.aborted; attempts++) {
    try {
      return { value: await attempt(), attempts };
    } catch (err) {
      if (signal?.aborted) return undefined;
      backoff = backoff ? backoff.next(undefined) : o.backoff.next(undefined);
      if (o.onError(err, attempts, backoff.duration) === 'stop') return undefined;
      // rejects (AbortError) when the signal aborts: the loop condition then ends it
      await sleep(backoff.duration, undefined, { signal, ref: !o.unref }).catch(() => undefined);
    }
  }
  return undefined;
}

/** First delay of a background retry loop, ms. */
export const LOOP_INITIAL_DELAY_MS = 100;
/** Largest delay of a background retry loop, ms. */
export const LOOP_MAX_DELAY_MS = 3000;

/**
 * Runs `attempt` until it resolves, pausing with backoff (exponential, decorrelated
 * jitter) after each failure. Resolves undefined (never rejects) when `signal` aborts or
 * `onError` returns 'stop'.
 * @param onError - told about each failure (with the attempt number); must not throw.
 */
export function retryUntilDone<T>(
  attempt: () => Promise<T>,
  signal: AbortSignal,
  onError: (err: unknown, attempts: number) => 'retry' | 'stop',
): Promise<{ value: T; attempts: number } | undefined> {
  return retryWithBackoff(attempt, {
    backoff: new ExponentialBackoff({ initialDelay: LOOP_INITIAL_DELAY_MS, maxDelay: LOOP_MAX_DELAY_MS }),
    signal,
    onError: (err, attempts) => onError(err, attempts),
  });
}
