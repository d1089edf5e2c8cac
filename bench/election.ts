/**
 * Election timings (measurements, not tests):
 * - graceful handoff: from `resign()` to the next candidate's `campaign()` resolving,
 *   next to a raw put's latency measured in the same run;
 * - crash failover: a leader process with TTL 2 is SIGKILLed; time until our waiting
 *   campaign resolves;
 * - proclaim -> observe: from calling `proclaim()` to another coordinator's `observe()`
 *   yielding the value.
 *
 *   npx tsx bench/election.ts        (starts a local etcd; or set ETCD_ENDPOINTS)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Coordinator, connect, type Election } from 'etcd-coord';
import { keysUnder } from '../test/fixtures/lock-util.js';
import { killAllChildren, spawnChild } from '../test/harness/child.js';
import { startEtcd, stopAll } from '../test/harness/etcd.js';
import { fmt, type Summary, summarize } from './lib/stats.js';

const say = (msg: string) => process.stdout.write(`${msg}\n`);
const row = (what: string, s: Summary) =>
  say(`| ${what} | ${s.n} | ${fmt(s.p50)} | ${fmt(s.p90)} | ${fmt(s.p99)} | ${fmt(s.max)} |`);

async function rawPuts(coord: Coordinator, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await coord.kv.put('raw').value(String(i)).exec();
    out.push(performance.now() - t);
  }
  return out;
}

async function handoffs(coord: Coordinator, n: number): Promise<{ handoff: number[]; resign: number[] }> {
  const elections: Election[] = [];
  for (let i = 0; i < 2; i++) elections.push(coord.election('handoff', { session: await coord.newSession() }));
  const handoff: number[] = [];
  const resign: number[] = [];
  let leader = await elections[0].campaign('0');
  for (let i = 1; i <= n; i++) {
    const next = elections[i % 2].campaign(String(i));
    while ((await keysUnder(coord, 'handoff/')).length < 2) await sleep(1);
    await sleep(20); // let the waiter settle into its watch
    const t = performance.now();
    await leader.resign();
    resign.push(performance.now() - t);
    leader = await next;
    handoff.push(performance.now() - t);
  }
  await leader.resign();
  return { handoff, resign };
}

async function failovers(endpoints: string[], coord: Coordinator, n: number): Promise<number[]> {
  const out: number[] = [];
  const election = coord.election('failover');
  for (let i = 0; i < n; i++) {
    const env = { ETCD_ENDPOINTS: endpoints.join(','), EL_NS: coord.namespace, EL_NAME: 'failover', TTL: '2' };
    const child = spawnChild('test/fixtures/election-candidate.ts', env);
    await child.next('ready');
    child.send({ type: 'campaign', value: 'child' });
    await child.next('leader');
    const mine = election.campaign('me');
    while ((await keysUnder(coord, 'failover/')).length < 2) await sleep(5);
    const t = performance.now();
    await child.kill('SIGKILL');
    const l = await mine;
    out.push(performance.now() - t);
    await l.resign();
  }
  return out;
}

async function proclaims(actor: Coordinator, watcher: Coordinator, n: number) {
  const l = await actor.election('proclaim').campaign('v0');
  const stop = new AbortController();
  const seenAt = new Map<string, number>();
  const watching = (async () => {
    for await (const s of watcher.election('proclaim').observe({ signal: stop.signal })) {
      if (s) seenAt.set(s.value, performance.now());
    }
  })().catch(() => undefined);
  while (!seenAt.has('v0')) await sleep(1);
  const observed: number[] = [];
  const rtt: number[] = [];
  for (let i = 1; i <= n; i++) {
    const t = performance.now();
    await l.proclaim(`v${i}`);
    rtt.push(performance.now() - t);
    while (!seenAt.has(`v${i}`)) await new Promise((r) => setImmediate(r));
    observed.push((seenAt.get(`v${i}`) as number) - t);
  }
  stop.abort();
  await watching;
  await l.resign();
  return { observed, rtt };
}

async function main(): Promise<void> {
  let endpoints = process.env.ETCD_ENDPOINTS?.split(',');
  if (!endpoints) endpoints = [(await startEtcd()).endpoint];
  const namespace = `bench-election-${process.pid}/`;
  const coord = await connect({ endpoints, namespace });
  const watcher = await connect({ endpoints, namespace });
  await rawPuts(coord, 50); // warm up
  const puts = summarize(await rawPuts(coord, 300));
  const h = await handoffs(coord, 100);
  const p = await proclaims(coord, watcher, 200);
  const f = await failovers(endpoints, coord, 3);
  say(`etcd ${endpoints.join(',')}; ms\n`);
  say('| measurement | n | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|');
  row('raw put', puts);
  row('resign() round trip', summarize(h.resign));
  row('graceful handoff: resign() start -> next campaign() resolves', summarize(h.handoff));
  row('proclaim() round trip', summarize(p.rtt));
  row('proclaim() start -> observe() yields it (other coordinator)', summarize(p.observed));
  row('crash failover, TTL 2: SIGKILL -> waiting campaign() resolves', summarize(f));
  await coord.kv.delete().all().exec();
  await Promise.all([coord.close(), watcher.close()]);
}

main()
  .catch((err) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await killAllChildren();
    await stopAll();
  });
