/**
 * The monitoring assets in monitoring/: promtool accepts the alert rules and passes their
 * unit tests, and every metric a rule or a dashboard panel names is one the library
 * registers (filled by a real coordinator against the test etcd).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../src/index.js';
import { connectShared } from './harness/index.js';

const RULES = 'monitoring/prometheus-alerts.yml';
const RULE_TESTS = 'monitoring/prometheus-alerts.test.yml';
const DASHBOARD = 'monitoring/grafana-dashboard.json';
const METRIC = /\betcd_coord_[a-z0-9_]+/g;
const HISTOGRAM_SUFFIX = /_(bucket|sum|count)$/;

function promtool(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('promtool', args, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 127) : 0;
      resolve({ code, output: `${stdout}${stderr}${err && code === 127 ? err.message : ''}` });
    });
  });
}

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

/** Every query of the dashboard: panel targets (rows included) and template variables. */
function dashboardQueries(): { where: string; expr: string }[] {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    panels: Panel[];
    templating: { list: { name: string; query?: string | { query?: string } }[] };
  };
  const out: { where: string; expr: string }[] = [];
  const visit = (p: Panel) => {
    for (const t of p.targets ?? []) if (t.expr) out.push({ where: `panel "${p.title}"`, expr: t.expr });
    for (const child of p.panels ?? []) visit(child);
  };
  for (const p of dash.panels) visit(p);
  for (const v of dash.templating.list) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    if (q && v.name !== 'datasource') out.push({ where: `variable $${v.name}`, expr: q });
  }
  return out;
}

let coord: Coordinator;
const registry = new Registry();
beforeAll(async () => {
  coord = await connectShared({ metrics: registry });
  const lock = await coord.mutex('m').acquire();
  await lock.release();
  const leadership = await coord.election('e').campaign('v');
  await leadership.resign();
  const reg = await coord.registry.register({ service: 'svc', address: '127.0.0.1', port: 1 });
  const cache = await coord.registry.discover('svc');
  cache.close();
  await reg.deregister();
});
afterAll(() => coord?.close());

/** Metric name -> type, as the library registered them. */
async function libraryMetrics(): Promise<Map<string, string>> {
  const json = await registry.getMetricsAsJSON();
  return new Map(json.map((m) => [m.name, String(m.type)]));
}

/** The names in `names` that the library does not export (histogram series count as their histogram). */
function unknown(names: Iterable<string>, metrics: Map<string, string>): string[] {
  return [...new Set(names)].filter((n) => {
    if (metrics.has(n)) return false;
    const base = n.replace(HISTOGRAM_SUFFIX, '');
    return !(base !== n && metrics.get(base) === 'histogram');
  });
}

describe('monitoring assets', () => {
  it('promtool check rules accepts the alert rules', async () => {
    const { code, output } = await promtool(['check', 'rules', RULES]);
    expect(output).toMatch(/SUCCESS: \d+ rules found/);
    expect(code).toBe(0);
  });

  it('promtool test rules passes the alert unit tests', async () => {
    const { code, output } = await promtool(['test', 'rules', RULE_TESTS]);
    expect(output).toMatch(/SUCCESS/);
    expect(code).toBe(0);
  });

  it('every metric the alert rules name is exported by the library', async () => {
    const text = readFileSync(RULES, 'utf8');
    const names = text.match(METRIC) ?? [];
    for (const needed of ['lock_lost', 'sessions_at_risk', 'breaker_open', 'registry_lost', 'lock_wait_seconds']) {
      expect(names.some((n) => n.includes(needed))).toBe(true);
    }
    expect(unknown(names, await libraryMetrics())).toEqual([]);
  });

  it('every metric a dashboard panel or variable names is exported by the library', async () => {
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(10);
    for (const q of queries) expect(q.expr.match(METRIC), `${q.where}: ${q.expr}`).not.toBeNull();
    const names = queries.flatMap((q) => q.expr.match(METRIC) ?? []);
    for (const needed of [
      'etcd_coord_sessions',
      'etcd_coord_lock_wait_seconds_bucket',
      'etcd_coord_lock_hold_seconds_bucket',
      'etcd_coord_leadership_changes_total',
      'etcd_coord_cache_instances',
    ]) {
      expect(names).toContain(needed);
    }
    expect(unknown(names, await libraryMetrics())).toEqual([]);
  });
});
