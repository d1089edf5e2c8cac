/**
 * Double barrier (Go `recipes.DoubleBarrier`, Curator's `DistributedDoubleBarrier`):
 * `count` members enter together and leave together.
 *
 * Keys, under `<namespace><name>/`:
 * - `waiters/<lease hex>`: one per member, on its session's lease (so one member per
 *   session; a crashed member's key goes with its lease), valued with an owner record
 *   (`coord.inspect()` lists the members as the queue `<name>/waiters`);
 * - `ready`: put by the `count`th member to enter, on its lease; its create revision
 *   marks the round: the round's members are the waiter keys created before it.
 *
 * Enter: one transaction creates my key if neither it nor `ready` exists and counts the
 * waiters. The `count`th puts `ready`; the others watch for it from the transaction's
 * revision + 1. A member arriving while `ready` exists waits until that round's members
 * are gone and enters the next round (a `ready` whose round is gone was left by a member
 * that died while leaving: it is deleted, guarded by its create revision).
 *
 * Leave: one transaction deletes my key and reads the round's remaining members; I wait
 * until the watch has seen each of them deleted (left, or expired with its lease), then
 * delete `ready`, guarded by its create revision. Every member that sees the round empty
 * tries that delete, so `ready` goes even when the last member dies while leaving.
 * @module
 */
import type { IRangeRequest } from 'etcd3';
import type { CoordContext } from '../context.js';
import { CoordinationError, InvalidArgumentError, SessionLostError } from '../errors.js';
import { createRevisionIs, validateName } from '../keys.js';
import type { Session } from '../lease/session.js';
import { encodeOwner } from '../lock/owner.js';
import { leave } from '../queue/leave.js';
import { queueRange } from '../queue/range.js';
import { linkSignals } from '../signals.js';
import { type BarrierOptions, type BarrierWaitOptions, checkBarrierOptions, checkWaitOptions } from './options.js';
import { watchUntil } from './watch-until.js';

/** The largest `count` of a double barrier. */
export const MAX_DOUBLE_BARRIER_COUNT = 10_000;

/** Member keys of double barriers in this process, per session: one member per session and barrier. */
const members = new WeakMap<Session, Set<string>>();

/** One member's place: my key, its create revision, and the create revision of the round's `ready`. */
interface Member {
  readonly session: Session;
  readonly key: string;
  readonly token: bigint;
  readonly round: bigint;
}

/**
 * One member of a double barrier. Create with `coord.doubleBarrier(name, count)`, one
 * object (and one session) per member. Nothing is written until {@link DoubleBarrier.enter}.
 */
export class DoubleBarrier {
  /** The barrier's name (without the namespace). */
  readonly name: string;
  /** How many members enter (and leave) together. */
  readonly count: number;

  private readonly ctx: CoordContext;
  private readonly what: string;
  private readonly session: Session | undefined;
  private readonly waiters: string;
  private readonly ready: string;
  private member: Member | undefined;
  /** The enter() or leave() under way, and how to stop it. */
  private busy: { stop: AbortController; done: Promise<unknown> } | undefined;

  /**
   * @internal use `coord.doubleBarrier()`.
   * @throws InvalidArgumentError for a bad name, count or options (nothing is written).
   */
  constructor(ctx: CoordContext, name: string, count: number, options?: BarrierOptions) {
    this.name = validateName(name, 'double barrier name');
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_DOUBLE_BARRIER_COUNT) {
      throw new InvalidArgumentError(
        `double barrier count must be a whole number from 1 to ${MAX_DOUBLE_BARRIER_COUNT}, got ${String(count)}`,
      );
    }
    this.count = count;
    this.session = checkBarrierOptions(options).session;
    this.ctx = ctx;
    this.what = `double barrier ${name}`;
    this.waiters = `${ctx.namespace}${name}/waiters/`;
    this.ready = `${ctx.namespace}${name}/ready`;
  }

  /** True between a resolved {@link enter} and the start of {@link leave}. */
  get entered(): boolean {
    return this.member !== undefined && this.busy === undefined;
  }

  /**
   * Enters: resolves once `count` members have entered. Rejects with `signal.reason`
   * when aborted, SessionLostError when the session is lost, ClosedError when the
   * coordinator closes; in each case my key is deleted first. Rejects with
   * InvalidArgumentError when this session already has a member in this barrier, and
   * with CoordinationError when more than `count` members tried to enter one round.
   * A member that arrives while a round is under way enters the next round.
   */
  enter(options: BarrierWaitOptions = {}): Promise<void> {
    return this.run(options, 'enter', (signal) => this.doEnter(signal));
  }

  /**
   * Leaves: deletes my key and resolves once every member of the round has left (or its
   * lease ended). Rejects with `signal.reason` when aborted, SessionLostError when the
   * session is lost, ClosedError when the coordinator closes; my key is gone in each case.
   */
  leave(options: BarrierWaitOptions = {}): Promise<void> {
    return this.run(options, 'leave', (signal) => this.doLeave(signal));
  }

  /** Gives up: stops an `enter()` or `leave()` under way and deletes my key, without waiting for others. */
  async [Symbol.asyncDispose](): Promise<void> {
    const busy = this.busy;
    if (busy) {
      busy.stop.abort(new CoordinationError(`${this.what}: disposed`));
      await busy.done.catch(() => {});
    }
    const member = this.member;
    this.member = undefined;
    if (member) await this.forget(member.session, member.key, member.token);
  }

  private async run(options: BarrierWaitOptions, op: string, fn: (signal: AbortSignal) => Promise<void>) {
    const { signal } = checkWaitOptions(options);
    this.ctx.assertOpen();
    if (this.busy) throw new CoordinationError(`${this.what}: ${op}() while another enter() or leave() is under way`);
    if ((op === 'enter') !== (this.member === undefined)) {
      throw new CoordinationError(`${this.what}: ${op}() ${op === 'enter' ? 'after enter()' : 'before enter()'}`);
    }
    const stop = new AbortController();
    const link = linkSignals([signal, this.ctx.closed, stop.signal]);
    const done = fn(link.signal);
    this.busy = { stop, done };
    try {
      await done;
    } finally {
      this.busy = undefined;
      link.unlink();
    }
  }

  private async doEnter(outer: AbortSignal): Promise<void> {
    const { ctx, what } = this;
    const session = this.session ?? (await ctx.defaultSession(outer));
    session.throwIfLost();
    const key = `${this.waiters}${session.leaseId}`;
    let mine = members.get(session);
    if (mine?.has(key)) {
      throw new InvalidArgumentError(
        `${what}: this session already has a member in it; give each member its own session (coord.newSession())`,
      );
    }
    if (!mine) {
      mine = new Set();
      members.set(session, mine);
    }
    mine.add(key);
    const link = linkSignals([outer, session.signal]);
    const signal = link.signal;
    let token: bigint | undefined;
    try {
      const joined = await this.join(session, key, signal);
      token = joined.token;
      signal.throwIfAborted();
      let round = joined.round;
      if (round === undefined && joined.members > this.count) {
        throw new CoordinationError(`${what}: ${joined.members} members entered one round, more than ${this.count}`);
      }
      if (round === undefined && joined.members === this.count) round = await this.putReady(session, key, token);
      round ??= await this.awaitReady(session, key, token, joined.revision, signal);
      this.member = { session, key, token, round };
    } catch (err) {
      if (token !== undefined) await this.forget(session, key, token);
      else mine.delete(key);
      throw signal.aborted ? signal.reason : err;
    } finally {
      link.unlink();
    }
  }

  /**
   * Creates my key if neither it nor `ready` exists, counting the members (mine
   * included). Not abortable mid-flight: a create that lands after we gave up would be
   * left behind. Waits out a round under way; deletes a `ready` left by a finished one.
   */
  private async join(session: Session, myKey: string, signal: AbortSignal) {
    const { ctx, what } = this;
    const key = Buffer.from(myKey);
    const ready = Buffer.from(this.ready);
    const oldest = this.waitersRange({ limit: 1 });
    for (;;) {
      signal.throwIfAborted();
      const res = await ctx.resilience.run(
        `${what}: enter`,
        () =>
          ctx.client.kv.txn({
            compare: [createRevisionIs(key, 0n), createRevisionIs(ready, 0n)],
            success: [
              { request_put: { key, value: encodeOwner(ctx.owner), lease: session.leaseIdDecimal } },
              { request_range: oldest },
            ],
            failure: [{ request_range: { key } }, { request_range: { key: ready } }, { request_range: oldest }],
          }),
        { idempotent: true },
      );
      const revision = BigInt(res.header.revision);
      if (res.succeeded) {
        return { token: revision, revision, members: Number(res.responses[1].response_range.count) };
      }
      const [me, readyKv] = [res.responses[0].response_range.kvs[0], res.responses[1].response_range.kvs[0]];
      const waiters = res.responses[2].response_range;
      const round = readyKv ? BigInt(readyKv.create_revision) : undefined;
      if (me) {
        // My own create, retried after it landed (or left here by this session earlier): keep it.
        return { token: BigInt(me.create_revision), revision, members: Number(waiters.count), round };
      }
      if (round === undefined) continue;
      const first = waiters.kvs[0];
      if (!first || BigInt(first.create_revision) > round) {
        // The round is over but its last member did not delete `ready` (it died leaving).
        await leave(ctx, what, this.ready, round);
        continue;
      }
      await this.roundOver(round, revision, signal);
    }
  }

  /** Waits until no member of the round marked by `round` is left (a late arrival's wait). */
  private roundOver(round: bigint, revision: bigint, signal: AbortSignal): Promise<void> {
    const { ctx, what } = this;
    const range = this.waitersRange({ maxCreate: round - 1n, countOnly: true });
    return watchUntil(
      ctx,
      {
        what,
        key: this.waiters,
        prefix: true,
        first: { done: false, revision },
        read: async (s) => {
          const res = await ctx.resilience.run(`${what}: read round`, () => ctx.client.kv.range(range), {
            idempotent: true,
            signal: s,
          });
          return { done: Number(res.count) === 0, revision: BigInt(res.header.revision) };
        },
        onEvents: (events) => (events.some((e) => e.type === 'delete') ? 'reread' : undefined),
      },
      signal,
    );
  }

  /** The `count`th member: puts `ready` on my lease while my key is mine. Resolves its create revision. */
  private async putReady(session: Session, myKey: string, token: bigint): Promise<bigint> {
    const { ctx, what } = this;
    const key = Buffer.from(myKey);
    const ready = Buffer.from(this.ready);
    const res = await ctx.resilience.run(
      `${what}: put ready`,
      () =>
        ctx.client.kv.txn({
          compare: [createRevisionIs(key, token), createRevisionIs(ready, 0n)],
          success: [{ request_put: { key: ready, value: Buffer.alloc(0), lease: session.leaseIdDecimal } }],
          failure: [{ request_range: { key, keys_only: true } }, { request_range: { key: ready, keys_only: true } }],
        }),
      { idempotent: true },
    );
    if (res.succeeded) return BigInt(res.header.revision);
    const [me, readyKv] = [res.responses[0].response_range.kvs[0], res.responses[1].response_range.kvs[0]];
    if (!me || BigInt(me.create_revision) !== token) throw this.lost(session, myKey);
    return BigInt(readyKv.create_revision);
  }

  /** Waits for `ready` to be put (from the join's revision + 1), while my key is mine. */
  private async awaitReady(
    session: Session,
    myKey: string,
    token: bigint,
    revision: bigint,
    signal: AbortSignal,
  ): Promise<bigint> {
    const { ctx, what } = this;
    const key = Buffer.from(myKey);
    const ready = Buffer.from(this.ready);
    let round: bigint | undefined;
    await watchUntil(
      ctx,
      {
        what,
        key: `${ctx.namespace}${this.name}/`,
        prefix: true,
        first: { done: false, revision },
        read: async (s) => {
          const res = await ctx.resilience.run(
            `${what}: read ready`,
            () =>
              ctx.client.kv.txn({
                compare: [createRevisionIs(key, token)],
                success: [{ request_range: { key: ready, keys_only: true } }],
                failure: [],
              }),
            { idempotent: true, signal: s },
          );
          if (!res.succeeded) throw this.lost(session, myKey);
          const kv = res.responses[0].response_range.kvs[0];
          if (kv) round = BigInt(kv.create_revision);
          return { done: kv !== undefined, revision: BigInt(res.header.revision) };
        },
        onEvents: (events) => {
          for (const e of events) {
            if (e.key === this.ready && e.type === 'put') {
              round = e.createRevision;
              return 'done';
            }
            if (e.key === myKey && e.type === 'delete') return 'reread';
          }
          return undefined;
        },
      },
      signal,
    );
    return round as bigint;
  }

  private async doLeave(outer: AbortSignal): Promise<void> {
    const { ctx, what } = this;
    const member = this.member as Member;
    const { session, round } = member;
    const link = linkSignals([outer, session.signal]);
    const signal = link.signal;
    const range = this.waitersRange({ maxCreate: round - 1n });
    try {
      signal.throwIfAborted();
      const key = Buffer.from(member.key);
      // Deletes my key (if still mine) and reads who of the round is left, in one round trip.
      const res = await ctx.resilience.run(
        `${what}: leave`,
        () =>
          ctx.client.kv.txn({
            compare: [createRevisionIs(key, member.token)],
            success: [{ request_delete_range: { key } }, { request_range: range }],
            failure: [{ request_range: range }],
          }),
        { idempotent: true },
      );
      this.member = undefined;
      members.get(session)?.delete(member.key);
      const left = new Set(res.responses[res.succeeded ? 1 : 0].response_range.kvs.map((kv) => kv.key.toString()));
      await watchUntil(
        ctx,
        {
          what,
          key: this.waiters,
          prefix: true,
          first: { done: left.size === 0, revision: BigInt(res.header.revision) },
          read: async (s) => {
            const again = await ctx.resilience.run(`${what}: read round`, () => ctx.client.kv.range(range), {
              idempotent: true,
              signal: s,
            });
            left.clear();
            for (const kv of again.kvs) left.add(kv.key.toString());
            return { done: left.size === 0, revision: BigInt(again.header.revision) };
          },
          onEvents: (events) => {
            for (const e of events) if (e.type === 'delete') left.delete(e.key);
            return left.size === 0 ? 'done' : undefined;
          },
        },
        signal,
      );
      // Everyone left: the round's `ready` goes (every member tries; the delete is guarded).
      await leave(ctx, what, this.ready, round);
    } catch (err) {
      if (this.member) {
        this.member = undefined;
        await this.forget(session, member.key, member.token);
      }
      throw signal.aborted ? signal.reason : err;
    } finally {
      link.unlink();
    }
  }

  /** Deletes my key (guarded by its create revision) and forgets it; a failure is logged (the key ends with its lease). */
  private async forget(session: Session, key: string, token: bigint): Promise<void> {
    members.get(session)?.delete(key);
    await leave(this.ctx, this.what, key, token).catch((err) => {
      if (session.isAlive)
        this.ctx.logger('barrier').warn({ err, key }, 'could not delete my key; it ends with the lease');
    });
  }

  private lost(session: Session, key: string): unknown {
    return session.isAlive
      ? new SessionLostError(`${this.what}: my key ${key} was deleted while waiting`)
      : session.signal.reason;
  }

  /** A keys-only read of the waiter keys, created at or before `maxCreate`, oldest first. */
  private waitersRange(opts: { limit?: number; maxCreate?: bigint; countOnly?: boolean }): IRangeRequest {
    const range = queueRange(this.waiters, { limit: opts.limit, keysOnly: true, maxCreate: opts.maxCreate });
    return opts.countOnly ? { ...range, count_only: true } : range;
  }
}
