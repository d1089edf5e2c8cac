/**
 * What the library reports to operators: one discriminated union of events, each
 * logged as a structured pino event and counted in Prometheus metrics when
 * `connect({ metrics })` is on (metrics.ts).
 * @module
 */

/** The kind of lock an event is about. */
export type LockKind = 'mutex' | 'semaphore' | 'read' | 'write';

/** Everything the library reports as it happens. */
export type CoordEvent =
  | {
      /** A session's lease was granted. */
      readonly type: 'session.granted';
      /** The lease id, lower-case hex. */
      readonly lease: string;
      /** The TTL etcd granted, in seconds. */
      readonly ttl: number;
    }
  | {
      /** etcd answered a keepalive of a live session (not logged; feeds the round-trip histogram). */
      readonly type: 'session.keepalive';
      /** The lease id, lower-case hex. */
      readonly lease: string;
      /** Round trip of the keepalive, in ms. */
      readonly rttMs: number;
    }
  | {
      /** No keepalive sent in the last half TTL has been answered. */
      readonly type: 'session.at-risk';
      /** The lease id, lower-case hex. */
      readonly lease: string;
      /** Time left until the session's local deadline, in ms. */
      readonly remainingMs: number;
    }
  | {
      /** The session was lost: its local deadline passed, or etcd reports the lease expired or unknown. */
      readonly type: 'session.lost';
      /** The lease id, lower-case hex. */
      readonly lease: string;
      /** Why, as in the {@link SessionLostError} message. */
      readonly reason: string;
    }
  | {
      /** A live session was closed with `close()` (which `coord.close()` also does). */
      readonly type: 'session.closed';
      /** The lease id, lower-case hex. */
      readonly lease: string;
    }
  | {
      /** A lock was acquired. */
      readonly type: 'lock.acquired';
      /** Which kind of lock. */
      readonly kind: LockKind;
      /** The lock's name (without the namespace). */
      readonly name: string;
      /** Time from the acquire call to holding the lock, in ms. */
      readonly waitMs: number;
      /** The lock's fencing token (its key's create revision). */
      readonly token: bigint;
    }
  | {
      /** A held lock was released with `release()`. */
      readonly type: 'lock.released';
      /** Which kind of lock. */
      readonly kind: LockKind;
      /** The lock's name (without the namespace). */
      readonly name: string;
      /** How long the lock was held, in ms. */
      readonly holdMs: number;
    }
  | {
      /** A held lock was lost (its session was lost, or its key deleted or replaced). */
      readonly type: 'lock.lost';
      /** Which kind of lock. */
      readonly kind: LockKind;
      /** The lock's name (without the namespace). */
      readonly name: string;
      /** How long the lock was held, in ms. */
      readonly holdMs: number;
      /** Why: the message of the error the lock's `signal` aborted with. */
      readonly reason: string;
    }
  | {
      /** An acquire call gave up after its `timeoutMs` ({@link LockTimeoutError}). */
      readonly type: 'lock.timeout';
      /** Which kind of lock. */
      readonly kind: LockKind;
      /** The lock's name (without the namespace). */
      readonly name: string;
      /** Time from the acquire call to giving up, in ms. */
      readonly waitMs: number;
    }
  | {
      /** A campaign won: this process now leads the election. */
      readonly type: 'leadership.acquired';
      /** The election's name (without the namespace). */
      readonly name: string;
      /** Time from the campaign call to leading, in ms. */
      readonly waitMs: number;
      /** The leadership's fencing token (its key's create revision). */
      readonly token: bigint;
    }
  | {
      /** A leadership held here ended. */
      readonly type: 'leadership.ended';
      /** The election's name (without the namespace). */
      readonly name: string;
      /** How long the leadership was held, in ms. */
      readonly holdMs: number;
      /** 'resigned': given up here (resign or stop); 'lost': the session was lost or the key deleted or replaced. */
      readonly reason: 'resigned' | 'lost';
    }
  | {
      /** A service instance was registered. */
      readonly type: 'registry.registered';
      /** The service name. */
      readonly service: string;
      /** The instance id. */
      readonly id: string;
    }
  | {
      /** A registration was lost (lease lost, key deleted or overwritten); re-registration starts. */
      readonly type: 'registry.lost';
      /** The service name. */
      readonly service: string;
      /** The instance id. */
      readonly id: string;
    }
  | {
      /** A lost registration was registered again on a fresh lease. */
      readonly type: 'registry.reregistered';
      /** The service name. */
      readonly service: string;
      /** The instance id. */
      readonly id: string;
    }
  | {
      /** A registration ended: `deregister()`, its register signal, or the coordinator closing. */
      readonly type: 'registry.deregistered';
      /** The service name. */
      readonly service: string;
      /** The instance id. */
      readonly id: string;
    };
