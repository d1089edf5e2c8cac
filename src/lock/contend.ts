/**
 * The acquire path of Mutex, Semaphore and RWLock: the shared pipeline of
 * `queue/acquire.ts`, with a {@link Lock} as the hold.
 * @module
 */
import type { CoordContext } from '../context.js';
import { LockTimeoutError } from '../errors.js';
import type { LockKind } from '../events.js';
import { checkSessionOption } from '../lease/check.js';
import type { Session } from '../lease/session.js';
import { type AcquireOptions, type AcquirePlan, acquire } from '../queue/acquire.js';
import type { Blockers } from '../queue/spec.js';
import { Lock } from './lock.js';
import { encodeOwner, validateOwner } from './owner.js';

export type { AcquireOptions } from '../queue/acquire.js';

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

/** The pipeline's plan for a lock of `spec`. Made once per Mutex, Semaphore or RWLock side. @internal */
export function lockPlan(spec: ContendSpec): AcquirePlan<Lock> {
  const { ctx, name, what, kind } = spec;
  const shape =
    kind === 'mutex' ? undefined : { kind, ...(kind === 'semaphore' ? { limit: spec.blockers.limit } : {}) };
  return {
    ctx,
    what,
    spanName: 'lock.acquire',
    spanAttributes: { name, kind },
    session: spec.session,
    keyOf: spec.keyOf,
    value: () => encodeOwner(spec.owner ?? ctx.owner, undefined, shape),
    blockers: spec.blockers,
    lockDelayMs: spec.lockDelayMs,
    timeoutError: (ms) => new LockTimeoutError(`${what}: not acquired within ${ms} ms`),
    hold: (turn, session, exitLine) =>
      new Lock({
        ctx,
        name,
        what,
        kind,
        key: turn.key,
        token: turn.token,
        revision: turn.revision,
        session,
        exitLine,
      }),
    acquired: (token, waitMs) => ctx.emit({ type: 'lock.acquired', kind, name, waitMs, token }),
    holdBeforeReport: false,
    timedOut: (waitMs) => ctx.emit({ type: 'lock.timeout', kind, name, waitMs }),
  };
}

/**
 * Waits for the turn (`wait: true`) or takes it only if free (`wait: false`, resolving
 * undefined otherwise, with nothing left behind).
 * @internal
 */
export function contend(plan: AcquirePlan<Lock>, wait: true, opts?: AcquireOptions): Promise<Lock>;
export function contend(plan: AcquirePlan<Lock>, wait: false): Promise<Lock | undefined>;
export function contend(plan: AcquirePlan<Lock>, wait: boolean, opts: AcquireOptions = {}): Promise<Lock | undefined> {
  return wait ? acquire(plan, true, opts) : acquire(plan, false);
}
