/**
 * Scenario 7, sessions: 1,000 sessions (TTL 10 s) in one process for a fixed window:
 * keepalive messages per second, keepalive streams, client CPU and heap. Baseline: 1,000
 * leases of the `etcd3` package (`client.lease(10)`), which keeps each lease alive on a
 * stream of its own.
 */

import { connect, type Session } from 'etcd-coord';
import type { Lease } from 'etcd3';
import { batched } from '../lib/batched.js';
import type { BenchEnv } from '../lib/env.js';
import { delta, readCounters } from '../lib/etcd-metrics.js';
import { etcd3Client } from '../lib/raw.js';
import { Collector, type ScenarioResult } from '../lib/report.js';
import { fmt, ratio } from '../lib/stats.js';
import { cpuMs, heapMb, now, sleep } from '../lib/timing.js';

const TTL = 10;

interface Window {
  readonly keepAlivesPerSecond: number;
  readonly cpuPercent: number;
  readonly heapStart: number;
  readonly heapEnd: number;
  readonly heapMax: number;
  /** Keepalive streams etcd saw opened from the first grant to the start of the window. */
  readonly streams: number;
}

/** Holds whatever `setup` created for `seconds`, measuring what etcd and this process see. */
async function observe(env: BenchEnv, seconds: number): Promise<Omit<Window, 'streams'>> {
  const heaps = [heapMb()];
  const before = await readCounters([env.single]);
  const t0 = now();
  let cpu = 0;
  let idle = 0;
  for (let i = 0; i < 4; i++) {
    const cpu0 = cpuMs();
    const t1 = now();
    await sleep((seconds * 1000) / 4);
    idle += now() - t1;
    cpu += cpuMs() - cpu0; // the forced GCs of the heap samples are left out
    heaps.push(heapMb());
  }
  const elapsed = (now() - t0) / 1000;
  const counts = delta(before, await readCounters([env.single]));
  return {
    keepAlivesPerSecond: counts.keepAlives / elapsed,
    cpuPercent: (cpu / idle) * 100,
    heapStart: heaps[0],
    heapEnd: heaps[heaps.length - 1],
    heapMax: Math.max(...heaps),
  };
}

interface CoordWindow extends Window {
  readonly setup: number;
  /** The KeepAliveStream's own counters. */
  readonly clientStreams: number;
  readonly clientSent: number;
}

async function coordWindow(env: BenchEnv, count: number, seconds: number): Promise<CoordWindow> {
  const coord = await connect({ endpoints: [env.single.endpoint], namespace: env.ns('sessions') });
  try {
    const c0 = await readCounters([env.single]);
    const t0 = now();
    const sessions: Session[] = await batched(count, 50, () => coord.newSession());
    const setup = (now() - t0) / 1000;
    // Let the first keepalive round (ttl/3 after the grants) start before measuring.
    await sleep((TTL * 1000) / 3);
    const streams = delta(c0, await readCounters([env.single])).keepAliveStreams;
    const sent0 = coord.diagnostics().keepAlive.sent;
    const t1 = now();
    const w = await observe(env, seconds);
    const clientSent = (coord.diagnostics().keepAlive.sent - sent0) / ((now() - t1) / 1000);
    const lost = sessions.filter((s) => !s.isAlive).length;
    if (lost > 0) throw new Error(`sessions: ${lost} of ${count} sessions were lost during the window`);
    return { ...w, setup, streams, clientStreams: coord.diagnostics().keepAlive.streamsOpened, clientSent };
  } finally {
    await coord.close();
  }
}

async function etcd3Window(env: BenchEnv, count: number, seconds: number): Promise<Window & { setup: number }> {
  const client = etcd3Client([env.single.endpoint]);
  const leases: Lease[] = [];
  try {
    const c0 = await readCounters([env.single]);
    const t0 = now();
    await batched(count, 50, async () => {
      const lease = client.lease(TTL, { autoKeepAlive: true });
      leases.push(lease);
      await lease.grant();
    });
    const setup = (now() - t0) / 1000;
    await sleep((TTL * 1000) / 3);
    const streams = delta(c0, await readCounters([env.single])).keepAliveStreams;
    return { ...(await observe(env, seconds)), setup, streams };
  } finally {
    await Promise.allSettled(leases.map((l) => l.revoke()));
    client.close();
  }
}

/** Scenario 7. */
export async function sessions(env: BenchEnv): Promise<ScenarioResult> {
  const c = new Collector('sessions');
  const count = 1000;
  // A whole number of keepalive intervals (TTL/3): sessions granted together keep alive together.
  const seconds = env.n(9, 2) * (TTL / 3);
  env.log(`sessions: ${count} etcd-coord sessions for ${fmt(seconds)} s`);
  const coord = await coordWindow(env, count, seconds);
  env.log(`sessions: ${count} etcd3 leases for ${fmt(seconds)} s`);
  const e3 = await etcd3Window(env, count, seconds);
  const expected = (count * 3) / TTL;
  const sec = c.section(
    'sessions',
    `${count} sessions (TTL ${TTL} s) in one process, ${fmt(seconds)} s window, single node`,
  );
  for (const [name, w] of [
    ['etcd-coord sessions', coord],
    ['etcd3 leases', e3],
  ] as const) {
    sec.rows.push({
      case: name,
      cells: {
        'grant s': w.setup,
        'keepalives/s (etcd)': w.keepAlivesPerSecond,
        '× sessions·3/TTL': ratio(w.keepAlivesPerSecond, expected),
        'keepalive streams': w.streams,
        'CPU %': w.cpuPercent,
        '× etcd3 CPU': ratio(w.cpuPercent, e3.cpuPercent),
        'heap start MB': w.heapStart,
        'heap end MB': w.heapEnd,
      },
    });
  }
  sec.rows[0].cells['client-counted keepalives/s'] = coord.clientSent;
  c.target(
    '1,000 sessions: one keepalive stream',
    `${coord.streams} (etcd), ${coord.clientStreams} (streamsOpened)`,
    coord.streams === 1 && coord.clientStreams === 1,
  );
  const r = ratio(coord.keepAlivesPerSecond, expected) ?? Number.NaN;
  c.target(
    'keepalive traffic ∝ sessions/TTL×3',
    `${fmt(coord.keepAlivesPerSecond)}/s = ${fmt(r)}× ${expected}/s`,
    r >= 0.9 && r <= 1.1,
  );
  const growth = coord.heapEnd - coord.heapStart;
  c.target(
    `no heap growth over ${fmt(seconds)} s`,
    `${fmt(growth)} MB (${fmt(coord.heapStart)} → ${fmt(coord.heapEnd)})`,
    growth < 1,
  );
  sec.notes.push(
    `Grants in batches of 50; measuring starts one keepalive interval (TTL/3) after the last grant and lasts ${fmt(seconds)} s (a whole number of keepalive intervals, since the sessions granted together keep alive in bursts)${env.quick ? '' : ' (shortened from a longer soak to fit the 10-minute budget)'}.`,
    'keepalives/s: LeaseKeepAlive messages etcd received (its /metrics); client-counted: the KeepAliveStream’s `sent`. keepalive streams: LeaseKeepAlive streams etcd saw opened from the first grant on. CPU %: this process, user + system, of one core. Heap: heapUsed after a full GC, at the start and end of the window.',
  );
  return c;
}
