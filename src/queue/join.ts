/**
 * Joining a queue in one transaction: put my key if absent (with my lease) and read the
 * first `limit` blockers in the same round trip. Uncontended, that is the whole acquire.
 * @module
 */
import { SortOrder } from 'etcd3';
import { SessionLostError } from '../errors.js';
import { createRevisionIs } from '../keys.js';
import type { Session } from '../lease/session.js';
import { leave } from './leave.js';
import { blockersRange, members, readBlockers } from './range.js';
import type { QueueSpec } from './spec.js';

/** Keys whose tokens were handed out, per session: a key found under them again is stale. */
const handedOut = new WeakMap<Session, Map<string, bigint>>();

/** Records that `token` of `key` was handed out on `session` (a later join that finds it removes it). */
export function markHandedOut(session: Session, key: string, token: bigint): void {
  let tokens = handedOut.get(session);
  if (!tokens) {
    tokens = new Map();
    handedOut.set(session, tokens);
  }
  tokens.set(key, token);
}

/**
 * Forgets a hand-out once its key is known to be gone (released, or deleted by the
 * guarded leave): only keys whose release failed need remembering, and a session that
 * uses many lock names must not keep an entry per name for its whole life.
 */
export function forgetHandedOut(session: Session, key: string, token: bigint): void {
  const tokens = handedOut.get(session);
  if (tokens?.get(key) === token) tokens.delete(key);
}

/** The outcome of joining: my token, whether my turn came at once, else the nearest blockers ahead. */
export interface Joined {
  readonly token: bigint;
  readonly revision: bigint;
  readonly ready: boolean;
  /** When not ready and my key was new: the `limit` nearest blockers ahead of me, to watch at once. */
  readonly ahead?: string[];
  /** The value my key already had, when it existed. */
  readonly found?: Buffer;
  /**
   * Limit 1 and my key new: the join's range counted every key under the blockers'
   * prefix, and `ahead[0]` was the only one besides mine. Its delete is then my turn (`wait.ts` watches both
   * keys in one watch instead of reading again).
   */
  readonly sole?: boolean;
}

/**
 * Joins the queue in one transaction. A new key is the newest in the queue, so the same
 * round trip reads the `limit` blockers just below it: whether my turn is free, and if
 * not, exactly the keys to watch.
 */
export async function join(spec: QueueSpec): Promise<Joined> {
  const { ctx, session, blockers } = spec;
  const key = Buffer.from(spec.key);
  const ahead = blockersRange(blockers, SortOrder.Ascend, blockers.limit);
  const newest = blockersRange(blockers, SortOrder.Descend, blockers.limit + 1);
  const stale = handedOut.get(session)?.get(spec.key);
  for (;;) {
    const res = await ctx.resilience.run(
      `${spec.what}: join queue`,
      () =>
        ctx.client.kv.txn({
          compare: [createRevisionIs(key, 0n)],
          success: [
            { request_put: { key, value: spec.value, lease: session.leaseIdDecimal } },
            { request_range: newest },
          ],
          failure: [{ request_range: { key } }, { request_range: ahead }],
        }),
      { idempotent: true },
    );
    const revision = BigInt(res.header.revision);
    const mine = res.succeeded ? undefined : res.responses[0].response_range.kvs[0];
    if (mine && BigInt(mine.lease) !== BigInt(session.leaseIdDecimal)) {
      throw new SessionLostError(
        `${spec.what}: my key is held by another lease; is the session shared across processes?`,
      );
    }
    const token = mine ? BigInt(mine.create_revision) : revision;
    if (mine && stale !== undefined && token <= stale) {
      // Left behind by an earlier holder on this session whose release failed: remove it, join afresh.
      await leave(ctx, spec.what, spec.key, token);
      continue;
    }
    if (!mine) {
      let below = members(blockers, res.responses[1].response_range.kvs, true);
      if (!below) below = (await readBlockers(spec, SortOrder.Descend, token - 1n)).kvs;
      const window = below.filter((kv) => BigInt(kv.create_revision) < token).slice(0, blockers.limit);
      const ready = window.length < blockers.limit;
      if (ready) return { token, revision, ready };
      // The limited range's count is of every key under the blockers' prefix, all of them
      // older than my new key; mine among them when my key lies under that prefix (not a
      // reader's, whose blockers are the writers). One other key is the only one ahead.
      const others = Number(res.responses[1].response_range.count) - (spec.key.startsWith(blockers.prefix) ? 1 : 0);
      const sole = blockers.limit === 1 && others === 1;
      return { token, revision, ready, ahead: window.map((kv) => kv.key.toString()), sole };
    }
    let first = members(blockers, res.responses[1].response_range.kvs, true);
    if (!first) first = (await readBlockers(spec, SortOrder.Ascend)).kvs.slice(0, blockers.limit);
    const before = first.filter((kv) => BigInt(kv.create_revision) < token).length;
    return { token, revision, ready: before < blockers.limit, found: mine.value };
  }
}
