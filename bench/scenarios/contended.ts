/**
 * Scenario 3, contended lock: 4, 8 and 32 contenders in separate processes, each taking
 * the lock `sections` times back to back (empty critical section). Peers: etcd-coord's
 * Mutex, the `etcd3` lock() polled with backoff (it fails fast when held), and etcd's
 * server-side Lock service through the gateway.
 */
import type { ContendedPeer } from '../children/contender.js';
import { analyse, type ContentionStats, type SectionTimes } from '../lib/contention.js';
import type { BenchEnv } from '../lib/env.js';
import { counting } from '../lib/etcd-metrics.js';
import { Pool } from '../lib/pool.js';
import { Collector, type ScenarioResult } from '../lib/report.js';
import { fmt, ratio } from '../lib/stats.js';

const PEERS: ContendedPeer[] = ['etcd-coord', 'server-side', 'etcd3-poll'];

interface PeerRun extends ContentionStats {
  readonly cpuPerHandoff: number;
  readonly requestsPerHandoff: number;
  readonly attemptsPerHandoff: number;
}

/** Scenario 3. */
export async function lockContended(env: BenchEnv): Promise<ScenarioResult> {
  const c = new Collector('contended');
  const rows: [contenders: number, sections: number][] = env.quick
    ? [
        [4, 10],
        [8, 10],
      ]
    : [
        [4, 50],
        [8, 50],
        [32, 20],
      ];
  const ns = env.ns('contended');
  const members = [env.single];
  const most = Math.max(...rows.map((r) => r[0]));
  env.log(`starting ${most} contender processes`);
  const pool = await Pool.start('bench/children/contender.ts', most, {
    ENDPOINTS: env.single.endpoint,
    NS: ns,
    GATEWAY_PORT: String(env.single.config.clientPort),
  });
  const sec = c.section('contended', 'Contended lock, single node (contenders in separate processes)');
  const methodNotes: string[] = [];
  try {
    for (const [contenders, sections] of rows) {
      const results: Partial<Record<ContendedPeer, PeerRun>> = {};
      for (const peer of PEERS) {
        env.log(`contended: ${contenders} × ${sections}, ${peer}`);
        const { result: answers, counts } = await counting(members, () =>
          pool.run(contenders, { type: 'run', peer, name: `c${contenders}-${peer}`, sections }),
        );
        const all = answers.flatMap((a) => a.samples as SectionTimes[]);
        const stats = analyse(all);
        const cpu = answers.reduce((s, a) => s + (a.cpuMs as number), 0);
        const attempts = answers.reduce((s, a) => s + (a.attempts as number), 0);
        results[peer] = {
          ...stats,
          cpuPerHandoff: cpu / stats.handoffs,
          requestsPerHandoff: counts.requests / stats.handoffs,
          attemptsPerHandoff: attempts / stats.handoffs,
        };
        if (peer === 'etcd-coord') {
          const perMethod = Object.entries(counts.byMethod)
            .filter(([m]) => m !== 'LeaseKeepAlive')
            .map(([m, v]) => `${m} ${fmt(v / stats.handoffs)}`);
          methodNotes.push(`${contenders} contenders: ${perMethod.join(', ')}`);
        }
      }
      const base = results['server-side']?.handoffsPerSecond;
      for (const peer of PEERS) {
        const r = results[peer] as PeerRun;
        sec.rows.push({
          case: `${contenders} × ${sections}: ${peer}`,
          cells: {
            'handoffs/s': r.handoffsPerSecond,
            '× server-side': ratio(r.handoffsPerSecond, base),
            'wait p50 ms': r.wait.p50,
            'wait p99 ms': r.wait.p99,
            'wait max ms': r.wait.max,
            'max/mean wait': r.fairness,
            'handoff p50 ms': r.gap.p50,
            'handoff p90 ms': r.gap.p90,
            'handoffs > 50 ms': `${Math.round(r.slowGaps * 100)}%`,
            overtaken: `${r.overtaken}/${r.handoffs}`,
            'out of queue order': r.outOfQueueOrder,
            overlaps: r.overlaps,
            'CPU ms/handoff': r.cpuPerHandoff,
            'etcd req/handoff': r.requestsPerHandoff,
            'tries/handoff': peer === 'etcd3-poll' ? r.attemptsPerHandoff : undefined,
          },
        });
      }
      const coord = results['etcd-coord'] as PeerRun;
      const poll = results['etcd3-poll'] as PeerRun;
      if (contenders === 4) {
        const x = ratio(coord.handoffsPerSecond, base) ?? Number.NaN;
        c.target('4 contenders: handoffs/s ≥ 3× server-side Lock', `${fmt(x)}×`, x >= 3);
      }
      c.target(
        `${contenders} contenders: FIFO (served in queue order), no overlap`,
        `${coord.outOfQueueOrder} out of queue order, ${coord.overlaps} overlaps (${coord.overtaken} overtaken by request time)`,
        coord.outOfQueueOrder === 0 && coord.overlaps === 0,
      );
      c.target(
        `${contenders} contenders: ahead of polling etcd3 lock`,
        `${fmt(coord.handoffsPerSecond)} vs ${fmt(poll.handoffsPerSecond)} handoffs/s`,
        coord.handoffsPerSecond > poll.handoffsPerSecond,
      );
    }
  } finally {
    await pool.stop();
  }
  sec.notes.push(
    `Rows: contenders × critical sections each${env.quick ? '' : '; the 32-contender row takes 20 sections each (not 50) to keep the whole run under 10 minutes'}. Every contender re-requests the lock right after releasing it.`,
    'handoffs/s = all sections / (last release − first request). wait = acquired − requested. max/mean wait: 1 is perfectly even. handoff = from the holder starting to release to the next holder (who was already waiting) having the lock; etcd delivers an event to a watch created after the change happened (start revision already passed) only at its next unsynced-watcher sync, every 100 ms, which shows as handoffs > 50 ms.',
    'overtaken: sections that a contender who asked > 1 ms later (by its own clock, before its first request left) got first; on a loaded machine a request can take longer than that to reach etcd, so this over-counts. out of queue order (etcd-coord only, from the fencing tokens, which are the queue positions): sections granted after one with a larger token; 0 = FIFO exactly. overlaps: holds that began > 1 ms before the previous holder started releasing (must be 0). Times are epoch ms from each process (same machine clock).',
    'CPU ms/handoff: user + system CPU of all contender processes during the run / handoffs (the client side only; etcd not included).',
    'etcd req/handoff: gRPC messages etcd received (keepalives excluded), from /metrics. etcd3-poll: lock() fails fast when held, so it retries with jittered backoff 2..64 ms; each try is LeaseGrant + Txn + LeaseRevoke.',
  );
  sec.notes.push(`etcd-coord, gRPC messages etcd received per handoff: ${methodNotes.join('; ')}.`);
  return c;
}
