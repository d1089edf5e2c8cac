/**
 * Owner-neutral reads of a queue: which keys are contenders, and a range request in
 * queue (create-revision) order.
 * @module
 */
import { type IKeyValue, type IRangeRequest, SortOrder, SortTarget } from 'etcd3';
import { prefixEnd } from '../keys.js';
import type { Blockers, QueueSpec } from './spec.js';

const LEASE_HEX = /^[0-9a-f]{1,16}$/;

/**
 * Contender keys directly under `prefix`: `<prefix><lease id in hex>`, as Go's
 * `concurrency` package, etcdctl and etcd's Lock/Election services write them. A longer
 * name's keys (`<prefix>sub/...`) and application keys stored under the prefix do not count.
 */
export function directChildren(prefix: string): (key: string) => boolean {
  return (key) => key.startsWith(prefix) && LEASE_HEX.test(key.slice(prefix.length));
}

/**
 * A read of the keys under `prefix` in create-revision order (queue order), `limit`
 * of them (0: all), with values unless `keysOnly`, created at or before `maxCreate`.
 */
export function queueRange(
  prefix: string,
  opts: { order?: SortOrder; limit?: number; keysOnly?: boolean; maxCreate?: bigint } = {},
): IRangeRequest {
  return {
    key: Buffer.from(prefix),
    range_end: prefixEnd(prefix),
    sort_order: opts.order ?? SortOrder.Ascend,
    sort_target: SortTarget.Create,
    limit: opts.limit ?? 0,
    keys_only: opts.keysOnly ?? false,
    ...(opts.maxCreate !== undefined ? { max_create_revision: opts.maxCreate.toString() } : {}),
  };
}

/** A keys-only read of the blockers, `limit` of them (0: all), created at or before `maxCreate`. */
export function blockersRange(b: Blockers, order: SortOrder, limit: number, maxCreate?: bigint): IRangeRequest {
  return queueRange(b.prefix, { order, limit, keysOnly: true, maxCreate });
}

/** Blocker keys from a range answer; undefined when a non-member was in a limited answer (read again unlimited). */
export function members(b: Blockers, kvs: IKeyValue[], limited: boolean): IKeyValue[] | undefined {
  const kept = kvs.filter((kv) => b.member(kv.key.toString()));
  return limited && kept.length < kvs.length ? undefined : kept;
}

/** Reads every blocker (unlimited), created at or before `maxCreate`, in `order`. */
export async function readBlockers(spec: QueueSpec, order: SortOrder, maxCreate?: bigint, signal?: AbortSignal) {
  const { ctx, blockers } = spec;
  const res = await ctx.resilience.run(
    `${spec.what}: read queue`,
    () => ctx.client.kv.range(blockersRange(blockers, order, 0, maxCreate)),
    { idempotent: true, signal },
  );
  return { kvs: members(blockers, res.kvs, false) ?? [], revision: BigInt(res.header.revision) };
}
