/**
 * Leadership: a won campaign. It is my key in the election's queue (lowest create
 * revision), and stays valid exactly while that key exists with the same create
 * revision: while my key exists nobody else's key can be lower, because every new key
 * gets a higher revision.
 * @module
 */
import type { CoordContext } from '../context.js';
import { InvalidArgumentError, NotLeaderError, withoutStack } from '../errors.js';
import { createRevisionIs } from '../keys.js';
import type { Session } from '../lease/session.js';
import { Hold } from '../queue/hold.js';
import type { Turn } from '../queue/spec.js';
import type { TraceSpan } from '../telemetry.js';

/** What a leadership needs from its election. @internal */
export interface LeadershipDeps {
  readonly ctx: CoordContext;
  /** The election's name (for events). */
  readonly name: string;
  /** For messages, e.g. 'election jobs/nightly'. */
  readonly what: string;
  readonly session: Session;
  /** Lets the next campaign of this name on this session in (once my key is gone). */
  readonly exitLine: () => void;
}

/** A won campaign. Create with `election.campaign()`. */
export class Leadership extends Hold implements AsyncDisposable {
  /** My full etcd key, `<namespace><name>/<leaseId hex>`. */
  declare readonly key: string;
  /** The fencing token: my key's create revision. Every new leader has a larger one. */
  declare readonly token: bigint;
  /**
   * Aborted when this leadership ends: with the session's `SessionLostError` when the
   * session is lost, with {@link NotLeaderError} on `resign()` or when my key is deleted
   * by someone else. Made on first read; read after the end, it is already aborted with
   * the same reason.
   */
  override get signal(): AbortSignal {
    return super.signal;
  }
  private readonly name: string;
  private currentValue: string;
  private resigning: Promise<void> | undefined;
  private readonly span: TraceSpan | undefined;

  /** @internal use `election.campaign()`. */
  constructor(deps: LeadershipDeps, turn: Turn, value: string) {
    super({ ...deps, key: turn.key, token: turn.token, revision: turn.revision });
    this.name = deps.name;
    this.currentValue = value;
    this.span = deps.ctx.trace('election.lead', {
      name: deps.name,
      kind: 'election',
      token: `${turn.token}`,
      key: turn.key,
    });
    this.watchForLoss(
      () => new NotLeaderError(`${this.what}: no longer the leader: my key ${this.key} was deleted or replaced`),
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
      throw new InvalidArgumentError(`${this.what}: proclaim(value): value must be a string, got ${typeof value}`);
    }
    this.throwIfEnded();
    const { ctx, session, what } = this;
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
      this.end(() => err, true);
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
    this.end(() => reason, false);
  }

  /** @internal */
  protected lost(reason: unknown): void {
    this.end(() => reason, true);
  }

  private throwIfEnded(): void {
    if (this.ended) {
      throw new NotLeaderError(`${this.what}: no longer the leader`, { cause: this.reason() });
    }
  }

  private async doResign(): Promise<void> {
    this.end(() => withoutStack(() => new NotLeaderError(`${this.what}: resigned`)), false);
    try {
      await this.leaveQueue();
    } finally {
      // Even if the delete failed: the next join on this session finds the key stale and removes it.
      this.exitLine();
    }
  }

  /** Ends the leadership (once); `keyGone`: my key no longer exists, so the line may move on. */
  private end(makeReason: () => unknown, keyGone: boolean): void {
    if (this.endHold(makeReason)) {
      if (keyGone) this.span?.lose(this.reason());
      else this.span?.end();
      this.ctx.emit({
        type: 'leadership.ended',
        name: this.name,
        holdMs: performance.now() - this.heldSince,
        reason: keyGone ? 'lost' : 'resigned',
      });
    }
    if (keyGone) this.exitLine();
  }
}
