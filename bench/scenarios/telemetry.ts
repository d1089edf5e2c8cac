/**
 * Scenario 9, the cost of telemetry: uncontended Mutex acquire + release with tracing
 * off (as when `@opentelemetry/api` is not installed), with the API loaded but no SDK
 * registered (the API's no-op tracer), and with an SDK registered (BasicTracerProvider,
 * BatchSpanProcessor into an exporter that drops the spans: the span work without the
 * export I/O). The global provider is process-wide, so it runs in two phases, each with
 * its own baseline interleaved with it: no SDK (off vs API), then SDK (off vs API + SDK).
 * Then client CPU per acquire + release, and the cost of one span start + end alone.
 */
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { connect } from '../../src/index.js';
import { Tracing } from '../../src/telemetry.js';
import type { BenchEnv } from '../lib/env.js';
import { Collector, latencyCells, type ScenarioResult, type Section } from '../lib/report.js';
import { interleave } from '../lib/sample.js';
import { fmt, ratio, summarize } from '../lib/stats.js';
import { cpuMs, now } from '../lib/timing.js';

type Pair = () => Promise<void>;

/** A lock pair on its own name; the coordinator's tracing forced off when `off`. */
async function pair(endpoints: string[], ns: string, name: string, off: boolean) {
  const coord = await connect({ endpoints, namespace: ns });
  if (off) coord.useTracing(Tracing.off);
  await coord.session();
  const mutex = coord.mutex(name);
  const run: Pair = async () => {
    const lock = await mutex.acquire();
    await lock.release();
  };
  return { coord, run };
}

/** Client CPU (µs) per call of each pair: blocks of `block` calls, pairs alternating, `blocks` rounds. */
async function cpuPerCall(pairs: Record<string, Pair>, blocks: number, block: number) {
  const total: Record<string, number> = Object.fromEntries(Object.keys(pairs).map((k) => [k, 0]));
  const names = Object.keys(pairs);
  for (let b = 0; b < blocks; b++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(b + j) % names.length];
      const c0 = cpuMs();
      for (let i = 0; i < block; i++) await pairs[name]();
      total[name] += cpuMs() - c0;
    }
  }
  return Object.fromEntries(names.map((k) => [k, (total[k] * 1000) / (blocks * block)]));
}

/**
 * ns per span start + end, as the acquire path makes them (the coordinator's `trace`
 * calls `Tracing.start` of the tracing connect() loaded), without etcd.
 */
function spanCost(tracing: Tracing, n: number): number {
  const once = () => {
    const span = tracing.start('lock.acquire', { name: 'bench', kind: 'mutex', wait: true });
    span?.end({ acquired: true, token: '1', key: 'bench/1' });
  };
  for (let i = 0; i < n / 10; i++) once(); // warm-up (JIT)
  const t0 = now();
  for (let i = 0; i < n; i++) once();
  return ((now() - t0) * 1e6) / n;
}

async function phase(
  c: Collector,
  id: string,
  title: string,
  pairs: Record<string, Pair>,
  baseline: string,
  rounds: number,
  cpu: { blocks: number; block: number },
): Promise<{ sec: Section; p50: number; mean: number; cpu: number; baseCpuUs: number }> {
  const samples = await interleave(pairs, rounds);
  const cpuUs = await cpuPerCall(pairs, cpu.blocks, cpu.block);
  const s = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
  const sec = c.section(id, title);
  for (const [name, sum] of Object.entries(s)) {
    sec.rows.push({
      case: name,
      cells: {
        ...latencyCells(sum),
        'mean ms': sum.mean,
        '× p50': ratio(sum.p50, s[baseline].p50),
        '× mean': ratio(sum.mean, s[baseline].mean),
        'client CPU µs/op': cpuUs[name],
        '× CPU': ratio(cpuUs[name], cpuUs[baseline]),
      },
    });
  }
  const other = Object.keys(s).find((k) => k !== baseline) as string;
  return {
    sec,
    p50: ratio(s[other].p50, s[baseline].p50) ?? Number.NaN,
    mean: ratio(s[other].mean, s[baseline].mean) ?? Number.NaN,
    cpu: ratio(cpuUs[other], cpuUs[baseline]) ?? Number.NaN,
    baseCpuUs: cpuUs[baseline],
  };
}

/** Scenario 9. */
export async function telemetry(env: BenchEnv): Promise<ScenarioResult> {
  const c = new Collector('telemetry');
  const endpoints = [env.single.endpoint];
  const ns = env.ns('telemetry');
  const rounds = env.n(1000, 100);
  const cpu = { blocks: env.n(20, 4), block: env.n(50, 25) };
  const micro = env.n(200_000, 20_000);
  trace.disable(); // start without a provider
  const off = await pair(endpoints, ns, 'off', true);
  const api = await pair(endpoints, ns, 'api', false);
  let exported = 0;
  const provider = new BasicTracerProvider({
    spanProcessors: [
      new BatchSpanProcessor({
        export: (spans: ReadableSpan[], done: (r: { code: number }) => void) => {
          exported += spans.length;
          done({ code: 0 });
        },
        shutdown: async () => undefined,
      }),
    ],
  });
  try {
    env.log('telemetry: no SDK registered');
    const noSdk = await phase(
      c,
      'telemetry-no-sdk',
      'Uncontended acquire + release, no SDK registered, single node',
      { 'tracing off (API not installed)': off.run, 'API loaded, no SDK': api.run },
      'tracing off (API not installed)',
      rounds,
      cpu,
    );
    const loaded = await Tracing.load(); // what connect() gave api.coord
    const microOff = spanCost(Tracing.off, micro);
    const microNoop = spanCost(loaded, micro);

    env.log('telemetry: SDK registered');
    trace.setGlobalTracerProvider(provider);
    const exported0 = exported;
    const withSdk = await phase(
      c,
      'telemetry-sdk',
      'Uncontended acquire + release, SDK registered (batch processor, spans dropped at export), single node',
      { 'tracing off (API not installed)': off.run, 'API + SDK': api.run },
      'tracing off (API not installed)',
      rounds,
      cpu,
    );
    await provider.forceFlush();
    const spansPerOp = (exported - exported0) / (rounds + 10 + cpu.blocks * cpu.block);
    const microSdk = spanCost(loaded, env.n(20_000, 2_000));

    const sec = c.section('telemetry-span', 'One span start + end alone (the acquire span with its attributes)');
    sec.rows.push(
      { case: 'tracing off', cells: { 'ns/span': microOff } },
      { case: 'API loaded, no SDK', cells: { 'ns/span': microNoop } },
      { case: 'API + SDK', cells: { 'ns/span': microSdk } },
    );
    c.sections[0].notes.push(
      `${rounds} interleaved rounds per phase after 100 warm-up rounds; each configuration has its own coordinator, session and lock name. "Tracing off" is a coordinator whose tracing is switched off the way connect() leaves it when \`import('@opentelemetry/api')\` fails (the same code path; the module itself cannot be unloaded from the process). Client CPU: ${cpu.blocks} blocks of ${cpu.block} calls per configuration, alternating.`,
    );
    withSdk.sec.notes.push(`Spans exported per acquire + release: ${fmt(spansPerOp)} (lock.acquire and lock.hold).`);
    sec.notes.push(
      `${micro} iterations after ${micro / 10} warm-up ones (SDK: a tenth of that; its batch queue fills and drops spans, as an exporter that cannot keep up would); no etcd involved.`,
    );
    // The pair makes two spans (acquire, hold); their cost against the pair's client CPU is
    // the stable figure: the latency and CPU ratios of whole pairs move by more than that
    // between runs on a shared machine.
    const share = (spanNs: number, cpuUs: number) => (2 * spanNs) / (cpuUs * 1000);
    const noSdkShare = share(microNoop, noSdk.baseCpuUs);
    const sdkShare = share(microSdk, withSdk.baseCpuUs);
    c.target(
      'no SDK registered: the two no-op spans of a pair ≤ 0.1% of its client CPU',
      `${fmt(noSdkShare * 100, 3)}% (2 × ${fmt(microNoop)} ns of ${fmt(noSdk.baseCpuUs)} µs); whole pair: ${fmt(noSdk.p50)}× p50, ${fmt(noSdk.mean)}× mean, ${fmt(noSdk.cpu)}× client CPU`,
      noSdkShare <= 0.001,
    );
    c.target(
      'SDK registered: the two recorded spans of a pair ≤ 2% of its client CPU',
      `${fmt(sdkShare * 100, 2)}% (2 × ${fmt(microSdk / 1000)} µs of ${fmt(withSdk.baseCpuUs)} µs); whole pair: ${fmt(withSdk.p50)}× p50, ${fmt(withSdk.mean)}× mean, ${fmt(withSdk.cpu)}× client CPU`,
      sdkShare <= 0.02,
    );
  } finally {
    trace.disable();
    await provider.shutdown();
    await off.coord.close();
    await api.coord.close();
  }
  return c;
}
