/**
 * The one acquire pipeline under Mutex, Semaphore, RWLock and Election: one deadline
 * (the caller's signal and `timeoutMs` linked once, with one timer), the session (the
 * given one or the coordinator's shared one), a place in the session's local line for my
 * key, a turn in the etcd queue, and the hold made from that turn. Every failure gives
 * the local place and the etcd key back.
 * @module
 */
import type { CoordContext } from '../context.js';
import { isLockTimeoutError } from '../errors.js';
import { validateTimeout } from '../keys.js';
import type { Session } from '../lease/session.js';
import { linkSignals } from '../signals.js';
import type { SpanAttributes, SpanName } from '../telemetry.js';
import { enterLine, tryEnterLine } from './local-line.js';
import { positionOnJoin } from './position.js';
import type { Blockers, Turn } from './spec.js';
import { takeTurn } from './turn.js';

/** Options of a waiting acquire (`acquire()`, `read()`, `write()`, `campaign()`). */
export interface AcquireOptions {
  /** Gives up waiting: the call rejects with `signal.reason` and leaves no key behind. */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds with {@link LockTimeoutError}, leaving no key behind. */
  timeoutMs?: number;
}

/** One kind of contender on one queue, and how its hold is made. @internal */
export interface AcquirePlan<H> {
  readonly ctx: CoordContext;
  /** For messages, e.g. 'lock jobs/nightly'. */
  readonly what: string;
  /** The acquire's span and its attributes (`wait` is added). */
  readonly spanName: SpanName;
  readonly spanAttributes: SpanAttributes;
  /** The session to hold on; undefined: the coordinator's shared session. */
  readonly session: Session | undefined;
  /** My key on a given session. */
  keyOf(session: Session): string;
  /** The value my key is put with. */
  value(): Buffer;
  readonly blockers: Blockers;
  /** Lock-delay after a predecessor's lease ended (mutex only); 0 or undefined: none. */
  readonly lockDelayMs?: number;
  /** The error a wait that ran out of time rejects with. */
  timeoutError(timeoutMs: number): Error;
  /**
   * Makes the hold once the turn is reached; `exitLine` lets the next local acquirer in
   * (the hold calls it once its key is gone). If it throws, the pipeline exits the line.
   */
  hold(turn: Turn, session: Session, exitLine: () => void): H | Promise<H>;
  /** Reports the acquire (events), with the hold's token. */
  acquired(token: bigint, waitMs: number): void;
  /**
   * false (locks): the acquire is reported (event, acquire span ended) before the hold is
   * made, so the hold's span starts after the acquire's. true (elections): the hold is made
   * first, because making it can still fail (a proclaim), and a failed campaign is not reported as won.
   */
  readonly holdBeforeReport: boolean;
  /** Called when the wait ran out of time (events). */
  timedOut?(waitMs: number): void;
}

/**
 * Waits for the turn (`wait: true`) or takes it only if free (`wait: false`, resolving
 * undefined otherwise, with nothing left behind).
 * @internal
 */
export function acquire<H>(plan: AcquirePlan<H>, wait: true, opts?: AcquireOptions): Promise<H>;
export function acquire<H>(plan: AcquirePlan<H>, wait: false, opts?: { signal?: AbortSignal }): Promise<H | undefined>;
export async function acquire<H>(
  plan: AcquirePlan<H>,
  wait: boolean,
  opts: AcquireOptions = {},
): Promise<H | undefined> {
  const { ctx, what } = plan;
  const timeoutMs = validateTimeout(opts.timeoutMs);
  const link =
    timeoutMs === undefined
      ? undefined
      : linkSignals([opts.signal], { ms: timeoutMs, reason: () => plan.timeoutError(timeoutMs) });
  const signal = link ? link.signal : opts.signal;
  const started = performance.now();
  const span = ctx.trace(plan.spanName, { ...plan.spanAttributes, wait });
  try {
    signal?.throwIfAborted();
    ctx.assertOpen();
    const session = plan.session ?? ctx.sharedSessionNow() ?? (await ctx.defaultSession(signal));
    session.throwIfLost();
    const key = plan.keyOf(session);
    const exitLine = wait ? await enterLine(session, key, signal) : tryEnterLine(session, key);
    if (!exitLine) {
      span?.end({ acquired: false });
      return undefined;
    }
    let hold: H;
    try {
      const turn = await takeTurn(
        { ctx, what, key, value: plan.value(), session, blockers: plan.blockers },
        { wait, signal, onJoin: positionOnJoin(ctx, what, plan.blockers, span), lockDelayMs: plan.lockDelayMs },
      );
      if (!turn) {
        exitLine();
        span?.end({ acquired: false });
        return undefined;
      }
      const report = () => {
        plan.acquired(turn.token, performance.now() - started);
        span?.end({ acquired: true, token: `${turn.token}`, key });
      };
      if (!plan.holdBeforeReport) report();
      hold = await plan.hold(turn, session, exitLine);
      if (plan.holdBeforeReport) report();
    } catch (err) {
      exitLine();
      throw err;
    }
    return hold;
  } catch (err) {
    span?.fail(err);
    if (isLockTimeoutError(err)) plan.timedOut?.(performance.now() - started);
    throw err;
  } finally {
    link?.unlink();
  }
}
