/**
 * Leaving a queue: my key is deleted only while it still has my create revision (etcd
 * #22082), so a late delete never removes a newer key of the same name.
 * @module
 */
import type { CoordContext } from '../context.js';
import { createRevisionIs } from '../keys.js';

/** Deletes my key if it still has my create revision. Idempotent. Resolves whether it deleted. */
export async function leave(
  ctx: CoordContext,
  what: string,
  key: string,
  token: bigint,
  signal?: AbortSignal,
): Promise<boolean> {
  const k = Buffer.from(key);
  const res = await ctx.resilience.run(
    `${what}: delete key`,
    () =>
      ctx.client.kv.txn({
        compare: [createRevisionIs(k, token)],
        success: [{ request_delete_range: { key: k } }],
        failure: [],
      }),
    { idempotent: true, signal },
  );
  return res.succeeded;
}
