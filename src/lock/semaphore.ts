/**
 * Semaphore: up to `limit` holders at a time, FIFO, herd-free (a waiter watches only the
 * `limit` nearest keys ahead of it), fenced. Key: `<namespace><name>/<leaseId hex>`, the
 * holders are the `limit` keys with the lowest create revisions. Every contender of one
 * name must use the same limit.
 * @module
 */
import type { CoordContext } from '../context.js';
import { InvalidArgumentError } from '../errors.js';
import { queueKey, queuePrefix, validateName } from '../keys.js';
import type { AcquirePlan } from '../queue/acquire.js';
import { directChildren } from '../queue/range.js';
import { type AcquireOptions, checkLockOptions, contend, type LockOptions, lockPlan } from './contend.js';
import { type LockHolder, readHolders } from './holders.js';
import type { Lock, Permit } from './lock.js';

/** The largest semaphore limit. */
export const MAX_SEMAPHORE_LIMIT = 10_000;

/** A distributed counting semaphore. Create with `coord.semaphore(name, limit)`. */
export class Semaphore {
  /** The semaphore's name (without the namespace). */
  readonly name: string;
  /** How many may hold a permit at once. */
  readonly limit: number;
  private readonly spec: AcquirePlan<Lock>;

  /**
   * @internal use `coord.semaphore()`.
   * @throws InvalidArgumentError for a bad name, limit or options (nothing is written).
   */
  constructor(ctx: CoordContext, name: string, limit: number, options?: LockOptions) {
    this.name = validateName(name, 'semaphore name');
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_SEMAPHORE_LIMIT) {
      throw new InvalidArgumentError(
        `semaphore limit must be a whole number from 1 to ${MAX_SEMAPHORE_LIMIT}, got ${String(limit)}`,
      );
    }
    this.limit = limit;
    const { session, owner } = checkLockOptions(options);
    const prefix = queuePrefix(ctx.namespace, name);
    this.spec = lockPlan({
      ctx,
      name,
      what: `semaphore ${name}`,
      kind: 'semaphore',
      session,
      owner,
      keyOf: (s) => queueKey(ctx.namespace, name, s.leaseId),
      blockers: { prefix, limit, member: directChildren(prefix) },
    });
  }

  /**
   * Waits for a permit, first come first served. Rejects like `Mutex.acquire()`
   * (`signal.reason`, {@link LockTimeoutError}, `SessionLostError`), leaving no key behind.
   */
  acquire(options: AcquireOptions = {}): Promise<Permit> {
    return contend(this.spec, true, options);
  }

  /** Takes a permit if one is free right now; undefined (leaving no key) otherwise. Never waits. */
  tryAcquire(): Promise<Permit | undefined> {
    return contend(this.spec, false);
  }

  /** The current permit holders as etcd sees them, oldest first (at most `limit`). */
  holders(): Promise<LockHolder[]> {
    const { ctx, what, blockers } = this.spec;
    return readHolders(ctx, what, blockers.prefix, blockers.member, this.limit);
  }
}
