/**
 * Mutex: one holder at a time, FIFO, herd-free, fenced. Layout of Go's `concurrency`
 * package (and `etcdctl lock`): my key is `<namespace><name>/<leaseId hex>`, the owner
 * is the key with the lowest create revision among the name's direct children.
 * @module
 */
import type { CoordContext } from '../context.js';
import { InvalidArgumentError } from '../errors.js';
import { queueKey, queuePrefix, validateName } from '../keys.js';
import type { AcquirePlan } from '../queue/acquire.js';
import { MAX_LOCK_DELAY_MS } from '../queue/lock-delay.js';
import { directChildren } from '../queue/range.js';
import { type AcquireOptions, checkLockOptions, contend, type LockOptions, lockPlan } from './contend.js';
import { type LockHolder, readHolders } from './holders.js';
import type { Lock } from './lock.js';

export { MAX_LOCK_DELAY_MS };

/** Options of `coord.mutex()`. */
export interface MutexOptions extends LockOptions {
  /**
   * Lock-delay (Consul's idea): when this waiter's predecessor's key went with its lease
   * (the lease expired or was revoked, `session.close()` included) rather than by a
   * release, wait this many milliseconds more before taking the lock, so a holder that
   * may still be running after losing its lease has time to notice and stop. A released
   * lock passes on at once. From 0 (default: no delay, no extra request) to
   * {@link MAX_LOCK_DELAY_MS}.
   */
  lockDelayMs?: number;
}

/** Checks `lockDelayMs`. @throws InvalidArgumentError */
function checkLockDelay(ms: unknown): number {
  if (ms === undefined) return 0;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > MAX_LOCK_DELAY_MS) {
    throw new InvalidArgumentError(
      `options.lockDelayMs must be a number of milliseconds from 0 to ${MAX_LOCK_DELAY_MS}, got ${typeof ms === 'string' ? JSON.stringify(ms) : typeof ms === 'number' ? String(ms) : typeof ms}`,
    );
  }
  return ms;
}

/** A distributed mutex. Create with `coord.mutex(name)`. */
export class Mutex {
  /** The lock's name (without the namespace). */
  readonly name: string;
  private readonly spec: AcquirePlan<Lock>;

  /**
   * @internal use `coord.mutex()`.
   * @throws InvalidArgumentError for a bad name or options (nothing is written).
   */
  constructor(ctx: CoordContext, name: string, options?: MutexOptions) {
    this.name = validateName(name, 'mutex name');
    const { session, owner } = checkLockOptions(options);
    const lockDelayMs = checkLockDelay(options?.lockDelayMs);
    const prefix = queuePrefix(ctx.namespace, name);
    this.spec = lockPlan({
      ctx,
      name,
      what: `lock ${name}`,
      kind: 'mutex',
      session,
      owner,
      keyOf: (s) => queueKey(ctx.namespace, name, s.leaseId),
      blockers: { prefix, limit: 1, member: directChildren(prefix) },
      lockDelayMs,
    });
  }

  /**
   * Waits for the lock, first come first served. Rejects with `signal.reason` when
   * aborted, {@link LockTimeoutError} after `timeoutMs`, `SessionLostError` when the
   * session is lost; in every case my key is deleted first.
   */
  acquire(options: AcquireOptions = {}): Promise<Lock> {
    return contend(this.spec, true, options);
  }

  /** Takes the lock if it is free right now; undefined (leaving no key) otherwise. Never waits. */
  tryAcquire(): Promise<Lock | undefined> {
    return contend(this.spec, false);
  }

  /** The current holder as etcd sees it, or undefined when the lock is free. */
  async holder(): Promise<LockHolder | undefined> {
    const { ctx, what, blockers } = this.spec;
    return (await readHolders(ctx, what, blockers.prefix, blockers.member, 1))[0];
  }
}
