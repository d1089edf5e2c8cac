/**
 * The {@link Reporter} behind `ctx.emit()`: logs every {@link CoordEvent} through pino
 * and, when `connect({ metrics })` is given a prom-client Registry, counts it in
 * Prometheus metrics (prom-client is an optional peer dependency, loaded only then).
 * @module
 */
import type { Logger } from 'pino';
import type { CoordEvent } from './events.js';

/** Live values read when metrics are scraped. @internal */
export interface Gauges {
  sessions(): number;
  /** Live sessions whose state is 'at-risk' now. */
  sessionsAtRisk(): number;
  breakerOpen(): number;
  registrations(): number;
  cacheInstances(): Array<{ service: string; count: number }>;
}

/** A prom-client `Registry` (typed loosely so prom-client stays optional). */
export type MetricsRegistry = object;

type PromClient = typeof import('prom-client');

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Receives every {@link CoordEvent}: logs it, and counts it when metrics are on. @internal */
export class Reporter {
  private record: ((e: CoordEvent) => void) | undefined;

  constructor(private readonly logger: Logger) {}

  /** Registers the metrics in `registry` (loads prom-client). */
  async enableMetrics(registry: MetricsRegistry, gauges: Gauges): Promise<void> {
    let prom: PromClient;
    try {
      prom = await import('prom-client');
    } catch (err) {
      throw new Error('connect({ metrics }) needs the optional peer dependency prom-client: npm install prom-client', {
        cause: err,
      });
    }
    this.record = promRecorder(prom, registry as import('prom-client').Registry, gauges);
  }

  /** Reports an event. Never throws. */
  emit(e: CoordEvent): void {
    try {
      const level = e.type.endsWith('.lost') || e.type === 'session.at-risk' ? 'warn' : 'debug';
      if (e.type !== 'session.keepalive' && this.logger.isLevelEnabled(level)) {
        this.logger[level]({ event: e.type, ...stringify(e) }, e.type);
      }
      this.record?.(e);
    } catch (err) {
      this.logger.error({ err }, 'metrics reporter failed');
    }
  }
}

function stringify(e: CoordEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) if (k !== 'type') out[k] = typeof v === 'bigint' ? v.toString() : v;
  return out;
}

function promRecorder(prom: PromClient, registry: import('prom-client').Registry, gauges: Gauges) {
  const registers = [registry];
  const h = (name: string, help: string, labelNames: string[]) =>
    new prom.Histogram({ name, help, labelNames, buckets: SECONDS, registers });
  const c = (name: string, help: string, labelNames: string[]) =>
    new prom.Counter({ name, help, labelNames, registers });
  const lockWait = h('etcd_coord_lock_wait_seconds', 'Time from acquire() to holding the lock', ['kind', 'name']);
  const lockHold = h('etcd_coord_lock_hold_seconds', 'Time a lock was held', ['kind', 'name']);
  const lockLost = c('etcd_coord_lock_lost_total', 'Locks lost while held (session loss, key deleted)', [
    'kind',
    'name',
  ]);
  const lockTimeouts = c('etcd_coord_lock_timeouts_total', 'acquire() calls that timed out', ['kind', 'name']);
  const keepaliveRtt = h('etcd_coord_keepalive_rtt_seconds', 'Keepalive round trip', []);
  const sessionLost = c('etcd_coord_session_lost_total', 'Sessions lost (local deadline passed or lease gone)', []);
  const atRisk = c('etcd_coord_session_at_risk_total', 'Times a session went at-risk (keepalive overdue)', []);
  const leaderChanges = c('etcd_coord_leadership_changes_total', 'Leaderships gained and ended here', [
    'name',
    'event',
  ]);
  const reregs = c('etcd_coord_registry_reregistrations_total', 'Registrations restored after a lease loss', [
    'service',
  ]);
  const regLost = c(
    'etcd_coord_registry_lost_total',
    'Registrations lost (lease lost, key deleted or overwritten); each then registers again',
    ['service'],
  );
  new prom.Gauge({
    name: 'etcd_coord_sessions',
    help: 'Live sessions',
    registers,
    collect() {
      this.set(gauges.sessions());
    },
  });
  new prom.Gauge({
    name: 'etcd_coord_sessions_at_risk',
    help: 'Live sessions whose keepalive is overdue (state at-risk) now',
    registers,
    collect() {
      this.set(gauges.sessionsAtRisk());
    },
  });
  new prom.Gauge({
    name: 'etcd_coord_breaker_open',
    help: '1 while every endpoint fails fast (circuit open), 0.5 half-open, 0 closed',
    registers,
    collect() {
      this.set(gauges.breakerOpen());
    },
  });
  new prom.Gauge({
    name: 'etcd_coord_registrations',
    help: 'Service registrations held by this process',
    registers,
    collect() {
      this.set(gauges.registrations());
    },
  });
  new prom.Gauge({
    name: 'etcd_coord_cache_instances',
    help: 'Instances known to each discovery cache',
    labelNames: ['service'],
    registers,
    collect() {
      this.reset();
      for (const { service, count } of gauges.cacheInstances()) this.set({ service }, count);
    },
  });
  return (e: CoordEvent) => {
    switch (e.type) {
      case 'lock.acquired':
        lockWait.observe({ kind: e.kind, name: e.name }, e.waitMs / 1000);
        break;
      case 'lock.released':
        lockHold.observe({ kind: e.kind, name: e.name }, e.holdMs / 1000);
        break;
      case 'lock.lost':
        lockHold.observe({ kind: e.kind, name: e.name }, e.holdMs / 1000);
        lockLost.inc({ kind: e.kind, name: e.name });
        break;
      case 'lock.timeout':
        lockTimeouts.inc({ kind: e.kind, name: e.name });
        break;
      case 'session.keepalive':
        keepaliveRtt.observe(e.rttMs / 1000);
        break;
      case 'session.lost':
        sessionLost.inc();
        break;
      case 'session.at-risk':
        atRisk.inc();
        break;
      case 'leadership.acquired':
        leaderChanges.inc({ name: e.name, event: 'acquired' });
        break;
      case 'leadership.ended':
        leaderChanges.inc({ name: e.name, event: e.reason });
        break;
      case 'registry.reregistered':
        reregs.inc({ service: e.service });
        break;
      case 'registry.lost':
        regLost.inc({ service: e.service });
        break;
      default:
        break;
    }
  };
}
