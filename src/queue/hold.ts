/**
 * The held state shared by a {@link Lock} and a {@link Leadership}: my key and its
 * fencing token, a signal that aborts when the hold ends, the guard that watches my key
 * for deletion or replacement, the session's loss, the exit from the session's local line
 * (once), the guarded leave, and `txn()`.
 * @module
 */
import type { ComparatorBuilder } from 'etcd3';
import type { CoordContext } from '../context.js';
import { ifCreateRevisionIs } from '../keys.js';
import type { Session } from '../lease/session.js';
import { guardKey, type StopGuard } from './guard.js';
import { forgetHandedOut } from './join.js';
import { leave } from './leave.js';

/** What a hold is made of. @internal */
export interface HoldInit {
  readonly ctx: CoordContext;
  /** For messages, e.g. 'lock jobs/nightly'. */
  readonly what: string;
  /** My full key. */
  readonly key: string;
  readonly token: bigint;
  /** The revision at which the turn was seen; the guard watches from the next one. */
  readonly revision: bigint;
  readonly session: Session;
  /** Lets the next local acquirer of the same key on the session in. */
  readonly exitLine: () => void;
}

/** A reached turn, held: the base of Lock and Leadership. */
export abstract class Hold {
  /** My full etcd key, `<namespace><name>/<leaseId hex>`. */
  readonly key: string;
  /** The fencing token: my key's create revision. Every later holder has a larger one. */
  readonly token: bigint;
  /** The session the hold lives on. */
  readonly session: Session;

  /** @internal */
  protected readonly ctx: CoordContext;
  /** @internal */
  protected readonly what: string;
  /** @internal */
  protected readonly heldSince = performance.now();
  /** Made when `signal` is first read: a hold whose signal nobody reads allocates no AbortController. */
  private controller: AbortController | undefined;
  /** Set when the hold ends: makes its reason (called once, when first needed). */
  private endReason: (() => unknown) | undefined;
  private reasonMade: { value: unknown } | undefined;
  private readonly revision: bigint;
  private stopGuard: StopGuard | undefined;
  private lineExit: (() => void) | undefined;
  private readonly onSessionLost = () => this.lost(this.session.signal.reason);

  /** @internal */
  protected constructor(init: HoldInit) {
    this.ctx = init.ctx;
    this.what = init.what;
    this.key = init.key;
    this.token = init.token;
    this.session = init.session;
    this.revision = init.revision;
    this.lineExit = init.exitLine;
  }

  /**
   * Aborted the moment the hold ends (released, resigned, lost), with the reason. Made on
   * first read; read after the end, it is already aborted with the same reason.
   */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.endReason) this.controller.abort(this.reason());
    }
    return this.controller.signal;
  }

  /** True once the hold ended. @internal */
  protected get ended(): boolean {
    return this.endReason !== undefined;
  }

  /** Why the hold ended (undefined while it lasts): the reason `signal` aborts with. @internal */
  protected reason(): unknown {
    if (!this.endReason) return undefined;
    this.reasonMade ??= { value: this.endReason() };
    return this.reasonMade.value;
  }

  /**
   * An etcd transaction on `coord.kv` (namespaced keys) that only commits while this is
   * held: it starts with `CreateRevision(myKey) == token`. Add more compares with
   * `.and()`, then `.then(...)`, `.else(...)`, `.commit()`; `succeeded` is false once lost.
   */
  txn(): ComparatorBuilder {
    return ifCreateRevisionIs(this.ctx.kv, this.key.slice(this.ctx.namespace.length), this.token);
  }

  /**
   * Starts watching for loss: the session's, and my key's deletion or replacement (the
   * error `keyLost()` makes, or the session's reason when the session went with it).
   * The subclass calls it last in its constructor, so {@link lost} sees it whole.
   * @internal
   */
  protected watchForLoss(keyLost: () => Error): void {
    const { session } = this;
    if (!session.isAlive) {
      this.lost(session.signal.reason);
      return;
    }
    session.signal.addEventListener('abort', this.onSessionLost, { once: true });
    this.stopGuard = guardKey(this.ctx, this.what, this.key, this.token, this.revision + 1n, () =>
      this.lost(session.isAlive ? keyLost() : session.signal.reason),
    );
  }

  /** The hold was lost (session, or my key): end it as the subclass does. @internal */
  protected abstract lost(reason: unknown): void;

  /**
   * Ends the hold once: stops the guard and the session listener, aborts `signal` with
   * the reason `makeReason` makes (only when someone reads the signal or the reason: a
   * release nobody observes makes no error). False when it had ended already.
   * @internal
   */
  protected endHold(makeReason: () => unknown): boolean {
    if (this.endReason) return false;
    this.endReason = makeReason;
    this.stopGuard?.();
    this.session.signal.removeEventListener('abort', this.onSessionLost);
    this.controller?.abort(this.reason());
    return true;
  }

  /** Deletes my key if it still has my token (etcd #22082), then forgets the hand-out. @internal */
  protected async leaveQueue(): Promise<void> {
    await leave(this.ctx, this.what, this.key, this.token);
    forgetHandedOut(this.session, this.key, this.token);
  }

  /** Lets the next local acquirer in, once. @internal */
  protected exitLine(): void {
    const exit = this.lineExit;
    this.lineExit = undefined;
    exit?.();
  }
}
