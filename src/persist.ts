/**
 * Background re-reads (after a compaction, or to re-check a key) that must not give up
 * while etcd is briefly unavailable: retried with cockatiel's exponential backoff and
 * decorrelated jitter until they succeed or the signal aborts.
 * @internal
 * @module
 */
import { ExponentialBackoff } from 'cockatiel';
import type { Logger } from 'pino';
import { retryWithBackoff } from './backoff.js';
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
  const done = await retryWithBackoff(fn, {
    backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }),
    signal,
    onError: (err, _attempts, delayMs) => {
      if (!isEtcdUnavailableError(err)) throw err;
      logger.debug({ err: err.message, delayMs }, `${what}: retrying`);
      return 'retry';
    },
  });
  return done?.value;
}
