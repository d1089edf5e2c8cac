/**
 * Leaving a queue: my key is deleted only while it still has my create revision (etcd
 * #22082), so a late delete never removes a newer key of the same name.
 * @module
 */
import { CompareResult, CompareTarget } from 'etcd3';
import type { CoordContext } from '../context.js';

/** Deletes my key if it still has my create revision. Idempotent. */
export async function leave(
  ctx: CoordContext,
  what: string,
  key: string,
  token: bigint,
  signal?: AbortSignal,
): Promise<void> {
  const k = Buffer.from(key);
  await ctx.resilience.run(
    `${what}: delete key`,
    () =>
      ctx.client.kv.txn({
        compare: [
          { key: k, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: token.toString() },
        ],
        success: [{ request_delete_range: { key: k } }],
        failure: [],
      }),
    { idempotent: true, signal },
  );
}
