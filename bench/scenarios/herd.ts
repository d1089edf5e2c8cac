/**
 * Scenario 4, herd: 10, 100 and 1000 waiters queued on one lock (one coordinator, one
 * session per waiter, so each has its own key in etcd's queue). Once every waiter is
 * queued and watching, the holder lets go and each waiter, on getting the lock, releases
 * it at once. Per handoff: etcd requests, watch events (sent by etcd and received by the
 * coordinator's shared watch stream) and client CPU.
 */
import { connect, type Session } from 'etcd-coord';
import { batched } from '../lib/batched.js';
import type { BenchEnv } from '../lib/env.js';
import { delta, readCounters } from '../lib/etcd-metrics.js';
import { Collector, type ScenarioResult } from '../lib/report.js';
import { fmt, ratio } from '../lib/stats.js';
import { cpuMs, now, until } from '../lib/timing.js';

interface HerdRow {
  readonly waiters: number;
  readonly seconds: number;
  readonly requests: number;
  readonly sent: number;
  readonly received: number;
  readonly cpu: number;
}

async function herd(env: BenchEnv, waiters: number): Promise<HerdRow> {
  const coord = await connect({ endpoints: [env.single.endpoint], namespace: env.ns('herd') });
  try {
    const sessions = await batched(waiters + 1, 50, () => coord.newSession({ ttl: 30 }));
    const mutex = (s: Session) => coord.mutex('herd', { session: s });
    const watchersBefore = await env.single.metric('etcd_debugging_mvcc_watcher_total');
    const holder = await mutex(sessions[0]).acquire();
    let done = 0;
    const all = sessions.slice(1).map(async (s) => {
      const lock = await mutex(s).acquire();
      done++;
      await lock.release();
    });
    // Queued and watching: the holder's guard + one predecessor watch per waiter.
    await until(
      async () => (await env.single.metric('etcd_debugging_mvcc_watcher_total')) >= watchersBefore + waiters + 1,
      `${waiters} waiters watching`,
      120_000,
      50,
    );
    const before = await readCounters([env.single]);
    const received0 = coord.diagnostics().watch.eventsReceived;
    const cpu0 = cpuMs();
    const t0 = now();
    await holder.release();
    await Promise.all(all);
    const seconds = (now() - t0) / 1000;
    const cpu = cpuMs() - cpu0;
    const counts = delta(before, await readCounters([env.single]));
    if (done !== waiters) throw new Error(`herd: ${done} of ${waiters} waiters got the lock`);
    return {
      waiters,
      seconds,
      requests: counts.requests / waiters,
      sent: counts.watchEvents / waiters,
      received: (coord.diagnostics().watch.eventsReceived - received0) / waiters,
      cpu: cpu / waiters,
    };
  } finally {
    await coord.close();
  }
}

/** Scenario 4. */
export async function lockHerd(env: BenchEnv): Promise<ScenarioResult> {
  const c = new Collector('herd');
  const sec = c.section('herd', 'Herd: waiters queued on one lock, single node');
  const rows: HerdRow[] = [];
  for (const waiters of env.quick ? [10, 100] : [10, 100, 1000]) {
    env.log(`herd: ${waiters} waiters`);
    rows.push(await herd(env, waiters));
  }
  const base = rows[0];
  for (const r of rows) {
    sec.rows.push({
      case: `${r.waiters} waiters`,
      cells: {
        'handoffs/s': r.waiters / r.seconds,
        'etcd req/handoff': r.requests,
        'watch events sent/handoff': r.sent,
        'events received/handoff': r.received,
        '× 10-waiter events': ratio(r.received, base.received),
        'client CPU ms/handoff': r.cpu,
      },
    });
  }
  const last = rows[rows.length - 1];
  c.target(
    `O(1) watch events per handoff up to ${last.waiters} waiters`,
    `${fmt(last.received)} received, ${fmt(last.sent)} sent by etcd (${fmt(base.received)} at 10)`,
    last.received <= 2 * Math.max(1, base.received) && last.sent <= 2 * Math.max(1, base.sent),
  );
  sec.notes.push(
    'One coordinator, one session (TTL 30 s) per waiter: each waiter has its own key in the queue and watches only its predecessor. Timing starts when every waiter is queued and watching (etcd_debugging_mvcc_watcher_total) and ends when the last has had the lock.',
    'etcd req/handoff: gRPC messages etcd received (keepalives excluded). Watch events sent: etcd_debugging_mvcc_events_total; received: the coordinator’s shared watch stream (coord.diagnostics().watch.eventsReceived). A thundering herd would show ~N events per handoff.',
  );
  return c;
}
