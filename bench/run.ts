/**
 * `npm run bench`: starts a single-node etcd and a 3-node cluster on free loopback ports,
 * runs every scenario, writes bench/results/<date>.json and prints a markdown report.
 *
 * Environment: BENCH_QUICK=1 (few iterations, for development), BENCH_ONLY=floor,lock
 * (a subset of scenario ids), BENCH_CLUSTER=0 (no cluster rows), BENCH_SCENARIO_LIMIT_S
 * (a scenario that runs longer is reported as failed; default 240). Opt-in scenarios
 * (the 10-minute soak) run only when BENCH_ONLY names them; see bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAllChildren } from '../test/harness/child.js';
import { findEtcdBinary, startCluster, startEtcd, stopAll } from '../test/harness/etcd.js';
import { type BenchEnv, makeEnv } from './lib/env.js';
import { type ScenarioResult, sectionMarkdown, targetsMarkdown } from './lib/report.js';
import { scenarios } from './scenarios/index.js';

interface ScenarioRecord extends ScenarioResult {
  readonly id: string;
  readonly title: string;
  readonly seconds: number;
  readonly error?: string;
  readonly unhandled: string[];
}

const quick = process.env.BENCH_QUICK === '1';
const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
const selected = scenarios.filter((s) => (only ? only.includes(s.id) : !s.optIn));
const withCluster = process.env.BENCH_CLUSTER !== '0' && selected.some((s) => !s.singleNodeOnly);
const limitS = Number(process.env.BENCH_SCENARIO_LIMIT_S ?? 240);

let unhandled: string[] = [];
const record = (what: string) => (reason: unknown) => {
  unhandled.push(`${what}: ${reason instanceof Error ? reason.message : String(reason)}`.slice(0, 300));
};
process.on('unhandledRejection', record('unhandled rejection'));
process.on('uncaughtException', record('uncaught exception'));

function withLimit<T>(p: Promise<T>, seconds: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not finish within ${seconds} s`)), seconds * 1000);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

async function runAll(env: BenchEnv): Promise<ScenarioRecord[]> {
  const out: ScenarioRecord[] = [];
  for (const s of selected) {
    env.log(`scenario ${s.id}: ${s.title}`);
    unhandled = [];
    const t0 = performance.now();
    let result: ScenarioResult = { sections: [], targets: [] };
    let error: string | undefined;
    try {
      result = await withLimit(s.run(env), Math.max(limitS, s.limitS?.(quick) ?? 0));
    } catch (err) {
      error = err instanceof Error ? (err.stack ?? err.message) : String(err);
      env.log(`scenario ${s.id} failed: ${error}`);
      await killAllChildren();
    }
    const seconds = (performance.now() - t0) / 1000;
    out.push({ id: s.id, title: s.title, seconds, error, unhandled, ...result });
  }
  return out;
}

function markdown(meta: Record<string, unknown>, records: ScenarioRecord[]): string {
  const parts = [
    `## etcd-coord benchmarks, ${meta.date}${quick ? ' (BENCH_QUICK)' : ''}`,
    '',
    `etcd ${meta.etcd}, node ${process.version}, ${meta.cpus} CPUs; load average before ${meta.loadBefore}, after ${meta.loadAfter}; ${meta.seconds} s in total.`,
    '',
    '### Targets',
    '',
    targetsMarkdown(records.flatMap((r) => r.targets)),
  ];
  for (const r of records) {
    parts.push('', `## ${r.title} (${r.seconds.toFixed(0)} s)`);
    if (r.error) parts.push('', `**Failed:** \`${r.error.split('\n')[0]}\``);
    for (const s of r.sections) parts.push('', sectionMarkdown(s));
    if (r.unhandled.length > 0) {
      parts.push('', `Unhandled rejections/exceptions during this scenario: ${r.unhandled.length}`);
      for (const u of [...new Set(r.unhandled)].slice(0, 5)) parts.push(`- \`${u.replaceAll('\n', ' ')}\``);
    }
  }
  return parts.join('\n');
}

async function main(): Promise<void> {
  const bin = findEtcdBinary();
  if (!bin) throw new Error('etcd not found on PATH (or ETCD_BIN)');
  const etcdVersion = execFileSync(bin, ['--version'], { encoding: 'utf8' })
    .split('\n')[0]
    .replace(/^etcd Version:\s*/, '');
  const loadBefore = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const t0 = performance.now();
  const [single, cluster] = await Promise.all([startEtcd(), withCluster ? startCluster(3) : undefined]);
  const env = makeEnv(single, cluster, quick);
  let records: ScenarioRecord[];
  try {
    records = await runAll(env);
  } finally {
    await killAllChildren();
    await stopAll();
  }
  const date = new Date().toISOString().slice(0, 10);
  const meta = {
    date,
    quick,
    etcd: etcdVersion,
    node: process.version,
    cpus: cpus().length,
    loadBefore,
    loadAfter: loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    seconds: Math.round((performance.now() - t0) / 1000),
  };
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${date}${quick ? '-quick' : ''}${only ? `-${only.join('+')}` : ''}.json`);
  writeFileSync(file, `${JSON.stringify({ ...meta, scenarios: records }, null, 2)}\n`);
  process.stdout.write(`${markdown(meta, records)}\n`);
  env.log(`wrote ${file}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
