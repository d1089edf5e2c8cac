/**
 * Leaving a queue: my key is deleted only while it still has my create revision (etcd
 * #22082), so a late delete never removes a newer key of the same name.
 * @module
 */
import type { CoordContext } from '../context.js';
import { deleteIf } from '../guarded-delete.js';
import { createRevisionIs } from '../keys.js';

/** Deletes my key if it still has my create revision. Idempotent. Resolves whether it deleted. */
export function leave(
  ctx: CoordContext,
  what: string,
  key: string,
  token: bigint,
  signal?: AbortSignal,
): Promise<boolean> {
  const k = Buffer.from(key);
  return deleteIf(ctx, what, k, createRevisionIs(k, token), signal);
}
