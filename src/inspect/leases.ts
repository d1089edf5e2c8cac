/**
 * Lease TTLs of a snapshot's contenders: one LeaseTimeToLive per distinct lease, at most
 * {@link TTL_CONCURRENCY} in flight, asked right after the snapshot's read.
 * @internal
 * @module
 */
import type { CoordContext } from '../context.js';

/** LeaseTimeToLive requests in flight at once. */
export const TTL_CONCURRENCY = 64;

/** A lease's time left and granted TTL, in seconds. */
export interface LeaseTtl {
  readonly remainingS: number;
  readonly grantedS: number;
}

/**
 * The TTL of every lease in `leases` (decimal ids; duplicates and '0' are skipped). A
 * lease that is gone by the time it is asked (expired or revoked after the read) is
 * missing from the map.
 */
export async function readLeaseTtls(
  ctx: CoordContext,
  what: string,
  leases: Iterable<string>,
  signal?: AbortSignal,
): Promise<Map<string, LeaseTtl>> {
  const ids = [...new Set(leases)].filter((id) => id !== '0');
  const out = new Map<string, LeaseTtl>();
  let next = 0;
  let failed = false; // after one failure the other workers stop taking leases
  const worker = async () => {
    while (next < ids.length && !failed) {
      const id = ids[next++];
      const res = await ctx.resilience
        .run(`${what}: lease TTL`, () => ctx.client.leaseClient.leaseTimeToLive({ ID: id, keys: false }), {
          idempotent: true,
          signal,
        })
        .catch((err: unknown) => {
          failed = true;
          throw err;
        });
      const remainingS = Number(res.TTL);
      // etcd answers TTL -1 for a lease it does not know (any more).
      if (remainingS >= 0) out.set(id, { remainingS, grantedS: Number(res.grantedTTL) });
    }
  };
  await Promise.all(Array.from({ length: Math.min(TTL_CONCURRENCY, ids.length) }, worker));
  return out;
}
