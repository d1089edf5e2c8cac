/**
 * The etcd writes of a partition group, each one guarded:
 *
 * - **create if absent** (member key, owner key): `CreateRevision(key) == 0` -> put with
 *   my lease, else read the key. A key found on my own lease with my value is mine (a
 *   retried create whose first answer was lost), so the write is idempotent and retried.
 * - **delete guarded**: delete only if the key is still the one I created
 *   (`CreateRevision(key) == token`), so a key that changed hands is never deleted.
 * @internal
 * @module
 */
import { hostname } from 'node:os';
import type { CoordContext } from '../context.js';
import { createRevisionIs } from '../keys.js';

/** The outcome of a create-if-absent: mine (with its create revision), or held by another lease. */
export type Created =
  | { readonly mine: true; readonly token: bigint }
  | { readonly mine: false; readonly lease: string; readonly value: Buffer; readonly revision: bigint };

/** Creates `key` with `value` on `lease` if it is absent. Retried on transient errors. */
export async function createIfAbsent(
  ctx: CoordContext,
  what: string,
  key: string,
  value: Buffer,
  lease: string,
  signal?: AbortSignal,
): Promise<Created | undefined> {
  const k = Buffer.from(key);
  const res = await ctx.resilience.run(
    what,
    () =>
      ctx.client.kv.txn({
        compare: [createRevisionIs(k, 0n)],
        success: [{ request_put: { key: k, value, lease } }],
        failure: [{ request_range: { key: k } }],
      }),
    { idempotent: true, signal },
  );
  if (res.succeeded) return { mine: true, token: BigInt(res.header.revision) };
  const kv = res.responses[0]?.response_range.kvs[0];
  if (!kv) return undefined; // deleted in between: the caller looks again
  const holder = String(kv.lease ?? '0');
  if (holder === lease && kv.value.equals(value)) return { mine: true, token: BigInt(kv.create_revision) };
  return { mine: false, lease: holder, value: kv.value, revision: BigInt(res.header.revision) };
}

/** Deletes `key` if its create revision is still `token`. Resolves whether it deleted. */
export async function deleteGuarded(
  ctx: CoordContext,
  what: string,
  key: string,
  token: bigint,
  signal?: AbortSignal,
): Promise<boolean> {
  const k = Buffer.from(key);
  const res = await ctx.resilience.run(
    what,
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

/** The value of a member key: who the member is, for `etcd-coord partitions` and `inspect`. */
export function encodeMember(member: string, partitions: number): Buffer {
  return Buffer.from(JSON.stringify({ member, partitions, host: hostname(), pid: process.pid, since: Date.now() }));
}
