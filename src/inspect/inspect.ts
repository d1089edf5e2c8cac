/**
 * `coord.inspect()`: who holds and who waits in every queue, and which instances every
 * service has, under a prefix. One consistent read of the keys (one revision, one
 * request up to 5,000 keys), then one LeaseTimeToLive per distinct contender lease,
 * concurrently.
 * @module
 */
import type { CoordContext } from '../context.js';
import { Classified, validatePrefix } from './classify.js';
import { readLeaseTtls } from './leases.js';
import { readConsistent } from './read.js';
import type { InspectOptions, Snapshot } from './types.js';

/**
 * Takes a {@link Snapshot} of `<namespace><prefix>`.
 * @throws InvalidArgumentError for a bad prefix (before any request).
 * @internal use `coord.inspect()`.
 */
export async function takeSnapshot(
  ctx: CoordContext,
  prefix?: string,
  options: InspectOptions = {},
): Promise<Snapshot> {
  const rel = validatePrefix(prefix);
  const { signal } = options;
  signal?.throwIfAborted();
  ctx.assertOpen();
  const what = `inspect ${JSON.stringify(rel)}`;
  const read = await readConsistent(ctx, what, `${ctx.namespace}${rel}`, signal);
  const classified = new Classified(ctx.namespace, read.kvs, rel);
  const ttls = await readLeaseTtls(ctx, what, classified.leases(), signal);
  return {
    revision: read.revision,
    takenAt: read.at,
    queues: classified.queues(ttls),
    services: classified.services(),
    partitions: classified.partitions(),
  };
}
