/**
 * The shapes of the queue engine: which keys block a contender, one contender's place,
 * how it waits, and the turn it reaches. Owner-neutral: a lock, a permit, a side of a
 * read-write lock and an election candidacy are all a {@link QueueSpec}.
 * @module
 */
import type { CoordContext } from '../context.js';
import type { Session } from '../lease/session.js';

/** Which keys can keep a contender waiting. */
export interface Blockers {
  /** Every blocker's key starts with this. */
  readonly prefix: string;
  /** A contender proceeds while fewer than this many blockers are ahead of it. */
  readonly limit: number;
  /** Whether a key in the range counts (e.g. direct children only). */
  readonly member: (key: string) => boolean;
}

/** One contender's place in a queue. */
export interface QueueSpec {
  readonly ctx: CoordContext;
  /** For messages, e.g. 'lock jobs/nightly'. */
  readonly what: string;
  /** My full key. */
  readonly key: string;
  readonly value: Buffer;
  readonly session: Session;
  readonly blockers: Blockers;
}

/** A reached turn: my key, its create revision (the fencing token), and the revision it was seen at. */
export interface Turn {
  readonly key: string;
  readonly token: bigint;
  readonly revision: bigint;
  /** The value my key already had when the join found it (left by an earlier wait); undefined when the join created it. */
  readonly found?: Buffer;
}

/** How to wait. */
export interface WaitOptions {
  /** Gives up (the caller's abort and deadline, linked once by the acquire pipeline). */
  signal?: AbortSignal;
  /** false: give up (and leave no key) instead of waiting. */
  wait: boolean;
  /** Called once my key is in the queue (for telemetry: the position at join). */
  onJoin?: (joined: JoinInfo) => void;
  /** Lock-delay: wait this much more when a predecessor's key went with its lease (`lock-delay.ts`). Default 0. */
  lockDelayMs?: number;
}

/** What the join saw: my token, the revision of the join, whether my turn was free at once. */
export interface JoinInfo {
  readonly token: bigint;
  readonly revision: bigint;
  readonly ready: boolean;
}
