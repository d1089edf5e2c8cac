/**
 * The writes of a registration, each one guarded so that it never overwrites another
 * live instance:
 *
 * - **claim**: create the key if absent, with my lease, in one transaction whose
 *   else-branch reads the key. If the key is there on a lease this registration used
 *   before (left behind by a lost session, e.g. after an etcd restart refreshed the old
 *   lease), it is ours: take it over with a put guarded by its mod revision. Any other
 *   lease is a live instance of someone else: {@link ConflictError}. Idempotent, so retried.
 * - **rewrite**: put a new value guarded by `Lease(key) == my lease`.
 * - **release**: delete if the key is on one of my leases, guarded by its mod revision;
 *   on a shared session, delete if the key is on that session's lease.
 * @internal
 * @module
 */
import type { CoordContext } from '../context.js';
import { ConflictError, CoordinationError } from '../errors.js';
import { deleteIf } from '../guarded-delete.js';
import { createRevisionIs, leaseHex, leaseIs, modRevisionIs } from '../keys.js';

/** Where a claim or rewrite left the key. */
export interface Written {
  /** The revision of the write (the key's mod revision). */
  readonly revision: bigint;
  /** The key was there on an earlier lease of this registration and was moved to the new one. */
  readonly tookOver?: boolean;
}

/**
 * Puts `value` under `key` with `lease` unless another live instance holds it.
 * @param ownLeases - decimal ids of leases this registration used before.
 * @throws ConflictError when the key is on a lease that is not ours.
 */
export async function claimKey(
  ctx: CoordContext,
  what: string,
  key: string,
  value: Buffer,
  lease: string,
  ownLeases: ReadonlySet<string>,
  signal?: AbortSignal,
): Promise<Written> {
  const k = Buffer.from(key);
  const put = { request_put: { key: k, value, lease } };
  for (let round = 0; round < 5; round++) {
    const res = await ctx.resilience.run(
      `${what}: create key`,
      () =>
        ctx.client.kv.txn({
          compare: [createRevisionIs(k, 0n)],
          success: [put],
          failure: [{ request_range: { key: k } }],
        }),
      { idempotent: true, signal },
    );
    if (res.succeeded) return { revision: BigInt(res.header.revision) };
    const kv = res.responses[0]?.response_range.kvs[0];
    if (!kv) continue;
    const holder = String(kv.lease ?? '0');
    if (holder === lease && kv.value.equals(value)) return { revision: BigInt(kv.mod_revision) };
    if (holder !== lease && !ownLeases.has(holder)) {
      throw new ConflictError(
        `${what}: ${key} is registered by another live instance (lease ${holder === '0' ? 'none' : leaseHex(holder)}); ` +
          'choose another id, or deregister that instance first',
      );
    }
    const taken = await ctx.resilience.run(
      `${what}: take over key`,
      () =>
        ctx.client.kv.txn({
          compare: [modRevisionIs(k, kv.mod_revision)],
          success: [put],
          failure: [],
        }),
      { idempotent: true, signal },
    );
    if (taken.succeeded) return { revision: BigInt(taken.header.revision), tookOver: holder !== lease };
  }
  throw new CoordinationError(`${what}: ${key} kept changing while it was being registered; try again`);
}

/** Puts `value` if the key is still on `lease`. Undefined when it is not (lost or overwritten). */
export async function rewriteKey(
  ctx: CoordContext,
  what: string,
  key: string,
  value: Buffer,
  lease: string,
): Promise<Written | undefined> {
  const k = Buffer.from(key);
  const res = await ctx.resilience.run(
    `${what}: update`,
    () =>
      ctx.client.kv.txn({
        compare: [leaseIs(k, lease)],
        success: [{ request_put: { key: k, value, lease } }],
        failure: [],
      }),
    { idempotent: true },
  );
  return res.succeeded ? { revision: BigInt(res.header.revision) } : undefined;
}

/** Deletes the key if it is on one of `ownLeases` (decimal ids). Idempotent. */
export async function releaseOwnedKey(
  ctx: CoordContext,
  what: string,
  key: string,
  ownLeases: ReadonlySet<string>,
): Promise<void> {
  const k = Buffer.from(key);
  const res = await ctx.resilience.run(`${what}: read key`, () => ctx.client.kv.range({ key: k }), {
    idempotent: true,
  });
  const kv = res.kvs[0];
  if (!kv || !ownLeases.has(String(kv.lease ?? '0'))) return;
  await deleteIf(ctx, what, k, modRevisionIs(k, kv.mod_revision));
}

/**
 * Deletes `key` if it is still on `lease`: the deregistration of an instance on a shared
 * session, whose lease stays. Resolves whether it deleted.
 */
export function deleteOnLease(ctx: CoordContext, what: string, key: string, lease: string): Promise<boolean> {
  const k = Buffer.from(key);
  return deleteIf(ctx, what, k, leaseIs(k, lease));
}
