/**
 * Leadership: a won campaign. It is my key in the election's queue (lowest create
 * revision), and stays valid exactly while that key exists with the same create
 * revision: while my key exists nobody else's key can be lower, because every new key
 * gets a higher revision.
 * @module
 */
import type { ComparatorBuilder } from 'etcd3';
import type { CoordContext } from '../context.js';
import { InvalidArgumentError, NotLeaderError } from '../errors.js';
import { createRevisionIs, ifCreateRevisionIs } from '../keys.js';
import type { Session } from '../lease/session.js';
import { guardKey, type StopGuard } from '../queue/guard.js';
import { forgetHandedOut } from '../queue/join.js';
import { leave } from '../queue/leave.js';
import type { Turn } from '../queue/spec.js';
import type { TraceSpan } from '../telemetry.js';

/** What a leadership needs from its election. @internal */
export interface LeadershipDeps {
  readonly ctx: CoordContext;
  /** The election's name (for events). */
  readonly name: string;
  /** For messages, e.g. 'election jobs/nightly'. */
  readonly what: string;
  /** My key relative to the namespace (for `txn()` on `ctx.kv`). */
  readonly relativeKey: string;
  readonly session: Session;
  /** Lets the next campaign of this name on this session in (once my key is gone). */
  readonly exitLine: () => void;
}

/** A won campaign. Create with `election.campaign()`. */
export class Leadership implements AsyncDisposable {
  /** My full etcd key, `<namespace><name>/<leaseId hex>`. */
  readonly key: string;
  /** The fencing token: my key's create revision. Every new leader has a larger one. */
  readonly token: bigint;
  /**
   * Aborted when this leadership ends: with the session's `SessionLostError` when the
   * session is lost, with {@link NotLeaderError} on `resign()` or when my key is deleted
   * by someone else.
   */
  readonly signal: AbortSignal;
  private currentValue: string;
  private readonly controller = new AbortController();
  private readonly heldSince = performance.now();
  private resigning: Promise<void> | undefined;
  private lineExited = false;
  private stopGuard: StopGuard | undefined;
  private readonly span: TraceSpan | undefined;
  private readonly onSessionLost = () => this.end(this.deps.session.signal.reason, true);

  /** @internal use `election.campaign()`. */
  constructor(
    private readonly deps: LeadershipDeps,
    turn: Turn,
    value: string,
  ) {
    this.key = turn.key;
    this.token = turn.token;
    this.currentValue = value;
    this.signal = this.controller.signal;
    this.span = deps.ctx.trace('election.lead', {
      name: deps.name,
      kind: 'election',
      token: `${turn.token}`,
      key: turn.key,
    });
    const { session } = deps;
    if (!session.isAlive) {
      this.end(session.signal.reason, true);
      return;
    }
    session.signal.addEventListener('abort', this.onSessionLost, { once: true });
    this.stopGuard = guardKey(deps.ctx, deps.what, this.key, this.token, turn.revision + 1n, () =>
      this.end(
        session.isAlive
          ? new NotLeaderError(`${deps.what}: no longer the leader: my key ${this.key} was deleted or replaced`)
          : session.signal.reason,
        true,
      ),
    );
  }

  /** The value this leader proclaims (the campaign's value, or its last `proclaim()`). */
  get value(): string {
    return this.currentValue;
  }

  /**
   * Replaces the proclaimed value, guarded by my key's create revision, so observers see
   * it. Rejects with {@link NotLeaderError} (and aborts `signal`) when no longer the leader,
   * with {@link InvalidArgumentError} when `value` is not a string (nothing is written).
   */
  async proclaim(value: string): Promise<void> {
    if (typeof value !== 'string') {
      throw new InvalidArgumentError(`${this.deps.what}: proclaim(value): value must be a string, got ${typeof value}`);
    }
    this.throwIfEnded();
    const { ctx, session, what } = this.deps;
    const key = Buffer.from(this.key);
    const res = await ctx.resilience.run(
      `${what}: proclaim`,
      () =>
        ctx.client.kv.txn({
          compare: [createRevisionIs(key, this.token)],
          success: [{ request_put: { key, value: Buffer.from(value), lease: session.leaseIdDecimal } }],
          failure: [],
        }),
      { idempotent: true },
    );
    if (!res.succeeded) {
      const err = new NotLeaderError(`${what}: proclaim: no longer the leader (my key ${this.key} is gone)`);
      this.end(err, true);
      throw err;
    }
    this.currentValue = value;
  }

  /**
   * Gives up the leadership: aborts `signal`, then deletes my key guarded by its create
   * revision, so the next candidate takes over at once. Idempotent; resolves also when the
   * leadership was already lost. Rejects only if etcd cannot be reached (the key then
   * expires with the session, or is removed by the next campaign on it); call again to retry.
   */
  resign(): Promise<void> {
    this.resigning ??= this.doResign().catch((err) => {
      this.resigning = undefined;
      throw err;
    });
    return this.resigning;
  }

  /**
   * An etcd3 transaction builder on `coord.kv` that already carries
   * `Compare(CreateRevision(myKey) == token)`: its `then()` branch runs only while this
   * leadership holds. Add `.and(...)`, `.then(...)`, `.else(...)`, then `.commit()`.
   */
  txn(): ComparatorBuilder {
    return ifCreateRevisionIs(this.deps.ctx.kv, this.deps.relativeKey, this.token);
  }

  /** Same as {@link resign}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.resign();
  }

  /**
   * Aborts `signal` with `reason` but keeps my key until `resign()`: a LeaderJob stops its
   * task this way and resigns only after the task settled, so no new leader overlaps it.
   * @internal
   */
  relinquish(reason: unknown): void {
    this.end(reason, false);
  }

  private throwIfEnded(): void {
    if (this.signal.aborted) {
      throw new NotLeaderError(`${this.deps.what}: no longer the leader`, { cause: this.signal.reason });
    }
  }

  private async doResign(): Promise<void> {
    this.end(new NotLeaderError(`${this.deps.what}: resigned`), false);
    try {
      await leave(this.deps.ctx, this.deps.what, this.key, this.token);
      forgetHandedOut(this.deps.session, this.key, this.token);
    } finally {
      // Even if the delete failed: the next join on this session finds the key stale and removes it.
      this.exitLine();
    }
  }

  /** Ends the leadership (once); `keyGone`: my key no longer exists, so the line may move on. */
  private end(reason: unknown, keyGone: boolean): void {
    if (!this.signal.aborted) {
      this.deps.session.signal.removeEventListener('abort', this.onSessionLost);
      this.stopGuard?.();
      this.controller.abort(reason);
      if (keyGone) this.span?.lose(reason);
      else this.span?.end();
      this.deps.ctx.emit({
        type: 'leadership.ended',
        name: this.deps.name,
        holdMs: performance.now() - this.heldSince,
        reason: keyGone ? 'lost' : 'resigned',
      });
    }
    if (keyGone) this.exitLine();
  }

  private exitLine(): void {
    if (this.lineExited) return;
    this.lineExited = true;
    this.deps.exitLine();
  }
}
