/**
 * Barrier (Go `recipes.Barrier`): one key, `<namespace><name>`, exists while the barrier
 * is held; its value is an owner record (`owner`, `host`, `pid`, `since`). `wait()` resolves once it does not exist. Holding is create-if-absent on a
 * session's lease, so a crashed holder's barrier goes with its lease; releasing deletes
 * the key only while it is still the one this holder created (its create revision).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { CoordContext } from '../context.js';
import { ConflictError } from '../errors.js';
import { createRevisionIs, leaseHex, validateName } from '../keys.js';
import type { Session } from '../lease/session.js';
import { leave } from '../queue/leave.js';
import { linkSignals } from '../signals.js';
import { type BarrierOptions, type BarrierWaitOptions, checkBarrierOptions, checkWaitOptions } from './options.js';
import { watchUntil } from './watch-until.js';

/**
 * A barrier that holds others back until it is released. Create with
 * `coord.barrier(name)`. Nothing is written until {@link Barrier.hold}.
 */
export class Barrier {
  /** The barrier's name (without the namespace). */
  readonly name: string;
  /** The full etcd key, `<namespace><name>`: it exists while the barrier is held. */
  readonly key: string;

  private readonly ctx: CoordContext;
  private readonly what: string;
  private readonly session: Session | undefined;
  /** My hold: the session and the key's create revision. */
  private mine: { session: Session; token: bigint } | undefined;
  /** hold() and release() of this object run one after the other. */
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * @internal use `coord.barrier()`.
   * @throws InvalidArgumentError for a bad name or options (nothing is written).
   */
  constructor(ctx: CoordContext, name: string, options?: BarrierOptions) {
    this.name = validateName(name, 'barrier name');
    this.session = checkBarrierOptions(options).session;
    this.ctx = ctx;
    this.what = `barrier ${name}`;
    this.key = `${ctx.namespace}${name}`;
  }

  /** True while this object holds the barrier and its session is alive (as far as it knows). */
  get isHeld(): boolean {
    return this.mine?.session.isAlive === true;
  }

  /**
   * Raises the barrier: creates its key on the session's lease if it does not exist.
   * Resolves at once when this object already holds it. Rejects with ConflictError when
   * someone else holds it, SessionLostError when the session is lost.
   */
  hold(): Promise<void> {
    return this.serial(() => this.doHold());
  }

  /**
   * Lowers the barrier: deletes its key if it is still the one this object created, and
   * so lets every waiter go. Does nothing when not held. Safe to call twice.
   */
  release(): Promise<void> {
    return this.serial(() => this.doRelease());
  }

  /**
   * Waits until the barrier is not held (its key does not exist). Resolves at once when
   * it is not held now. Rejects with `signal.reason` when aborted, ClosedError when the
   * coordinator closes. Writes nothing.
   */
  async wait(options: BarrierWaitOptions = {}): Promise<void> {
    const { signal } = checkWaitOptions(options);
    const { ctx, what, key } = this;
    ctx.assertOpen();
    const link = linkSignals([signal, ctx.closed]);
    try {
      await watchUntil(
        ctx,
        {
          what,
          key,
          read: async (s) => {
            const res = await ctx.resilience.run(
              `${what}: read`,
              () => ctx.client.kv.range({ key: Buffer.from(key), count_only: true }),
              { idempotent: true, signal: s },
            );
            return { done: Number(res.count) === 0, revision: BigInt(res.header.revision) };
          },
          onEvents: (events) => (events.some((e) => e.type === 'delete') ? 'done' : undefined),
        },
        link.signal,
      );
    } finally {
      link.unlink();
    }
  }

  /** Same as {@link Barrier.release}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  private async doHold(): Promise<void> {
    const { ctx, what } = this;
    ctx.assertOpen();
    if (this.isHeld) return;
    this.mine = undefined;
    const session = this.session ?? (await ctx.defaultSession());
    session.throwIfLost();
    const key = Buffer.from(this.key);
    // A value of my own tells a retried create that landed from somebody else's key.
    const value = Buffer.from(
      JSON.stringify({
        owner: ctx.owner,
        host: hostname(),
        pid: process.pid,
        since: new Date().toISOString(),
        hold: randomBytes(8).toString('hex'),
      }),
    );
    const res = await ctx.resilience.run(
      `${what}: hold`,
      () =>
        ctx.client.kv.txn({
          compare: [createRevisionIs(key, 0n)],
          success: [{ request_put: { key, value, lease: session.leaseIdDecimal } }],
          failure: [{ request_range: { key } }],
        }),
      { idempotent: true },
    );
    if (res.succeeded) {
      this.mine = { session, token: BigInt(res.header.revision) };
      return;
    }
    const kv = res.responses[0].response_range.kvs[0];
    if (kv && BigInt(kv.lease) === BigInt(session.leaseIdDecimal) && kv.value.equals(value)) {
      this.mine = { session, token: BigInt(kv.create_revision) };
      return;
    }
    const by = kv && BigInt(kv.lease) !== 0n ? ` (on lease ${leaseHex(kv.lease)})` : '';
    throw new ConflictError(`${what} is already held${by}`);
  }

  private async doRelease(): Promise<void> {
    const mine = this.mine;
    if (!mine) return;
    this.mine = undefined;
    try {
      await leave(this.ctx, this.what, this.key, mine.token);
    } catch (err) {
      // A lost session's key goes with its lease; otherwise the caller must know.
      if (mine.session.isAlive) {
        this.mine = mine;
        throw err;
      }
    }
  }
}
