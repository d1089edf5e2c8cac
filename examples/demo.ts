/**
 * The README's demo (`npm run demo`). Starts a throwaway local etcd when ETCD_ENDPOINTS is
 * unset, then in a few seconds shows:
 *   1. workers sharing a lock, each write fenced by the holder's token;
 *   2. an election between three processes, and a failover after the leader is killed;
 *   3. a service registry, and a client picking instances round-robin;
 * while serving the library's Prometheus metrics on a local /metrics endpoint.
 * It stops everything it started.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { type Coordinator, connect } from '../src/index.js';
import { startEtcd, stopAll } from '../test/harness/etcd.js';

const say = (msg: string) => process.stdout.write(`${msg}\n`);
const namespace = `demo-${process.pid}/`;

async function locks(coord: Coordinator, endpoints: string[]): Promise<void> {
  say('\n1. Three workers share the lock "demo/counter"; every write is fenced by the token');
  await coord.kv.put('counter').value('0').exec();
  const worker = async (n: number) => {
    await using w = await connect({ endpoints, namespace, ttl: 5 });
    for (let i = 0; i < 2; i++) {
      await w.withLock('demo/counter', async (lock) => {
        const value = Number(await w.kv.get('counter').string());
        const res = await lock
          .txn()
          .then(w.kv.put('counter').value(String(value + 1)))
          .commit();
        say(
          `   worker ${n} holds the lock with token ${lock.token}: counter ${value} -> ${value + 1} (${res.succeeded ? 'written' : 'refused'})`,
        );
      });
    }
  };
  await Promise.all([1, 2, 3].map(worker));
  say(`   final counter: ${await coord.kv.get('counter').string()} (6 increments, none lost)`);
}

async function election(coord: Coordinator, endpoint: string): Promise<void> {
  say('\n2. Three processes campaign for "demo/leader" (TTL 2 s)');
  const script = fileURLToPath(new URL('./demo/candidate.ts', import.meta.url));
  const procs = new Map<string, ChildProcess>();
  for (const name of ['alpha', 'beta', 'gamma']) {
    procs.set(name, fork(script, [endpoint, namespace, name], { execArgv: ['--import', 'tsx'], stdio: 'inherit' }));
  }
  const observer = new AbortController();
  const seen: string[] = [];
  const watching = (async () => {
    try {
      for await (const leader of coord.election('demo/leader').observe({ signal: observer.signal })) {
        if (!leader) continue;
        seen.push(leader.value);
        say(`   observer: leader is ${leader.value} (token ${leader.token})`);
        if (seen.length === 1) {
          const started = Date.now();
          say(`   killing ${leader.value} with SIGKILL; its lease expires within the TTL`);
          procs.get(leader.value)?.kill('SIGKILL');
          procs.delete(leader.value);
          (globalThis as { failoverStarted?: number }).failoverStarted = started;
        } else {
          const started = (globalThis as { failoverStarted?: number }).failoverStarted ?? Date.now();
          say(`   failover took ${((Date.now() - started) / 1000).toFixed(1)} s`);
          observer.abort();
        }
      }
    } catch (err) {
      if (!observer.signal.aborted) throw err;
    }
  })();
  await watching;
  for (const p of procs.values()) p.kill('SIGTERM');
  await Promise.all(
    [...procs.values()].map((p) => new Promise((r) => (p.exitCode === null ? p.once('exit', r) : r(null)))),
  );
}

async function registry(coord: Coordinator): Promise<void> {
  say('\n3. Three instances of "api" register; a client picks them round-robin');
  const regs = await Promise.all(
    [1, 2, 3].map((n) =>
      coord.registry.register({ service: 'api', id: `api-${n}`, address: '127.0.0.1', port: 8080 + n }, { ttl: 5 }),
    ),
  );
  await using cache = await coord.registry.discover('api');
  const picks = () =>
    Array.from({ length: 4 }, () => cache.pick('round-robin'))
      .map((i) => (i ? `${i.id}:${i.port}` : 'none'))
      .join(', ');
  say(`   cache sees ${cache.instances().length} instances; picks: ${picks()}`);
  await regs[1].deregister();
  while (cache.instances().length !== 2) await new Promise((r) => setTimeout(r, 10));
  say(`   api-2 deregistered; picks: ${picks()}`);
  await Promise.all(regs.map((r) => r.deregister()));
}

async function main(): Promise<void> {
  let endpoints = process.env.ETCD_ENDPOINTS?.split(',').map((s) => s.trim());
  if (!endpoints) {
    const node = await startEtcd();
    endpoints = [node.endpoint];
    say(`started a local etcd at ${node.endpoint} (it is stopped when the demo ends)`);
  }
  const metrics = new Registry();
  await using coord = await connect({ endpoints, namespace, ttl: 5, metrics });
  const server = createServer(async (_req, res) => {
    res.setHeader('content-type', metrics.contentType);
    res.end(await metrics.metrics());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  say(`metrics: http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
  try {
    await locks(coord, endpoints);
    await election(coord, endpoints[0]);
    await registry(coord);
    const text = (await metrics.metrics()).split('\n');
    const shown = ['etcd_coord_sessions ', 'etcd_coord_keepalive_rtt_seconds_count', 'etcd_coord_breaker_open '];
    say('\nfrom /metrics:');
    for (const line of text.filter((l) => shown.some((p) => l.startsWith(p)))) say(`   ${line}`);
    await coord.client.delete().prefix(namespace).exec();
    say('done: every key the demo wrote is gone');
  } finally {
    server.close();
  }
}

main()
  .then(() => stopAll())
  .catch(async (err) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    await stopAll();
    process.exit(1);
  });
