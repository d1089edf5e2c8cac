/**
 * The dial check of `connect()`: asks the endpoints for their status until one answers
 * or `dialTimeoutMs` passes.
 * @module
 */
import { isBrokenCircuitError } from 'cockatiel';
import type { Etcd3 } from 'etcd3';
import { EtcdUnavailableError, isTransientEtcdError, mapEtcdError } from '../errors.js';

/**
 * Resolves once an endpoint answers a status call; rejects at once with the mapped error
 * when one is refused for good (e.g. authentication), else with
 * {@link EtcdUnavailableError} naming the endpoints after `dialTimeoutMs`.
 * @internal
 */
export async function probe(client: Etcd3, dialTimeoutMs: number, names: string[]): Promise<void> {
  const until = Date.now() + dialTimeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      await withDeadline(client.maintenance.status({ deadline: until }), until);
      return;
    } catch (err) {
      const mapped = mapEtcdError(err, 'connect', names);
      if (!isTransientEtcdError(err) && !(mapped instanceof EtcdUnavailableError) && !isDialTimeout(err)) {
        throw mapped;
      }
      // Keep what the endpoint said; a later "breaker open" or our own timer says less.
      if (!last || (!isBrokenCircuitError(err) && !isDialTimeout(err))) last = err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const reason = last instanceof Error ? `; last error: ${last.message}` : '';
  throw new EtcdUnavailableError(
    `connect: no etcd endpoint answered within ${dialTimeoutMs} ms (endpoints: ${names.join(', ')})${reason}`,
    { cause: last },
  );
}

class DialTimeout extends Error {}
const isDialTimeout = (err: unknown) => err instanceof DialTimeout;

/** Rejects with a DialTimeout at `until` (epoch ms) unless `p` settles first. */
function withDeadline<T>(p: Promise<T>, until: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DialTimeout('dial timeout')), Math.max(1, until - Date.now()));
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}
