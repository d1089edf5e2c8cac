/**
 * A delete that happens only while a compare holds, in one transaction: the release of
 * every key the library writes (a queue key while it has my create revision, etcd
 * #22082; a registration while it is on my lease or unchanged since I read it).
 * @internal
 * @module
 */
import type { ICompare } from 'etcd3';
import type { CoordContext } from './context.js';

/** Deletes `key` if `compare` holds. Idempotent (retried). Resolves whether it deleted. */
export async function deleteIf(
  ctx: CoordContext,
  what: string,
  key: Buffer,
  compare: ICompare,
  signal?: AbortSignal,
): Promise<boolean> {
  const res = await ctx.resilience.run(
    `${what}: delete key`,
    () => ctx.client.kv.txn({ compare: [compare], success: [{ request_delete_range: { key } }], failure: [] }),
    { idempotent: true, signal },
  );
  return res.succeeded;
}
