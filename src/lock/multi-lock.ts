/**
 * MultiLock: several mutexes held together, all or none (Curator's InterProcessMultiLock).
 * They are acquired one after another in one global order — by queue prefix
 * `<namespace><name>/`, the full key without the lease id, which is the same in every
 * process — so two multi-locks over overlapping names can never wait for each other in
 * a cycle. An abort, the timeout (one deadline for the whole acquisition) or the loss of
 * a lock already taken releases every lock taken before the call rejects.
 * @module
 */
import type { ComparatorBuilder } from 'etcd3';
import type { CoordContext } from '../context.js';
import { InvalidArgumentError, LockLostError, LockTimeoutError } from '../errors.js';
import { andCreateRevisionIs, ifCreateRevisionIs, queuePrefix, validateName, validateTimeout } from '../keys.js';
import type { Session } from '../lease/session.js';
import { linkSignals } from '../signals.js';
import { type AcquireOptions, checkLockOptions, type LockOptions } from './contend.js';
import type { Lock } from './lock.js';
import { Mutex } from './mutex.js';

/** The most names one multi-lock may take. */
export const MAX_MULTI_LOCK_NAMES = 100;

/** Options of `coord.multiLock()`. */
export interface MultiLockOptions extends AcquireOptions, LockOptions {}

/**
 * Held mutexes, all of them. Obtain one from `coord.multiLock(names)`. Guard every write
 * they protect with {@link txn}, and watch {@link signal}.
 */
export class MultiLock {
  /** The names, in the order they were acquired (by queue prefix). */
  readonly names: readonly string[];
  /** The held locks, in the order they were acquired (same order as {@link names}). */
  readonly locks: readonly Lock[];
  /** The session every lock lives on. */
  readonly session: Session;
  /**
   * Aborted when any of the locks is lost (with that lock's reason: `LockLostError` or
   * the session's `SessionLostError`) — every other lock is then released too — or on
   * {@link release} (`LockLostError`).
   */
  readonly signal: AbortSignal;

  private readonly ctx: CoordContext;
  private readonly controller = new AbortController();
  private readonly onLost: (this: AbortSignal) => void;

  /** @internal use `coord.multiLock()`. */
  constructor(ctx: CoordContext, session: Session, locks: readonly Lock[]) {
    this.ctx = ctx;
    this.session = session;
    this.locks = locks;
    this.names = locks.map((l) => l.name);
    this.signal = this.controller.signal;
    const self = this;
    this.onLost = function (this: AbortSignal) {
      self.lose(this.reason);
    };
    for (const lock of locks) {
      if (lock.signal.aborted) {
        this.lose(lock.signal.reason);
        break;
      }
      lock.signal.addEventListener('abort', this.onLost, { once: true });
    }
  }

  /**
   * An etcd transaction on `coord.kv` (namespaced keys) that only commits while every
   * lock is held: it starts with `CreateRevision(key) == token` for each of them. Add
   * more compares with `.and()`, then `.then(...)`, `.else(...)`, `.commit()`;
   * `succeeded` is false when any lock was lost.
   */
  txn(): ComparatorBuilder {
    const ns = this.ctx.namespace.length;
    const [first, ...rest] = this.locks;
    const builder = ifCreateRevisionIs(this.ctx.kv, first.key.slice(ns), first.token);
    for (const lock of rest) andCreateRevisionIs(builder, lock.key.slice(ns), lock.token);
    return builder;
  }

  /**
   * Releases every lock (each delete guarded by its create revision) and aborts
   * `signal`. Safe to call more than once and after a loss. Rejects (after trying every
   * lock) only when a key could not be deleted while the session is alive; a later call
   * tries again.
   */
  async release(): Promise<void> {
    this.lose(new LockLostError(`multi-lock [${this.names.join(', ')}] was released`), true);
    await releaseAll(this.locks);
  }

  /** Same as {@link release}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  private lose(reason: unknown, released = false): void {
    if (this.controller.signal.aborted) return;
    for (const lock of this.locks) lock.signal.removeEventListener('abort', this.onLost);
    this.controller.abort(reason);
    if (released) return;
    // All or none: a multi-lock that lost one lock gives the others back at once.
    releaseAll(this.locks).catch((err) =>
      this.ctx.logger('lock').warn({ err }, 'could not release every lock of a multi-lock; they expire with the lease'),
    );
  }
}

/** Releases every lock, then rejects with the first failure, if any. */
async function releaseAll(locks: readonly Lock[]): Promise<void> {
  const results = await Promise.allSettled(locks.map((l) => l.release()));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Checks `names` and the options synchronously (throwing InvalidArgumentError before
 * anything is written) and returns the names sorted by queue prefix.
 * @internal
 */
export function checkMultiLock(ctx: CoordContext, names: unknown, options: MultiLockOptions | undefined): string[] {
  if (!Array.isArray(names)) {
    throw new InvalidArgumentError(`multi-lock names must be an array of lock names, got ${typeof names}`);
  }
  if (names.length === 0 || names.length > MAX_MULTI_LOCK_NAMES) {
    throw new InvalidArgumentError(
      `multi-lock names must hold 1 to ${MAX_MULTI_LOCK_NAMES} lock names, got ${names.length}`,
    );
  }
  const seen = new Set<string>();
  for (const name of names) {
    validateName(name, 'multi-lock name');
    if (seen.has(name)) throw new InvalidArgumentError(`multi-lock names must be distinct, got ${name} twice`);
    seen.add(name);
  }
  checkLockOptions(options);
  validateTimeout(options?.timeoutMs, 'options.timeoutMs');
  const signal = options?.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError('options.signal must be an AbortSignal');
  }
  const prefixOf = (name: string) => Buffer.from(queuePrefix(ctx.namespace, name));
  return [...seen].sort((a, b) => Buffer.compare(prefixOf(a), prefixOf(b)));
}

/**
 * Acquires the mutex of every name in `sorted` order on one session. Rejects with
 * `signal.reason`, {@link LockTimeoutError} (one deadline for all), or the reason a lock
 * already taken was lost (`LockLostError`, the session's `SessionLostError`); in each
 * case every lock taken is released first.
 * @internal
 */
export async function acquireMultiLock(
  ctx: CoordContext,
  sorted: readonly string[],
  options: MultiLockOptions = {},
): Promise<MultiLock> {
  const what = `multi-lock [${sorted.join(', ')}]`;
  const lost = new AbortController();
  const onLost = function (this: AbortSignal) {
    lost.abort(this.reason);
  };
  const link = linkSignals(
    [options.signal, lost.signal],
    options.timeoutMs !== undefined
      ? {
          ms: options.timeoutMs,
          reason: () => new LockTimeoutError(`${what}: not acquired within ${options.timeoutMs} ms`),
        }
      : undefined,
  );
  const held: Lock[] = [];
  try {
    link.signal.throwIfAborted();
    ctx.assertOpen();
    // One session for all: the default one is resolved once, so every lock lives on the same lease.
    const session = options.session ?? (await ctx.defaultSession(link.signal));
    for (const name of sorted) {
      const mutex = new Mutex(ctx, name, { session, owner: options.owner });
      const lock = await mutex.acquire({ signal: link.signal });
      held.push(lock);
      if (lock.signal.aborted) lost.abort(lock.signal.reason);
      else lock.signal.addEventListener('abort', onLost, { once: true });
      link.signal.throwIfAborted();
    }
    for (const lock of held) lock.signal.removeEventListener('abort', onLost);
    return new MultiLock(ctx, session, held);
  } catch (err) {
    const why = link.signal.aborted ? link.signal.reason : err;
    for (const lock of held) lock.signal.removeEventListener('abort', onLost);
    await releaseAll(held).catch((e) =>
      ctx.logger('lock').warn({ err: e }, `${what}: could not release a lock taken; it expires with the lease`),
    );
    throw why;
  } finally {
    link.unlink();
  }
}
