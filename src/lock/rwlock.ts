/**
 * Read-write lock: many readers or one writer, FIFO between them (a waiting writer
 * blocks readers that come after it), herd-free, fenced. Layout (like etcd's recipes
 * RWMutex):
 *
 * - reader: `<namespace><name>/read/<leaseId hex>`; waits while a writer key is older
 *   (it watches only the nearest older writer);
 * - writer: `<namespace><name>/write/<leaseId hex>`; waits while any read or write key is
 *   older (it watches only the nearest older one).
 *
 * A session holds at most one read and one write key per name, so concurrent `read()`
 * calls on one session take turns; readers that should overlap use separate sessions.
 * @module
 */
import type { CoordContext } from '../context.js';
import { queueKey, queuePrefix, validateName } from '../keys.js';
import type { AcquirePlan } from '../queue/acquire.js';
import { directChildren } from '../queue/range.js';
import { type AcquireOptions, checkLockOptions, contend, type LockOptions, lockPlan } from './contend.js';
import { type LockHolder, readHolders } from './holders.js';
import type { Lock } from './lock.js';

/** Who holds a read-write lock right now. */
export interface RWLockHolders {
  /** The writer, or undefined. */
  readonly writer?: LockHolder;
  /** The readers (empty while a writer holds it). */
  readonly readers: LockHolder[];
}

/** A distributed read-write lock. Create with `coord.rwlock(name)`. */
export class RWLock {
  /** The lock's name (without the namespace). */
  readonly name: string;
  private readonly reader: AcquirePlan<Lock>;
  private readonly writer: AcquirePlan<Lock>;

  /**
   * @internal use `coord.rwlock()`.
   * @throws InvalidArgumentError for a bad name or options (nothing is written).
   */
  constructor(ctx: CoordContext, name: string, options?: LockOptions) {
    this.name = validateName(name, 'rwlock name');
    const { session, owner } = checkLockOptions(options);
    const ns = ctx.namespace;
    const isRead = directChildren(queuePrefix(ns, `${name}/read`));
    const isWrite = directChildren(queuePrefix(ns, `${name}/write`));
    this.reader = lockPlan({
      ctx,
      name,
      what: `rwlock ${name} (read)`,
      kind: 'read',
      session,
      owner,
      keyOf: (s) => queueKey(ns, `${name}/read`, s.leaseId),
      blockers: { prefix: queuePrefix(ns, `${name}/write`), limit: 1, member: isWrite },
    });
    this.writer = lockPlan({
      ctx,
      name,
      what: `rwlock ${name} (write)`,
      kind: 'write',
      session,
      owner,
      keyOf: (s) => queueKey(ns, `${name}/write`, s.leaseId),
      blockers: { prefix: queuePrefix(ns, name), limit: 1, member: (k) => isRead(k) || isWrite(k) },
    });
  }

  /** Waits for a shared (read) hold. Rejects like `Mutex.acquire()`, leaving no key behind. */
  read(options: AcquireOptions = {}): Promise<Lock> {
    return contend(this.reader, true, options);
  }

  /** Waits for the exclusive (write) hold. Rejects like `Mutex.acquire()`, leaving no key behind. */
  write(options: AcquireOptions = {}): Promise<Lock> {
    return contend(this.writer, true, options);
  }

  /** A read hold if no writer holds or waits ahead right now; undefined otherwise. Never waits. */
  tryRead(): Promise<Lock | undefined> {
    return contend(this.reader, false);
  }

  /** The write hold if nobody holds or waits right now; undefined otherwise. Never waits. */
  tryWrite(): Promise<Lock | undefined> {
    return contend(this.writer, false);
  }

  /** The current holders as etcd sees them. */
  async holders(): Promise<RWLockHolders> {
    const { ctx, what, blockers } = this.writer;
    const queue = await readHolders(ctx, what, blockers.prefix, blockers.member, Number.MAX_SAFE_INTEGER);
    const isWrite = this.reader.blockers.member;
    const firstWriter = queue.findIndex((h) => isWrite(h.key));
    if (firstWriter === 0) return { writer: queue[0], readers: [] };
    return { readers: firstWriter < 0 ? queue : queue.slice(0, firstWriter) };
  }
}
