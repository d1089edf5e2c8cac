/**
 * Soak (opt-in, `BENCH_ONLY=soak`): one coordinator under a steady mixed load for
 * SOAK_SECONDS (default 600): 200 sessions, locks cycling on 20 names, 2 elections whose
 * leaders hand over, registrations joining and leaving, 5 caches. Every SOAK_SAMPLE_S
 * (default 10) the load is paused at a quiet moment (no lock cycle or churn step in
 * flight) and the process is measured: heap used after forced GCs, active handles
 * (`process.getActiveResourcesInfo()`), open file descriptors (/proc/self/fd), and abort
 * listeners (`events.getEventListeners`) on the long-lived signals: the shared session's,
 * each pool session's, and the caller's own stop signal that every wait gets. The
 * least-squares slope of each after the warm-up decides whether it grows.
 */
import { getEventListeners } from 'node:events';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connect } from 'etcd-coord';
import type { BenchEnv } from '../lib/env.js';
import { delta, readCounters } from '../lib/etcd-metrics.js';
import { type Census, censusBytes, growth, takeCensus } from '../lib/heap-census.js';
import { etcd3Client } from '../lib/raw.js';
import { Collector, type ScenarioResult } from '../lib/report.js';
import { type SoakCounts, SoakLoad, type SoakShape } from '../lib/soak-load.js';
import { fmt } from '../lib/stats.js';
import { cpuMs, heapMb, now, sleep, within } from '../lib/timing.js';
import { type GrowthRule, judge } from '../lib/trend.js';

const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

/** SOAK_SECONDS (default 600, 60 with BENCH_QUICK). */
export const soakSeconds = (quick = process.env.BENCH_QUICK === '1'): number => num('SOAK_SECONDS', quick ? 60 : 600);

const SHAPE: SoakShape = {
  sessions: 200,
  lockNames: 20,
  lockWorkers: num('SOAK_LOCK_WORKERS', 20),
  lockPauseMs: [100, 400],
  elections: 2,
  candidates: 3,
  termMs: [1000, 3000],
  registrations: 20,
  churnPauseMs: [150, 350],
  caches: 5,
};

interface Sample {
  /** Minutes since the load started. */
  readonly t: number;
  readonly heapMb: number;
  readonly rssMb: number;
  readonly handles: number;
  readonly handleTypes: Record<string, number>;
  readonly fds: number;
  readonly sharedListeners: number;
  readonly sessionListeners: number;
  readonly maxSessionListeners: number;
  readonly stopListeners: number;
  /** From coord.diagnostics(): live sessions, leases kept alive, open watchers, streams opened so far. */
  readonly coordSessions: number;
  readonly leases: number;
  readonly watchers: number;
  readonly streamsOpened: number;
  readonly cachesAgree: boolean;
  readonly quietMs: number;
  /** Longest event-loop delay since the previous sample, ms. */
  readonly loopDelayMaxMs: number;
  /** Pool sessions not alive at this sample, and pool sessions replaced after a loss so far. */
  readonly poolDead: number;
  readonly poolReplaced: number;
  readonly counts: Pick<SoakCounts, 'lockCycles' | 'leaderChanges' | 'joined'>;
}

function handleTypes(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const h of process.getActiveResourcesInfo()) out[h] = (out[h] ?? 0) + 1;
  return out;
}

const total = (types: Record<string, number>) => Object.values(types).reduce((s, v) => s + v, 0);
const fds = () => readdirSync('/proc/self/fd').length;
const listeners = (s: AbortSignal) => getEventListeners(s, 'abort').length;

/** The metrics judged, with the rule of each ("nothing may grow"). */
const METRICS: Array<{ key: keyof Sample; label: string; unit: string; rule: GrowthRule | undefined }> = [
  { key: 'heapMb', label: 'heap used after GC', unit: 'MB', rule: { kind: 'relative', fraction: 0.01 } },
  { key: 'handles', label: 'active handles', unit: '', rule: { kind: 'absolute', allowed: 10 } },
  { key: 'fds', label: 'open file descriptors', unit: '', rule: { kind: 'absolute', allowed: 2 } },
  {
    key: 'sharedListeners',
    label: 'abort listeners: shared session',
    unit: '',
    rule: { kind: 'absolute', allowed: 2 },
  },
  {
    key: 'sessionListeners',
    label: 'abort listeners: 200 pool sessions (sum)',
    unit: '',
    rule: { kind: 'absolute', allowed: 10 },
  },
  { key: 'maxSessionListeners', label: 'abort listeners: busiest pool session', unit: '', rule: undefined },
  {
    key: 'stopListeners',
    label: "abort listeners: the caller's stop signal",
    unit: '',
    rule: { kind: 'absolute', allowed: 2 },
  },
  { key: 'coordSessions', label: 'live sessions (diagnostics)', unit: '', rule: { kind: 'absolute', allowed: 3 } },
  { key: 'leases', label: 'leases kept alive (diagnostics)', unit: '', rule: { kind: 'absolute', allowed: 3 } },
  { key: 'watchers', label: 'open watchers (diagnostics)', unit: '', rule: { kind: 'absolute', allowed: 5 } },
  {
    key: 'streamsOpened',
    label: 'watch + keepalive streams opened so far (1 each = no reconnect)',
    unit: '',
    rule: undefined,
  },
  { key: 'rssMb', label: 'RSS (for information)', unit: 'MB', rule: undefined },
];

/** Scenario 8 (opt-in). */
export async function soak(env: BenchEnv): Promise<ScenarioResult> {
  const c = new Collector('soak');
  const seconds = soakSeconds(env.quick);
  const sampleS = num('SOAK_SAMPLE_S', 10);
  const warmupS = num('SOAK_WARMUP_S', Math.min(60, seconds / 4));
  const withCensus = process.env.SOAK_HEAP_CENSUS === '1';
  const censusFiles: string[] = []; // kept on disk, so that the census does not weigh on the heap samples
  const ns = env.ns('soak');
  await sleep(10); // the runner's time-limit timer is armed after run() first yields: count it in both
  const before = { handles: handleTypes(), fds: fds() };
  const coord = await connect({ endpoints: [env.single.endpoint], namespace: ns });
  const load = new SoakLoad(coord, SHAPE, env.log);
  const samples: Sample[] = [];
  let t0 = now();
  let etcdCounts: ReturnType<typeof delta> | undefined;
  let cpu = 0;
  let finished = false;
  try {
    await load.start();
    const c0 = await readCounters([env.single]);
    const cpu0 = cpuMs();
    t0 = now();
    const loopDelay = monitorEventLoopDelay({ resolution: 20 });
    loopDelay.enable();
    env.log(`soak: load running for ${seconds} s, sampling every ${sampleS} s, warm-up ${fmt(warmupS)} s`);

    const sample = async (): Promise<Sample> => {
      const q0 = now();
      await within(load.gate.pause(), 30_000, 'soak: a quiet moment');
      try {
        const quietMs = now() - q0;
        const cachesAgree = await load.cachesAgree(3000);
        const shared = await coord.session();
        const heap = heapMb();
        const types = handleTypes();
        const perSession = load.sessions.map((s) => listeners(s.signal));
        const diag = coord.diagnostics();
        return {
          t: (now() - t0) / 60_000,
          heapMb: heap,
          rssMb: process.memoryUsage().rss / 2 ** 20,
          handles: total(types),
          handleTypes: types,
          fds: fds(),
          sharedListeners: listeners(shared.signal),
          sessionListeners: perSession.reduce((s, v) => s + v, 0),
          maxSessionListeners: Math.max(...perSession),
          stopListeners: listeners(load.stop.signal),
          coordSessions: diag.sessions,
          leases: diag.keepAlive.leases,
          watchers: diag.watch.watchers,
          streamsOpened: diag.watch.streamsOpened + diag.keepAlive.streamsOpened,
          cachesAgree,
          quietMs,
          loopDelayMaxMs: loopDelay.max / 1e6,
          poolDead: load.sessions.filter((x) => !x.isAlive).length,
          poolReplaced: load.counts.sessionsLost,
          counts: {
            lockCycles: load.counts.lockCycles,
            leaderChanges: load.counts.leaderChanges,
            joined: load.counts.joined,
          },
        };
      } finally {
        loopDelay.reset();
        load.gate.resume();
      }
    };

    // SOAK_HEAP_CENSUS=1: a heap snapshot, counted by kind, at a quiet moment at both ends of the window.
    const census = async () => {
      await load.gate.pause();
      try {
        const base = join(tmpdir(), `etcd-coord-soak-${process.pid}-${censusFiles.length}`);
        writeFileSync(`${base}.json`, JSON.stringify([...takeCensus(`${base}.heapsnapshot`)]));
        censusFiles.push(`${base}.json`);
      } finally {
        load.gate.resume();
      }
    };
    samples.push(await sample());
    while (now() - t0 < seconds * 1000) {
      await sleep(Math.min(sampleS * 1000, seconds * 1000 - (now() - t0)));
      const s = await sample();
      samples.push(s);
      if (withCensus && censusFiles.length === 0 && s.t * 60 >= warmupS) await census();
      env.log(
        `soak: ${fmt(s.t * 60)} s heap ${fmt(s.heapMb)} MB, handles ${s.handles}, fds ${s.fds}, listeners ${s.sharedListeners}/${s.sessionListeners}/${s.stopListeners}, loop delay max ${fmt(s.loopDelayMaxMs)} ms, pool sessions dead ${s.poolDead} replaced ${s.poolReplaced}, ${s.counts.lockCycles} lock cycles, ${s.counts.leaderChanges} leader changes, ${s.counts.joined} joined`,
      );
    }
    if (withCensus) await census();
    loopDelay.disable();
    cpu = cpuMs() - cpu0;
    etcdCounts = delta(c0, await readCounters([env.single]));
    finished = true;
  } finally {
    env.log('soak: stopping the load');
    await within(load.finish(), 60_000, 'soak: the load to stop').catch((err) => {
      if (finished) throw err;
    });
    await coord.close();
  }
  const loadMinutes = samples[samples.length - 1].t;

  // Nothing may be left under the namespace.
  const raw = etcd3Client([env.single.endpoint]);
  let leftKeys: string[];
  try {
    leftKeys = await raw.getAll().prefix(ns).keys();
  } finally {
    raw.close();
  }
  await sleep(1000);
  const after = { handles: handleTypes(), fds: fds() };

  // The table: start and end (after the warm-up), slope per minute, verdict.
  const window = samples.filter((s) => s.t * 60 >= warmupS - 1e-6);
  const xs = window.map((s) => s.t);
  const sec = c.section(
    'soak',
    `Soak: ${fmt(loadMinutes)} min under load, ${window.length} samples after a ${fmt(warmupS)} s warm-up, single node`,
  );
  const verdicts: Record<string, unknown> = {};
  for (const m of METRICS) {
    const ys = window.map((s) => s[m.key] as number);
    const v = judge(xs, ys, m.rule ?? { kind: 'absolute', allowed: Number.POSITIVE_INFINITY });
    verdicts[m.key] = v;
    const unit = m.unit ? ` ${m.unit}` : '';
    sec.rows.push({
      case: m.label,
      cells: {
        't=0': samples[0][m.key] as number,
        start: ys[0],
        end: ys[ys.length - 1],
        'end − start': v.change,
        'slope /min': v.slope,
        'slope 95 % CI': `${fmt(v.low)} … ${fmt(v.high)}`,
        verdict: m.rule === undefined ? 'info' : v.grows ? '**GROWS**' : 'ok',
      },
    });
    if (m.rule) {
      c.target(
        `no growth: ${m.label}`,
        `${fmt(ys[0])} → ${fmt(ys[ys.length - 1])}${unit}, ${fmt(v.slope)}${unit}/min`,
        !v.grows,
      );
    }
  }

  // The load achieved.
  const k = load.counts;
  const perMin = (n: number) => n / loadMinutes;
  const loadSec = c.section('soak-load', 'Soak: load achieved (per minute of load)');
  loadSec.rows.push({
    case: 'per minute',
    cells: {
      'lock cycles': perMin(k.lockCycles),
      'lock timeouts': perMin(k.lockTimeouts),
      'tryAcquire busy': perMin(k.tryBusy),
      'leader changes (observed)': perMin(k.leaderChanges),
      'terms started': perMin(k.terms),
      'registrations joined': perMin(k.joined),
      'registrations left': perMin(k.left),
      updates: perMin(k.updates),
      'cache events': perMin(k.cacheEvents),
      'etcd requests/s': etcdCounts ? etcdCounts.requests / (loadMinutes * 60) : undefined,
      'CPU % (this process)': (cpu / (loadMinutes * 60_000)) * 100,
    },
  });
  loadSec.rows.push({
    case: 'total',
    cells: {
      'lock cycles': k.lockCycles,
      'lock timeouts': k.lockTimeouts,
      'tryAcquire busy': k.tryBusy,
      'leader changes (observed)': k.leaderChanges,
      'terms started': k.terms,
      'registrations joined': k.joined,
      'registrations left': k.left,
      updates: k.updates,
      'cache events': k.cacheEvents,
      'etcd requests/s': etcdCounts?.requests,
    },
  });

  const heapTrend = verdicts.heapMb as { slope: number };
  const disagree = samples.filter((s) => !s.cachesAgree).length;
  const errors = Object.entries(k.errors);
  const safe = k.overlaps === 0 && k.locksLost === 0 && k.doubleLeaders === 0;
  c.target('no key left under the namespace after close', `${leftKeys.length} keys`, leftKeys.length === 0);
  c.target(
    'no overlapping holds, lost locks, double leaders',
    `overlaps ${k.overlaps}, locks lost ${k.locksLost}, double leaders ${k.doubleLeaders}`,
    safe,
  );
  // A lost session is not a fault of the load, but it changes what is measured: say when.
  const losses = samples.filter((x, i) => i > 0 && (x.poolDead > 0 || x.poolReplaced > samples[i - 1].poolReplaced));
  c.target(
    'no pool session lost (a quiet enough machine)',
    `${k.sessionsLost} replaced${losses.length ? ` (around ${losses.map((x) => `${fmt(x.t * 60, 0)} s`).join(', ')})` : ''}; longest event-loop delay ${fmt(Math.max(...samples.map((x) => x.loopDelayMaxMs)))} ms`,
    k.sessionsLost === 0 && samples.every((x) => x.poolDead === 0),
  );
  c.target(
    'caches agree with the live registrations at every sample',
    `${samples.length - disagree}/${samples.length}`,
    disagree === 0,
  );
  const typesText = (t: Record<string, number>) =>
    Object.entries(t)
      .sort()
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  sec.notes.push(
    `Load: ${SHAPE.sessions} sessions (TTL ${coord.ttl} s) on one coordinator; ${SHAPE.lockWorkers} lock workers, each cycle on a random one of ${SHAPE.lockNames} names and a random pool session (1 in 10 on the shared session): acquire (65 %), tryAcquire (15 %), withLock (13 %), acquire with a 15 ms timeout (7 %), hold 5–30 ms, pause ${SHAPE.lockPauseMs.join('–')} ms; ${SHAPE.elections} elections × ${SHAPE.candidates} candidates (LeaderJob, each term ${SHAPE.termMs.join('–')} ms with a proclaim half-way, then the task returns and the job resigns); ${SHAPE.registrations} live registrations, one leaving and one joining every ${SHAPE.churnPauseMs.join('–')} ms (each its own lease), an update in 30 % of the steps; ${SHAPE.caches} caches (one per service) read by changes() and pick(). Every wait gets the caller's stop signal.`,
    `Sampling: every ${sampleS} s the load is paused until no lock cycle or churn step is in flight (elections keep running), the caches are given up to 3 s to agree with the live registrations, then heap used after two forced GCs, process.getActiveResourcesInfo(), /proc/self/fd, events.getEventListeners(signal, 'abort') and coord.diagnostics() are read. t=0: right after the load started; start/end: first sample after the warm-up and last sample. Slope: least squares per minute over the samples after the warm-up.`,
    `Verdict: the heap GROWS when its slope is significantly above 0 (95 % interval) and above 1 % of its start value per minute; a count GROWS when end − start exceeds its allowance (handles 10, fds 2, shared-session listeners 2, pool-session listeners 10, stop-signal listeners 2, sessions 3, leases 3, watchers 5), or the slope is significantly above 0 and the fitted rise over the window exceeds it.`,
    `Active handles at the start: ${typesText(window[0].handleTypes)}; at the end: ${typesText(window[window.length - 1].handleTypes)}.`,
    `Before connect: ${total(before.handles)} handles, ${before.fds} fds; after close: ${total(after.handles)} handles (${typesText(after.handles) || 'none'}), ${after.fds} fds. Keys left under ${ns}: ${leftKeys.length}${leftKeys.length ? ` (${leftKeys.slice(0, 5).join(', ')})` : ''}.`,
    `Heap slope per lock cycle (if all of it were the locks'): ${fmt((heapTrend.slope * 2 ** 20) / perMin(k.lockCycles))} bytes.`,
    `Longest pause to reach a quiet moment: ${fmt(Math.max(...samples.map((s) => s.quietMs)))} ms. Unexpected errors: ${errors.length === 0 ? 'none' : errors.map(([k, n]) => `${k} ×${n}`).join('; ')}.`,
  );
  let heapGrowth: ReturnType<typeof growth> | undefined;
  if (censusFiles.length === 2) {
    const [a, b] = censusFiles.map((f) => new Map(JSON.parse(readFileSync(f, 'utf8'))) as Census);
    for (const f of censusFiles) rmSync(f, { force: true });
    heapGrowth = growth(a, b, 15);
    const g = c.section('soak-census', 'Soak: what the heap gained over the window (heap snapshots, by kind)');
    for (const r of heapGrowth) g.rows.push({ case: r.kind, cells: { objects: r.count, bytes: r.size } });
    g.notes.push(
      `SOAK_HEAP_CENSUS=1: a V8 heap snapshot at a quiet moment after the warm-up and at the end, counted by constructor (objects), name (closures, arrays, hidden) or type; the kinds whose self size grew most. Snapshot totals: ${fmt(censusBytes(a) / 2 ** 20)} → ${fmt(censusBytes(b) / 2 ** 20)} MB. The snapshots perturb the heap samples (keep the census off for the verdict run).`,
    );
  }
  return {
    sections: c.sections,
    targets: c.targets,
    // Every sample, for the JSON record.
    soak: {
      seconds,
      sampleS,
      warmupS,
      shape: SHAPE,
      samples,
      verdicts,
      counts: k,
      before,
      after,
      leftKeys,
      heapGrowth,
    },
  } as ScenarioResult;
}
