/**
 * Mutex: one holder at a time, FIFO, herd-free, fenced. Layout of Go's `concurrency`
 * package (and `etcdctl lock`): my key is `<namespace><name>/<leaseId hex>`, the owner
 * is the key with the lowest create revision among the name's direct children.
 * @module
 */
import type { CoordContext } from '../context.js';
import { queueKey, queuePrefix, validateName } from '../keys.js';
import { directChildren } from '../queue/range.js';
import { type AcquireOptions, type ContendSpec, checkLockOptions, contend, type LockOptions } from './contend.js';
import { type LockHolder, readHolders } from './holders.js';
import type { Lock } from './lock.js';

/** A distributed mutex. Create with `coord.mutex(name)`. */
export class Mutex {
  /** The lock's name (without the namespace). */
  readonly name: string;
  private readonly spec: ContendSpec;

  /**
   * @internal use `coord.mutex()`.
   * @throws InvalidArgumentError for a bad name or options (nothing is written).
   */
  constructor(ctx: CoordContext, name: string, options?: LockOptions) {
    this.name = validateName(name, 'mutex name');
    const { session, owner } = checkLockOptions(options);
    const prefix = queuePrefix(ctx.namespace, name);
    this.spec = {
      ctx,
      name,
      what: `lock ${name}`,
      kind: 'mutex',
      session,
      owner,
      keyOf: (s) => queueKey(ctx.namespace, name, s.leaseId),
      blockers: { prefix, limit: 1, member: directChildren(prefix) },
    };
  }

  /**
   * Waits for the lock, first come first served. Rejects with `signal.reason` when
   * aborted, {@link LockTimeoutError} after `timeoutMs`, `SessionLostError` when the
   * session is lost; in every case my key is deleted first.
   */
  async acquire(options: AcquireOptions = {}): Promise<Lock> {
    return (await contend(this.spec, true, options)) as Lock;
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
