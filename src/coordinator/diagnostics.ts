/**
 * `coord.diagnostics()`: the counters of a coordinator's shared streams, for benchmarks,
 * dashboards and support. Cheap: it reads counters the streams keep anyway.
 * @module
 */
import type { KeepAliveStream } from '../lease/keepalive.js';
import type { BreakerState } from '../resilience.js';
import type { WatchHub } from '../watch.js';

/**
 * A snapshot of a coordinator's counters, as {@link Coordinator.diagnostics} returns it.
 * Counters count from `connect()` and only grow: take two snapshots and subtract to
 * measure a piece of work (e.g. watch events received per lock handoff).
 */
export interface Diagnostics {
  /** The shared watch stream (every lock wait, guard, observer and discovery cache). */
  readonly watch: {
    /** Watch events received. */
    readonly eventsReceived: number;
    /** Streams opened: the first one and every reopen after a break. */
    readonly streamsOpened: number;
    /** Streams given up because etcd stopped answering (a frozen etcd, a hung connection). */
    readonly silentFailures: number;
    /** Watchers open now. */
    readonly watchers: number;
  };
  /** The shared keepalive stream (every session's lease). */
  readonly keepAlive: {
    /** Keepalive requests sent. */
    readonly sent: number;
    /** Streams opened: the first one and every reopen after a break. */
    readonly streamsOpened: number;
    /** Streams given up because etcd stopped answering. */
    readonly silentFailures: number;
    /** Leases kept alive now. */
    readonly leases: number;
  };
  /** Live sessions of this coordinator now. */
  readonly sessions: number;
  /** State of the circuit breakers: 'open' while every endpoint fails fast. */
  readonly breakerState: BreakerState;
}

/** Reads the counters into a fresh {@link Diagnostics}. @internal */
export function readDiagnostics(
  watch: WatchHub,
  keepAlive: KeepAliveStream,
  sessions: number,
  breakerState: BreakerState,
): Diagnostics {
  return {
    watch: {
      eventsReceived: watch.eventsReceived,
      streamsOpened: watch.streamsOpened,
      silentFailures: watch.silentFailures,
      watchers: watch.watchers,
    },
    keepAlive: {
      sent: keepAlive.sent,
      streamsOpened: keepAlive.streamsOpened,
      silentFailures: keepAlive.silentFailures,
      leases: keepAlive.leases,
    },
    sessions,
    breakerState,
  };
}
