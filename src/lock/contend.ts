/**
 * The acquire path shared by Mutex, Semaphore and RWLock: pick the session, take a place
 * in the session's local line for my key, take a turn in the etcd queue, and hand out a
 * {@link Lock}. Every failure gives the local place and the etcd key back.
 * @module
 */
import type { CoordContext } from '../context.js';
import { isLockTimeoutError, LockTimeoutError } from '../errors.js';
import type { LockKind } from '../events.js';
import { validateTimeout } from '../keys.js';
import { checkSessionOption } from '../lease/check.js';
import type { Session } from '../lease/session.js';
import { enterLine, tryEnterLine } from '../queue/local-line.js';
import { positionOnJoin } from '../queue/position.js';
import type { Blockers } from '../queue/spec.js';
import { takeTurn } from '../queue/turn.js';
import { linkSignals } from '../signals.js';
import { Lock } from './lock.js';
import { encodeOwner, validateOwner } from './owner.js';

/** Options of a waiting acquire (`acquire()`, `read()`, `write()`). */
export interface AcquireOptions {
  /** Gives up waiting: the call rejects with `signal.reason` and leaves no key behind. */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds with {@link LockTimeoutError}, leaving no key behind. */
  timeoutMs?: number;
}

/** Options of `coord.mutex()`, `coord.semaphore()`, `coord.rwlock()`. */
export interface LockOptions {
  /** The session to hold on. Default: the coordinator's shared session (`coord.session()`). */
  session?: Session;
  /**
   * Who holds or waits, written into the key's owner record (shown by `coord.inspect()`
   * and `etcd-coord locks`): a non-empty string of at most 256 characters without
   * control characters. Default: `connect({ owner })`, else `<hostname>:<pid>`.
   */
  owner?: string;
}

/** One kind of contender on one name. @internal */
export interface ContendSpec {
  readonly ctx: CoordContext;
  readonly name: string;
  /** For messages, e.g. 'lock jobs/nightly'. */
  readonly what: string;
  /** For events and metrics. */
  readonly kind: LockKind;
  readonly session?: Session;
  /** The owner of my owner record; default: the coordinator's. */
  readonly owner?: string;
  /** My key on a given session. */
  keyOf(session: Session): string;
  readonly blockers: Blockers;
  /** Lock-delay after a predecessor's lease ended (mutex only); 0 or undefined: none. */
  readonly lockDelayMs?: number;
}

/** Checks the `{ session, owner }` options. @throws InvalidArgumentError @internal */
export function checkLockOptions(options: LockOptions | undefined): LockOptions {
  checkSessionOption(options?.session);
  validateOwner(options?.owner, 'options.owner');
  return options ?? {};
}

/** A signal that aborts with the caller's reason, or with {@link LockTimeoutError} after `timeoutMs`. */
function deadline(what: string, opts: AcquireOptions): { signal: AbortSignal | undefined; clear: () => void } {
  const timeoutMs = validateTimeout(opts.timeoutMs);
  if (timeoutMs === undefined) return { signal: opts.signal, clear: () => {} };
  const link = linkSignals([opts.signal], {
    ms: timeoutMs,
    reason: () => new LockTimeoutError(`${what}: not acquired within ${timeoutMs} ms`),
  });
  return { signal: link.signal, clear: link.unlink };
}

/**
 * Waits for the turn (`wait: true`) or takes it only if free (`wait: false`, resolving
 * undefined otherwise, with nothing left behind).
 * @internal
 */
export async function contend(spec: ContendSpec, wait: boolean, opts: AcquireOptions = {}): Promise<Lock | undefined> {
  const { ctx, what } = spec;
  const { signal, clear } = deadline(what, opts);
  const started = performance.now();
  const span = ctx.trace('lock.acquire', { name: spec.name, kind: spec.kind, wait });
  try {
    signal?.throwIfAborted();
    ctx.assertOpen();
    const session = spec.session ?? (await ctx.defaultSession(signal));
    session.throwIfLost();
    const key = spec.keyOf(session);
    const exitLine = wait ? await enterLine(session, key, signal) : tryEnterLine(session, key);
    if (!exitLine) {
      span?.end({ acquired: false });
      return undefined;
    }
    try {
      const turn = await takeTurn(
        { ctx, what, key, value: encodeOwner(spec.owner ?? ctx.owner), session, blockers: spec.blockers },
        { wait, signal, onJoin: positionOnJoin(ctx, what, spec.blockers, span), lockDelayMs: spec.lockDelayMs },
      );
      if (!turn) {
        exitLine();
        span?.end({ acquired: false });
        return undefined;
      }
      ctx.emit({
        type: 'lock.acquired',
        kind: spec.kind,
        name: spec.name,
        waitMs: performance.now() - started,
        token: turn.token,
      });
      span?.end({ acquired: true, token: `${turn.token}`, key });
      return new Lock({
        ctx,
        name: spec.name,
        what,
        kind: spec.kind,
        key,
        token: turn.token,
        revision: turn.revision,
        session,
        exitLine,
      });
    } catch (err) {
      exitLine();
      throw err;
    }
  } catch (err) {
    span?.fail(err);
    if (isLockTimeoutError(err)) {
      ctx.emit({ type: 'lock.timeout', kind: spec.kind, name: spec.name, waitMs: performance.now() - started });
    }
    throw err;
  } finally {
    clear();
  }
}
