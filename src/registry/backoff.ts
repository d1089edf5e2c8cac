/**
 * Backoff for the registry's background loops (re-registration, cache re-list):
 * cockatiel's exponential backoff with decorrelated jitter, and an abortable sleep.
 * @internal
 * @module
 */
import { ExponentialBackoff, type IBackoff } from 'cockatiel';

/** First delay of a background retry loop, ms. */
export const LOOP_INITIAL_DELAY_MS = 100;
/** Largest delay of a background retry loop, ms. */
export const LOOP_MAX_DELAY_MS = 3000;

/** A fresh backoff sequence: `.duration` is the next delay, `.next(undefined)` the one after. */
export function loopBackoff(): IBackoff<unknown> {
  return new ExponentialBackoff({ initialDelay: LOOP_INITIAL_DELAY_MS, maxDelay: LOOP_MAX_DELAY_MS }).next();
}

/** Resolves after `ms`, or at once (without rejecting) when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
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
