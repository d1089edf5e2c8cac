/**
 * The waiting queue under every lock, semaphore, read-write lock and election.
 *
 * Each contender owns one key under the queue prefix, attached to its session's lease;
 * the order is the keys' create revisions (Go `concurrency` layout). A contender may
 * proceed while fewer than `limit` of its blockers (keys in `blockers.prefix` accepted
 * by `blockers.member`) have a lower create revision. A mutex is limit 1 over all keys;
 * a semaphore is limit N; a reader is limit 1 over the writers' keys.
 *
 * - Joining is one transaction: put my key if absent (with my lease) and read the first
 *   `limit` blockers in the same round trip. Uncontended, that is the whole acquire.
 * - A waiter watches only the `limit` nearest blockers ahead of it (for a mutex: its
 *   predecessor), from the read's header revision + 1 (a watch that starts in the past
 *   joins etcd's unsynced group, ~90 ms late), then reads again: FIFO, no thundering herd.
 *   The turn is reached exactly when one of those keys goes, so nothing is missed.
 * - Every read after a wait is guarded by `CreateRevision(myKey) == token`: if my key
 *   vanished while I waited (lease expired, key deleted) the wait fails (etcd #11456).
 * - A wait that is aborted, times out or fails deletes my key (guarded by its create
 *   revision, etcd #22082) before it rejects: no orphan stays in the queue.
 * @module
 */
import { CompareResult, CompareTarget, type IKeyValue, type IRangeRequest, SortOrder, SortTarget } from 'etcd3';
import type { CoordContext } from '../context.js';
import { CoordinationError, LockTimeoutError, SessionLostError } from '../errors.js';
import { prefixEnd } from '../keys.js';
import type { Session } from '../lease/session.js';
import { linkSignals } from '../signals.js';

/** Which keys can keep a contender waiting. */
export interface Blockers {
  /** Every blocker's key starts with this. */
  readonly prefix: string;
  /** A contender proceeds while fewer than this many blockers are ahead of it. */
  readonly limit: number;
  /** Whether a key in the range counts (e.g. direct children only). */
  readonly member: (key: string) => boolean;
}

/** One contender's place in a queue. */
export interface QueueSpec {
  readonly ctx: CoordContext;
  /** For messages, e.g. 'lock jobs/nightly'. */
  readonly what: string;
  /** My full key. */
  readonly key: string;
  readonly value: Buffer;
  readonly session: Session;
  readonly blockers: Blockers;
}

/** A reached turn: my key, its create revision (the fencing token), and the revision it was seen at. */
export interface Turn {
  readonly key: string;
  readonly token: bigint;
  readonly revision: bigint;
  /** The value my key already had when the join found it (left by an earlier wait); undefined when the join created it. */
  readonly found?: Buffer;
}

/** How to wait. */
export interface WaitOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** false: give up (and leave no key) instead of waiting. */
  wait: boolean;
  /** Called once my key is in the queue (for telemetry: the position at join). */
  onJoin?: (joined: JoinInfo) => void;
}

/** What the join saw: my token, the revision of the join, whether my turn was free at once. */
export interface JoinInfo {
  readonly token: bigint;
  readonly revision: bigint;
  readonly ready: boolean;
}

/** Keys whose tokens were handed out, per session: a key found under them again is stale. */
const handedOut = new WeakMap<Session, Map<string, bigint>>();

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

function blockersRange(b: Blockers, order: SortOrder, limit: number, maxCreate?: bigint): IRangeRequest {
  return queueRange(b.prefix, { order, limit, keysOnly: true, maxCreate });
}

/** Blocker keys from a range answer; undefined when a non-member was in a limited answer (read again unlimited). */
function members(b: Blockers, kvs: IKeyValue[], limited: boolean): IKeyValue[] | undefined {
  const kept = kvs.filter((kv) => b.member(kv.key.toString()));
  return limited && kept.length < kvs.length ? undefined : kept;
}

async function readBlockers(spec: QueueSpec, order: SortOrder, maxCreate?: bigint, signal?: AbortSignal) {
  const { ctx, blockers } = spec;
  const res = await ctx.resilience.run(
    `${spec.what}: read queue`,
    () => ctx.client.kv.range(blockersRange(blockers, order, 0, maxCreate)),
    { idempotent: true, signal },
  );
  return { kvs: members(blockers, res.kvs, false) ?? [], revision: BigInt(res.header.revision) };
}

/** The outcome of joining: my token, whether my turn came at once, else the nearest blockers ahead. */
interface Joined {
  readonly token: bigint;
  readonly revision: bigint;
  readonly ready: boolean;
  /** When not ready and my key was new: the `limit` nearest blockers ahead of me, to watch at once. */
  readonly ahead?: string[];
  /** The value my key already had, when it existed. */
  readonly found?: Buffer;
}

/**
 * Joins the queue in one transaction. A new key is the newest in the queue, so the same
 * round trip reads the `limit` blockers just below it: whether my turn is free, and if
 * not, exactly the keys to watch.
 */
async function join(spec: QueueSpec): Promise<Joined> {
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
          compare: [{ key, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: 0 }],
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
      return { token, revision, ready, ahead: ready ? undefined : window.map((kv) => kv.key.toString()) };
    }
    let first = members(blockers, res.responses[1].response_range.kvs, true);
    if (!first) first = (await readBlockers(spec, SortOrder.Ascend)).kvs.slice(0, blockers.limit);
    const before = first.filter((kv) => BigInt(kv.create_revision) < token).length;
    return { token, revision, ready: before < blockers.limit, found: mine.value };
  }
}

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

/** Reads the `limit` nearest blockers ahead of me, guarded by my key still being mine. */
async function nearestAhead(spec: QueueSpec, token: bigint, signal: AbortSignal) {
  const { ctx, blockers } = spec;
  const key = Buffer.from(spec.key);
  const res = await ctx.resilience.run(
    `${spec.what}: read queue`,
    () =>
      ctx.client.kv.txn({
        compare: [
          { key, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: token.toString() },
        ],
        success: [{ request_range: blockersRange(blockers, SortOrder.Descend, blockers.limit, token - 1n) }],
        failure: [],
      }),
    { idempotent: true, signal },
  );
  if (!res.succeeded) {
    throw spec.session.isAlive
      ? new SessionLostError(`${spec.what}: my key ${spec.key} was deleted while waiting`)
      : spec.session.signal.reason;
  }
  let ahead = members(blockers, res.responses[0].response_range.kvs, true);
  if (!ahead) ahead = (await readBlockers(spec, SortOrder.Descend, token - 1n, signal)).kvs.slice(0, blockers.limit);
  return { ahead: ahead.map((kv) => kv.key.toString()), revision: BigInt(res.header.revision) };
}

/**
 * Resolves 'deleted' when any of `keys` is deleted at or after `from`, or when the watch
 * cannot tell (compaction). With `early`, resolves 'late' as soon as etcd registers a
 * watch whose start revision has already passed: such a watch joins etcd's unsynced
 * group and would deliver up to 100 ms late, so reading the queue again is faster.
 */
function anyDeleted(
  ctx: CoordContext,
  keys: string[],
  from: bigint,
  signal: AbortSignal,
  early: boolean,
): Promise<'deleted' | 'late'> {
  return new Promise((resolve, reject) => {
    const handles = keys.map((key) =>
      ctx.watch.watch(
        { key, startRevision: from },
        {
          onEvents: (events) => events.some((e) => e.type === 'delete') && done(),
          onConnected: (revision) => early && revision >= from && done(undefined, 'late'),
          onCompacted: () => done(),
          onCanceled: (reason) => done(new CoordinationError(`watch of ${key} cancelled by etcd: ${reason}`)),
        },
      ),
    );
    const onAbort = () => done(signal.reason);
    function done(err?: unknown, outcome: 'deleted' | 'late' = 'deleted'): void {
      for (const h of handles) h.cancel();
      signal.removeEventListener('abort', onAbort);
      if (err === undefined) resolve(outcome);
      else reject(err);
    }
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Waits herd-free until fewer than `limit` blockers are ahead of my key. `first` is the
 * window read by the join (watched at once); every later read is guarded by my key.
 */
async function awaitTurn(
  spec: QueueSpec,
  token: bigint,
  signal: AbortSignal,
  first: { ahead: string[]; revision: bigint },
): Promise<bigint> {
  let early = true; // one early re-read per wait, so a busy etcd cannot make it poll
  let window: { ahead: string[]; revision: bigint } | undefined = first;
  for (;;) {
    const { ahead, revision } = window ?? (await nearestAhead(spec, token, signal));
    window = undefined;
    if (ahead.length < spec.blockers.limit) return revision;
    if ((await anyDeleted(spec.ctx, ahead, revision + 1n, signal, early)) === 'late') early = false;
  }
}

/**
 * Joins the queue and waits for the turn. Rejects with `signal.reason` when aborted,
 * {@link LockTimeoutError} after `timeoutMs`, the session's {@link SessionLostError} when it
 * is lost; in each case my key is deleted first. With `wait: false` resolves undefined
 * (leaving no key) when the turn is not free at once.
 */
export async function takeTurn(spec: QueueSpec, opts: WaitOptions): Promise<Turn | undefined> {
  const { session } = spec;
  const timeoutError = () => new LockTimeoutError(`${spec.what}: not acquired within ${opts.timeoutMs} ms`);
  const link = linkSignals(
    [session.signal, opts.signal],
    opts.timeoutMs !== undefined ? { ms: opts.timeoutMs, reason: timeoutError } : undefined,
  );
  const { signal } = link;
  const reason = () => {
    if (opts.signal?.aborted) return opts.signal.reason;
    if (session.signal.aborted) return session.signal.reason;
    if (link.timedOut) return timeoutError();
    return undefined;
  };
  let token: bigint | undefined;
  try {
    signal.throwIfAborted();
    session.throwIfLost();
    // Not abortable mid-flight: a put that lands after we gave up would orphan the key.
    const joined = await join(spec);
    token = joined.token;
    opts.onJoin?.(joined);
    signal.throwIfAborted();
    let revision = joined.revision;
    if (!joined.ready) {
      if (!opts.wait) {
        await leave(spec.ctx, spec.what, spec.key, token);
        return undefined;
      }
      revision = await awaitTurn(spec, token, signal, {
        ahead: joined.ahead ?? (await nearestAhead(spec, token, signal)).ahead,
        revision: joined.revision,
      });
    }
    session.throwIfLost();
    let tokens = handedOut.get(session);
    if (!tokens) {
      tokens = new Map();
      handedOut.set(session, tokens);
    }
    tokens.set(spec.key, token);
    return { key: spec.key, token, revision, found: joined.found };
  } catch (err) {
    const why = reason() ?? err;
    if (token !== undefined) {
      await leave(spec.ctx, spec.what, spec.key, token).catch((e) =>
        spec.ctx.logger('queue').warn({ err: e, key: spec.key }, 'could not delete my key; it expires with the lease'),
      );
    }
    throw why;
  } finally {
    link.unlink();
  }
}
