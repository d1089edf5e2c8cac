/**
 * A held lock, permit or read/write lock: my key in the queue, its fencing token, and a
 * signal that fires the moment the hold may be gone.
 * @module
 */
import { isClosedError, LockLostError, withoutStack } from '../errors.js';
import type { LockKind } from '../events.js';
import type { Session } from '../lease/session.js';
import { readKey } from '../queue/guard.js';
import { Hold, type HoldInit } from '../queue/hold.js';
import type { TraceSpan } from '../telemetry.js';

/** What a {@link Lock} is made of. @internal */
export interface LockInit extends HoldInit {
  readonly name: string;
  /** For events and metrics. */
  readonly kind: LockKind;
}

/**
 * A held lock (also a semaphore {@link Permit} and an {@link RWLock} hold). Obtain one
 * from `Mutex.acquire()`, `Semaphore.acquire()`, `RWLock.read()` / `write()`.
 *
 * It stays held until {@link release}, the loss of its session, or the deletion of its
 * key by anyone else; `signal` aborts at that moment. Guard every write the lock protects
 * with {@link txn} (etcd) or {@link token} (other stores).
 */
export class Lock extends Hold {
  /** The lock's name (without the namespace). */
  readonly name: string;
  /** My full etcd key, e.g. `<namespace><name>/<leaseId hex>`. */
  declare readonly key: string;
  /** The fencing token: my key's create revision. Every later holder has a larger one. */
  declare readonly token: bigint;
  /** The session the lock lives on. */
  declare readonly session: Session;
  /**
   * Aborted when the lock is released ({@link LockLostError}), its session is lost or
   * closed (the session's `SessionLostError`), or its key is deleted or replaced by
   * someone else ({@link LockLostError}). Made on first read; read after the end, it is
   * already aborted with the same reason.
   */
  override get signal(): AbortSignal {
    return super.signal;
  }

  private readonly kind: LockKind;
  private readonly span: TraceSpan | undefined;
  private releasing: Promise<void> | undefined;

  /** @internal */
  constructor(init: LockInit) {
    super(init);
    this.kind = init.kind;
    this.name = init.name;
    this.span = init.ctx.trace('lock.hold', {
      name: init.name,
      kind: init.kind,
      token: `${init.token}`,
      key: init.key,
    });
    this.watchForLoss(() => new LockLostError(`${this.what}: my key ${this.key} was deleted or replaced`));
  }

  /** Asks etcd: my key still exists with my create revision, and my session is alive. */
  async isHeld(): Promise<boolean> {
    if (this.ended || !this.session.isAlive) return false;
    const { kv } = await readKey(this.ctx, this.what, this.key);
    return (
      kv !== undefined &&
      BigInt(kv.create_revision) === this.token &&
      BigInt(kv.lease) === BigInt(this.session.leaseIdDecimal) &&
      this.session.isAlive &&
      !this.ended
    );
  }

  /**
   * Releases the lock: aborts `signal`, deletes my key (only if it still has my create
   * revision), and lets the next local acquirer in. Safe to call more than once and after
   * the lock was lost. Rejects only when the key could not be deleted while the session
   * is alive (it then stays until the session's lease ends; a later call tries again).
   */
  release(): Promise<void> {
    this.lose(() => withoutStack(() => new LockLostError(`${this.what} was released`)), true);
    return this.releasing ?? this.doRelease();
  }

  /** Same as {@link release}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  /** @internal */
  protected lost(reason: unknown): void {
    this.lose(() => reason);
  }

  /** Ends the lock once; `makeReason` is called only if the reason is needed (a loss, or a read of `signal`). */
  private lose(makeReason: () => unknown, released = false): void {
    if (!this.endHold(makeReason)) return;
    const holdMs = performance.now() - this.heldSince;
    const reason = released ? undefined : this.reason();
    if (released) this.span?.end();
    else this.span?.lose(reason);
    this.ctx.emit(
      released
        ? { type: 'lock.released', kind: this.kind, name: this.name, holdMs }
        : {
            type: 'lock.lost',
            kind: this.kind,
            name: this.name,
            holdMs,
            reason: String((reason as Error)?.message ?? reason),
          },
    );
    // A lost lock leaves the queue by itself, so the session's next acquirer is not stuck.
    if (!this.releasing) this.doRelease().catch(() => {});
  }

  private doRelease(): Promise<void> {
    if (!this.session.isAlive) {
      // The lease ends anyway. Closed: close() revokes it, which deletes my key (so a lock-delay waiter sees the key
      // go with its lease, every time). Lost (it may be unreachable): delete my key best-effort, without waiting.
      if (this.session.state !== 'closed') this.leaveQueue().catch(() => {});
      this.exitLine();
      this.releasing = Promise.resolve();
      return this.releasing;
    }
    const p = this.leaveQueue().then(
      () => this.exitLine(),
      (err) => {
        if (!this.session.isAlive || isClosedError(err)) return this.exitLine();
        this.ctx.logger('lock').warn({ err, key: this.key }, 'could not delete my key; it expires with the lease');
        this.releasing = undefined;
        this.exitLine();
        throw err;
      },
    );
    this.releasing = p;
    return p;
  }
}

/** A semaphore permit: a {@link Lock} on one of the semaphore's `limit` places. */
export type Permit = Lock;
