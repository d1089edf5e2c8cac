/**
 * Reads who holds a queue: the first `limit` member keys by create revision.
 * @module
 */
import type { CoordContext } from '../context.js';
import { leaseHex } from '../keys.js';
import { queueRange } from '../queue/range.js';

/** One holder of a lock, permit or rwlock, as etcd sees it. */
export interface LockHolder {
  /** The full etcd key. */
  readonly key: string;
  /** Its create revision: the holder's fencing token. */
  readonly token: bigint;
  /** The holder's lease id, hex. */
  readonly leaseId: string;
}

/** The first `limit` keys under `prefix` accepted by `member`, oldest first. */
export async function readHolders(
  ctx: CoordContext,
  what: string,
  prefix: string,
  member: (key: string) => boolean,
  limit: number,
): Promise<LockHolder[]> {
  const res = await ctx.resilience.run(
    `${what}: read holders`,
    () => ctx.client.kv.range(queueRange(prefix, { keysOnly: true })),
    { idempotent: true },
  );
  return res.kvs
    .filter((kv) => member(kv.key.toString()))
    .slice(0, limit)
    .map((kv) => ({ key: kv.key.toString(), token: BigInt(kv.create_revision), leaseId: leaseHex(kv.lease) }));
}
