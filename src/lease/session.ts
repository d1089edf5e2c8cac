/**
 * Session: one etcd lease, kept alive on the coordinator's shared keepalive stream, that
 * knows it is lost *before* etcd expires it.
 *
 * Local deadline = send time of the last acknowledged keepalive + granted TTL − margin.
 * etcd can only expire the lease later than that (it starts the TTL when it receives the
 * keepalive, which is after we sent it). At the deadline the session is 'lost' and its
 * `signal` aborts with {@link SessionLostError}; every lock, leadership and registration
 * on the session listens to that signal. 'at-risk' starts when no keepalive sent in the
 * last half TTL has been answered.
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { Channel } from '../channel.js';
import { CoordinationError, isClosedError, SessionLostError } from '../errors.js';
import type { CoordEvent } from '../events.js';
import { leaseHex } from '../keys.js';
import type { Resilience } from '../resilience.js';
import type { KeepAliveStream } from './keepalive.js';
import { revokeLease, revokeUntilGone } from './revoke.js';

/** Where a session stands. */
export type SessionState = 'held' | 'at-risk' | 'lost' | 'closed';

/** A change of a session's state, as {@link Session.status} reports it. */
export type SessionStatus =
  | {
      /** Held again: a keepalive was answered after 'at-risk'. */
      readonly type: 'held';
    }
  | {
      /** At risk: no keepalive sent in the last half TTL has been answered. */
      readonly type: 'at-risk';
      /** Time left until the local deadline, in ms. */
      readonly remainingMs: number;
    }
  | {
      /** Lost: the local deadline passed or etcd reports the lease gone. Last status. */
      readonly type: 'lost';
      /** Why; the session's `signal` aborted with it. */
      readonly error: SessionLostError;
    }
  | {
      /** Closed with `close()`. Last status. */
      readonly type: 'closed';
    };

/** What a session needs from its coordinator. @internal */
export interface SessionDeps {
  readonly client: Etcd3;
  readonly resilience: Resilience;
  readonly keepAlive: KeepAliveStream;
  readonly logger: Logger;
  /** Reports session events to logs and metrics. */
  readonly emit?: (event: CoordEvent) => void;
}

/** The safety margin taken off the local deadline: 10% of the TTL, 100 ms to 2 s. */
export function deadlineMarginMs(ttlSeconds: number): number {
  return Math.min(2000, Math.max(100, ttlSeconds * 100));
}

/** A lease with keepalive. Create with `coord.newSession()` or `coord.session()`. */
export class Session {
  /** The lease id in lower-case hex, as it appears in lock and election keys. */
  readonly leaseId: string;
  /** The granted TTL in seconds. */
  readonly ttl: number;
  /** Aborted with {@link SessionLostError} when the session is lost or closed. */
  readonly signal: AbortSignal;
  /** The lease id in decimal, as etcd requests carry it. @internal */
  readonly leaseIdDecimal: string;

  private stateValue: SessionState = 'held';
  private readonly controller = new AbortController();
  private readonly statusChannel = new Channel<SessionStatus>();
  private deadline: number;
  private lastAckSentAt: number;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private atRiskTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  private readonly marginMs: number;
  /** Longest pause between background revoke attempts: a quarter TTL, 250 ms to 5 s. */
  private readonly retryRevokeMs: number;
  private readonly logger: Logger;

  /** @internal use {@link grantSession}. */
  constructor(
    private readonly deps: SessionDeps,
    id: string,
    ttl: number,
    grantSentAt: number,
    /** Seconds the lease had left when `grantSentAt` was taken (default: the whole TTL). */
    remaining = ttl,
  ) {
    this.leaseIdDecimal = id;
    this.leaseId = leaseHex(id);
    this.ttl = ttl;
    this.signal = this.controller.signal;
    this.marginMs = deadlineMarginMs(ttl);
    this.retryRevokeMs = Math.min(5000, Math.max(250, ttl * 250));
    this.logger = deps.logger.child({ lease: this.leaseId });
    this.lastAckSentAt = grantSentAt;
    this.deadline = grantSentAt + remaining * 1000 - this.marginMs;
    this.arm();
    deps.keepAlive.add({
      id,
      intervalMs: Math.max(100, (ttl * 1000) / 3),
      onAck: (sentAt, granted) => this.onAck(sentAt, granted),
    });
  }

  /** 'held', 'at-risk' (a keepalive is overdue), 'lost' or 'closed'. */
  get state(): SessionState {
    return this.stateValue;
  }

  /** Milliseconds left until the local deadline (0 once lost or closed). */
  get remainingMs(): number {
    if (this.stateValue === 'lost' || this.stateValue === 'closed') return 0;
    return Math.max(0, this.deadline - performance.now());
  }

  /** True while the session may be relied on ('held' or 'at-risk'). */
  get isAlive(): boolean {
    return this.stateValue === 'held' || this.stateValue === 'at-risk';
  }

  /**
   * State changes, from now on, as an AsyncIterable of a discriminated union. Ends
   * after 'lost' or 'closed'. The state is set before it is reported.
   */
  status(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<SessionStatus> {
    return this.statusChannel.iterate(options);
  }

  /** Stops the keepalive and revokes the lease, deleting every key attached to it. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  /**
   * Stops the keepalive but keeps the lease: it expires on its TTL, and the session is
   * reported lost at its local deadline. For handing a lease over or giving up on a
   * connection whose state is unknown.
   */
  orphan(): void {
    this.deps.keepAlive.remove(this.leaseIdDecimal);
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Rejects with the session's loss reason if it is no longer alive. @internal */
  throwIfLost(): void {
    if (!this.isAlive) throw this.signal.reason ?? new SessionLostError('session is not alive');
  }

  private async doClose(): Promise<void> {
    const wasAlive = this.isAlive;
    this.finish('closed', new SessionLostError(`session ${this.leaseId} was closed`));
    if (!wasAlive) return;
    try {
      // Bounded: close() must not hang on an unreachable etcd; the background revoke goes on.
      const bound = AbortSignal.timeout(this.deps.resilience.options.callTimeoutMs);
      await revokeLease(this.deps, this.leaseIdDecimal, this.leaseId, bound);
    } catch (err) {
      if (isClosedError(err)) return;
      this.logger.warn({ err }, 'could not revoke the lease; retrying in the background until etcd answers');
      revokeUntilGone(this.deps, this.leaseIdDecimal, this.leaseId, this.logger, this.retryRevokeMs);
    }
  }

  private onAck(sentAt: number, granted: number): void {
    if (!this.isAlive) return;
    if (granted <= 0) {
      this.lose('etcd reports the lease as expired or unknown');
      return;
    }
    this.deps.emit?.({ type: 'session.keepalive', lease: this.leaseId, rttMs: performance.now() - sentAt });
    if (sentAt > this.lastAckSentAt) this.lastAckSentAt = sentAt;
    const deadline = sentAt + granted * 1000 - this.marginMs;
    if (deadline > this.deadline) this.deadline = deadline;
    this.arm();
    if (this.stateValue === 'at-risk') {
      this.stateValue = 'held';
      this.logger.info('session no longer at risk');
      this.statusChannel.push({ type: 'held' });
    }
  }

  private arm(): void {
    clearTimeout(this.deadlineTimer);
    clearTimeout(this.atRiskTimer);
    const now = performance.now();
    this.deadlineTimer = setTimeout(() => this.onDeadline(), Math.max(0, this.deadline - now));
    const atRiskAt = this.lastAckSentAt + (this.ttl * 1000) / 2;
    if (this.stateValue === 'held') {
      this.atRiskTimer = setTimeout(() => this.onAtRisk(), Math.max(0, atRiskAt - now));
    }
  }

  private onAtRisk(): void {
    if (this.stateValue !== 'held') return;
    this.stateValue = 'at-risk';
    const remainingMs = this.remainingMs;
    this.logger.warn({ remainingMs }, 'session at risk: keepalive overdue');
    this.statusChannel.push({ type: 'at-risk', remainingMs });
    this.deps.emit?.({ type: 'session.at-risk', lease: this.leaseId, remainingMs });
    this.deps.keepAlive.kick(this.leaseIdDecimal);
  }

  private onDeadline(): void {
    if (!this.isAlive) return;
    const late = performance.now() - this.deadline;
    if (late < 0) {
      this.arm();
      return;
    }
    this.lose(`no keepalive answered within the TTL of ${this.ttl}s (local deadline passed)`);
  }

  private lose(why: string): void {
    const error = new SessionLostError(`session ${this.leaseId} lost: ${why}`);
    this.logger.warn({ why }, 'session lost');
    this.finish('lost', error);
    // If etcd still has the lease (or gets it back after a restart), free its keys as
    // soon as etcd answers rather than a TTL later.
    revokeUntilGone(this.deps, this.leaseIdDecimal, this.leaseId, this.logger, this.retryRevokeMs);
  }

  private finish(state: 'lost' | 'closed', error: SessionLostError): void {
    if (!this.isAlive) return;
    clearTimeout(this.deadlineTimer);
    clearTimeout(this.atRiskTimer);
    this.deps.keepAlive.remove(this.leaseIdDecimal);
    this.stateValue = state;
    this.controller.abort(error);
    this.statusChannel.push(state === 'lost' ? { type: 'lost', error } : { type: 'closed' });
    this.statusChannel.end();
    this.deps.emit?.(
      state === 'lost'
        ? { type: 'session.lost', lease: this.leaseId, reason: error.message }
        : { type: 'session.closed', lease: this.leaseId },
    );
  }
}

/**
 * Grants a lease with a client-chosen id, so that a retried grant is idempotent (a
 * retry that finds the lease already granted uses it), and starts its keepalive.
 * @internal
 */
export async function grantSession(deps: SessionDeps, ttl: number, signal?: AbortSignal): Promise<Session> {
  const id = (randomBytes(8).readBigUInt64BE() & 0x7fff_ffff_ffff_ffffn || 1n).toString();
  let sentAt = performance.now();
  let granted: number;
  let remaining: number | undefined;
  try {
    const res = await deps.resilience.run(
      'grant lease',
      async () => {
        try {
          return await deps.client.leaseClient.leaseGrant({ ID: id, TTL: ttl });
        } catch (err) {
          if (err instanceof Error && /lease already exists/.test(err.message)) return { TTL: String(ttl), error: '' };
          throw err;
        }
      },
      { idempotent: true, signal },
    );
    if (res.error) throw new CoordinationError(`etcd refused the lease: ${res.error}`);
    granted = Number(res.TTL);
    if (performance.now() - sentAt > (granted * 1000) / 3) {
      // A slow grant (a retry during a leader election, say): dating the lease from the
      // first attempt would leave little or nothing of it. Ask etcd what is left instead;
      // the answer is dated by this request's send time, so the deadline stays early.
      sentAt = performance.now();
      const ttlRes = await deps.resilience.run(
        'read lease TTL',
        () => deps.client.leaseClient.leaseTimeToLive({ ID: id }),
        { idempotent: true, signal },
      );
      remaining = Number(ttlRes.TTL);
      if (remaining <= 0)
        throw new SessionLostError(`the lease granted for a new session expired before it could be used`);
    }
  } catch (err) {
    signal?.throwIfAborted();
    throw err;
  }
  const session = new Session(deps, id, granted, sentAt, remaining);
  deps.emit?.({ type: 'session.granted', lease: session.leaseId, ttl: granted });
  if (signal?.aborted) {
    await session.close();
    throw signal.reason;
  }
  return session;
}
