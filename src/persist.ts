/**
 * Background re-reads (after a compaction, or to re-check a key) that must not give up
 * while etcd is briefly unavailable: retried with cockatiel's exponential backoff and
 * decorrelated jitter until they succeed or the signal aborts.
 * @internal
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ExponentialBackoff } from 'cockatiel';
import type { Logger } from 'pino';
import { isEtcdUnavailableError } from './errors.js';

/**
 * Runs `fn` until it succeeds; retries after {@link EtcdUnavailableError}, throws any other
 * error. Resolves undefined once `signal` aborts.
 */
export async function persist<T>(
  signal: AbortSignal,
  logger: Logger,
  what: string,
  fn: () => Promise<T>,
): Promise<T | undefined> {
  let backoff = new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }).next();
  while (!signal.aborted) {
    try {
      return await fn();
    } catch (err) {
      if (signal.aborted) return undefined;
      if (!isEtcdUnavailableError(err)) throw err;
      logger.debug({ err: err.message, delayMs: backoff.duration }, `${what}: retrying`);
      await sleep(backoff.duration, undefined, { signal }).catch(() => undefined);
      backoff = backoff.next(undefined);
    }
  }
  return undefined;
}
