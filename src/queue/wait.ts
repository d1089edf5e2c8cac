/**
 * Waiting for the turn, herd-free: a waiter watches only the `limit` nearest blockers
 * ahead of it (for a mutex: its predecessor), from the read's header revision + 1 (a
 * watch that starts in the past joins etcd's unsynced group, ~90 ms late), then reads
 * again. The turn is reached exactly when one of those keys goes, so nothing is missed.
 * Every read after a wait is guarded by `CreateRevision(myKey) == token`: if my key
 * vanished while I waited (lease expired, key deleted) the wait fails (etcd #11456).
 * @module
 */
import { SortOrder } from 'etcd3';
import type { CoordContext } from '../context.js';
import { CoordinationError, SessionLostError } from '../errors.js';
import { createRevisionIs } from '../keys.js';
import { persist } from '../persist.js';
import { settleOnWatch } from '../watch-settle.js';
import { lockDelayCheck, type TurnCheck } from './lock-delay.js';
import { blockersRange, members, readBlockers } from './range.js';
import type { QueueSpec } from './spec.js';

/** Reads the `limit` nearest blockers ahead of me, guarded by my key still being mine. */
export async function nearestAhead(spec: QueueSpec, token: bigint, signal: AbortSignal) {
  const { ctx, blockers } = spec;
  const key = Buffer.from(spec.key);
  const res = await ctx.resilience.run(
    `${spec.what}: read queue`,
    () =>
      ctx.client.kv.txn({
        compare: [createRevisionIs(key, token)],
        success: [{ request_range: blockersRange(blockers, SortOrder.Descend, blockers.limit, token - 1n) }],
        failure: [],
      }),
    { idempotent: true, signal },
  );
  if (!res.succeeded) throw myKeyGone(spec);
  let ahead = members(blockers, res.responses[0].response_range.kvs, true);
  if (!ahead) ahead = (await readBlockers(spec, SortOrder.Descend, token - 1n, signal)).kvs.slice(0, blockers.limit);
  return { ahead: ahead.map((kv) => kv.key.toString()), revision: BigInt(res.header.revision) };
}

/**
 * Resolves 'deleted' when any of `keys` is deleted at or after `from`, 'compacted' when
 * the watch cannot tell (compaction). With `early`, resolves 'late' as soon as etcd registers a
 * watch whose start revision has already passed: such a watch joins etcd's unsynced
 * group and would deliver up to 100 ms late, so reading the queue again is faster.
 */
export function anyDeleted(
  ctx: CoordContext,
  keys: string[],
  from: bigint,
  signal: AbortSignal,
  early: boolean,
): Promise<'deleted' | 'late' | 'compacted'> {
  const specs = keys.map((key) => ({ key, startRevision: from, noPut: true }));
  return settleOnWatch(ctx.watch, specs, signal, ({ key }, settle) => ({
    onEvents: (events) => events.some((e) => e.type === 'delete') && settle.resolve('deleted'),
    onConnected: (revision) => early && revision >= from && settle.resolve('late'),
    onCompacted: () => settle.resolve('compacted'),
    onCanceled: (reason) =>
      settle.reject(new CoordinationError(`watch of ${String(key)} cancelled by etcd: ${reason}`)),
  }));
}

/**
 * The turn after the one key ahead of me (the join proved it the only one, `sole`) is
 * deleted, proven without a read: one watch covers both keys (the key range between
 * them, deletes only), and etcd delivers one watcher's events in revision order. So when
 * the predecessor's delete at revision `r` arrives and no delete of my key came at or
 * before `r`, my key was alive at `r` with nobody ahead: the turn is mine at `r`.
 * Resolves that revision; rejects when my key is deleted first; resolves undefined when
 * the watch cannot tell (a start in the past, a compaction, a cancel, a broken stream)
 * and the caller reads as usual.
 */
function soleAheadGone(spec: QueueSpec, ahead: string, from: bigint, signal: AbortSignal): Promise<bigint | undefined> {
  const mine = spec.key;
  const [low, high] = Buffer.compare(Buffer.from(ahead), Buffer.from(mine)) < 0 ? [ahead, mine] : [mine, ahead];
  const range = { key: low, rangeEnd: Buffer.concat([Buffer.from(high), Buffer.from([0])]), startRevision: from };
  return settleOnWatch<bigint | undefined>(spec.ctx.watch, [{ ...range, noPut: true }], signal, (_, settle) => ({
    onEvents: (events) => {
      if (events.some((e) => e.key === mine)) return settle.reject(myKeyGone(spec));
      const gone = events.find((e) => e.key === ahead);
      if (gone) settle.resolve(gone.modRevision);
    },
    onConnected: (revision) => revision >= from && settle.resolve(undefined),
    onCompacted: () => settle.resolve(undefined),
    onCanceled: () => settle.resolve(undefined),
    onDisconnected: () => settle.resolve(undefined),
  }));
}

/** The error of a wait whose key was deleted: the session's reason when it went with it. */
function myKeyGone(spec: QueueSpec): unknown {
  return spec.session.isAlive
    ? new SessionLostError(`${spec.what}: my key ${spec.key} was deleted while waiting`)
    : spec.session.signal.reason;
}

/**
 * {@link nearestAhead}, retried while etcd is unavailable (a restart, a leader change, an
 * open breaker): a waiter whose key and session are still alive keeps its place and
 * reads again, instead of failing the wait. `signal` ends it (caller, timeout, session).
 */
async function readAhead(spec: QueueSpec, token: bigint, signal: AbortSignal) {
  const read = await persist(signal, spec.ctx.logger('queue'), `${spec.what}: read queue`, () =>
    nearestAhead(spec, token, signal),
  );
  if (read === undefined) throw signal.reason;
  return read;
}

/**
 * Waits herd-free until fewer than `limit` blockers are ahead of my key. `first` is the
 * window read by the join (watched at once); every later read is guarded by my key.
 * With `lockDelayMs` > 0, a turn reached because a predecessor's key went with its lease
 * is taken only `lockDelayMs` later (`lock-delay.ts`); 0 costs nothing.
 */
export async function awaitTurn(
  spec: QueueSpec,
  token: bigint,
  signal: AbortSignal,
  first: { ahead: string[]; revision: bigint; sole?: boolean },
  lockDelayMs = 0,
): Promise<bigint> {
  if (first.sole && lockDelayMs === 0 && first.ahead.length === 1) {
    const turn = await soleAheadGone(spec, first.ahead[0], first.revision + 1n, signal);
    if (turn !== undefined) return turn;
  }
  let early = true; // one early re-read per wait, so a busy etcd cannot make it poll
  let window: { ahead: string[]; revision: bigint } | undefined = first;
  let check: TurnCheck | undefined;
  for (;;) {
    const { ahead, revision } = window ?? (await readAhead(spec, token, signal));
    window = undefined;
    if (ahead.length < spec.blockers.limit) {
      if (!check || !(await check(ahead, revision))) return revision;
      check = undefined; // waited: read again (guarded by my key), then take the turn
      continue;
    }
    const outcome = await anyDeleted(spec.ctx, ahead, revision + 1n, signal, early);
    if (outcome === 'late') early = false;
    if (lockDelayMs > 0) check = lockDelayCheck(spec, lockDelayMs, ahead, outcome, signal);
  }
}
