/**
 * Who leads an election: the direct child of `<namespace><name>/` with the lowest create
 * revision (Go `concurrency.Election` layout). Shared by `Election.leader()` and
 * `Election.observe()`.
 * @module
 */
import type { IKeyValue } from 'etcd3';
import type { CoordContext } from '../context.js';
import { directChildren, queueRange } from '../queue/range.js';

/** The leader of an election, as `leader()` and `observe()` report it. */
export interface LeaderInfo {
  /** The value the leader proclaimed (UTF-8). */
  readonly value: string;
  /** The leader's full etcd key, `<namespace><name>/<leaseId hex>`. */
  readonly key: string;
  /** The leader's fencing token: its key's create revision. */
  readonly token: bigint;
}

/** The candidates of an election read at one revision, in create-revision order. */
export interface Candidates {
  readonly kvs: readonly LeaderInfo[];
  /** The header revision of the read. */
  readonly revision: bigint;
}

/** A candidate from a key-value pair. */
export function toLeaderInfo(kv: Pick<IKeyValue, 'key' | 'value' | 'create_revision'>): LeaderInfo {
  return { value: kv.value.toString(), key: kv.key.toString(), token: BigInt(kv.create_revision) };
}

/** True when two leader states are the same leader with the same value. */
export function sameLeader(a: LeaderInfo | undefined, b: LeaderInfo | undefined): boolean {
  return a?.key === b?.key && a?.token === b?.token && a?.value === b?.value;
}

async function range(ctx: CoordContext, what: string, prefix: string, limit: number, signal?: AbortSignal) {
  return ctx.resilience.run(`${what}: read candidates`, () => ctx.client.kv.range(queueRange(prefix, { limit })), {
    idempotent: true,
    signal,
  });
}

/** Every candidate (direct children of `prefix`), in create-revision order. */
export async function readCandidates(
  ctx: CoordContext,
  what: string,
  prefix: string,
  signal?: AbortSignal,
): Promise<Candidates> {
  const member = directChildren(prefix);
  const res = await range(ctx, what, prefix, 0, signal);
  return {
    kvs: res.kvs.filter((kv) => member(kv.key.toString())).map(toLeaderInfo),
    revision: BigInt(res.header.revision),
  };
}

/** The leader, in one read (two when the first key under the prefix belongs to a longer name). */
export async function readLeader(
  ctx: CoordContext,
  what: string,
  prefix: string,
  signal?: AbortSignal,
): Promise<LeaderInfo | undefined> {
  const res = await range(ctx, what, prefix, 1, signal);
  const first = res.kvs[0];
  if (!first) return undefined;
  if (directChildren(prefix)(first.key.toString())) return toLeaderInfo(first);
  return (await readCandidates(ctx, what, prefix, signal)).kvs[0];
}
