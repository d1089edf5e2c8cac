/**
 * Scenario 6, discovery: register → cache event latency (and update → cache event)
 * against raw put → watch event; a cache over 10,000 instances (initial load time and
 * heap, against a raw range + JSON.parse); 100 caches on one service (events per
 * registration per cache). Single node.
 */
import { type Coordinator, connect, type RegisterOptions, type Registration, type ServiceCache } from 'etcd-coord';
import { prefixEnd, servicePrefix } from '../../src/keys.js';
import type { BenchEnv } from '../lib/env.js';
import { counting } from '../lib/etcd-metrics.js';
import { etcd3Client, grantLease, PutWatch, rawPut } from '../lib/raw.js';
import { Collector, latencyCells, type ScenarioResult } from '../lib/report.js';
import { interleave } from '../lib/sample.js';
import { fmt, ratio, summarize } from '../lib/stats.js';
import { heapMb, now, within } from '../lib/timing.js';
import { ValueWaiter } from '../lib/waiter.js';

const instance = (service: string, id: string) => ({ service, id, address: '10.0.0.1', port: 8080 });

/** Feeds a cache's changes into a waiter keyed `<type>:<id>`; returns the stop function. */
function follow(cache: ServiceCache, waiter: ValueWaiter): () => void {
  const ac = new AbortController();
  void (async () => {
    try {
      for await (const ch of cache.changes({ signal: ac.signal })) waiter.seen(`${ch.type}:${ch.instance.id}`);
    } catch {
      /* aborted */
    }
  })();
  return () => ac.abort();
}

async function latency(env: BenchEnv, c: Collector, ns: string) {
  const [a, b] = await Promise.all([0, 1].map(() => connect({ endpoints: [env.single.endpoint], namespace: ns })));
  const client = etcd3Client([env.single.endpoint]);
  const watch = await PutWatch.open(client, `${ns}w/`);
  const cache = await b.registry.discover('lat');
  const waiter = new ValueWaiter();
  const stop = follow(cache, waiter);
  let seq = 0;
  let pending: Registration[] = [];
  let rawLeases: string[] = [];
  const updater = await a.registry.register(instance('lat', 'updated'));
  /** register() → the cache's `up`, with the registrations of the round before deregistered first. */
  const registerUp = (idPrefix: string, options: RegisterOptions) => ({
    setup: async () => {
      await Promise.all(pending.map((r) => r.deregister()));
      pending = [];
    },
    run: async () => {
      const id = `${idPrefix}${++seq}`;
      const seen = waiter.next(`up:${id}`);
      pending.push(await a.registry.register(instance('lat', id), options));
      await within(seen, 30_000, `cache up of ${id}`);
    },
  });
  try {
    const samples = await interleave(
      {
        'register → cache up': registerUp('i', {}),
        'register (sharedSession) → cache up': registerUp('s', { sharedSession: true }),
        'update → cache update': async () => {
          const weight = ++seq;
          const seen = waiter.next('update:updated');
          await updater.update({ weight });
          await within(seen, 30_000, 'cache update');
        },
        'raw put → watch event': () => {
          const key = `${ns}w/${++seq}`;
          return watch.roundTrip(key, () => rawPut(client, key));
        },
        // The floor of a registration on its own lease: the lease must exist before the put that uses it.
        'raw lease grant, then put on it → watch event': {
          setup: async () => {
            await Promise.all(rawLeases.map((ID) => client.leaseClient.leaseRevoke({ ID })));
            rawLeases = [];
          },
          run: () => {
            const key = `${ns}w/${++seq}`;
            return watch.roundTrip(key, async () => {
              const lease = await grantLease(client, 60);
              rawLeases.push(lease);
              await rawPut(client, key, 'v', lease);
            });
          },
        },
      },
      env.n(1000, 30),
    );
    const { counts } = await counting([env.single], async () => {
      for (let i = 0; i < 20; i++) pending.push(await a.registry.register(instance('lat', `count${i}`)));
    });
    const s = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
    const base = s['raw put → watch event'];
    const sec = c.section('discovery-latency', 'Registration → cache event (cache on another client)');
    for (const [name, sum] of Object.entries(s)) {
      sec.rows.push({
        case: name,
        cells: { ...latencyCells(sum), '× raw p50': ratio(sum.p50, base.p50), '× raw p99': ratio(sum.p99, base.p99) },
      });
    }
    const methods = Object.entries(counts.byMethod)
      .filter(([m]) => m !== 'LeaseKeepAlive')
      .map(([m, v]) => `${m} ${fmt(v / 20)}`)
      .join(', ');
    sec.notes.push(
      `Interleaved rounds after 100 warm-up rounds. register() per call, gRPC messages etcd received: ${methods} (it grants the registration's own lease first).`,
    );
    for (const [row, label] of [
      ['register → cache up', 'register'],
      ['register (sharedSession) → cache up', 'register({ sharedSession })'],
    ] as const) {
      for (const q of ['p50', 'p99'] as const) {
        const r = ratio(s[row][q], base[q]) ?? Number.NaN;
        c.target(
          `${label} → cache ${q} ≤ 1.2× raw put → watch ${q}`,
          `${fmt(r)}× (${fmt(s[row][q])} vs ${fmt(base[q])} ms)`,
          r <= 1.2,
        );
      }
    }
    const own = s['register → cache up'];
    const ownFloor = s['raw lease grant, then put on it → watch event'];
    sec.notes.push(
      `A registration on its own lease cannot take fewer than two round trips: etcd must have granted the lease before the put that uses it (sent together, etcd may apply the put first and refuse it: "requested lease not found"). Its floor, raw lease grant then put → watch event, is ${fmt(ratio(ownFloor.p50, base.p50))}× the raw put at p50; register() on its own lease is ${fmt(ratio(own.p50, ownFloor.p50))}× that floor at p50 and ${fmt(ratio(own.p99, ownFloor.p99))}× at p99. \`{ sharedSession: true }\` is the one-round-trip registration.`,
    );
  } finally {
    stop();
    await Promise.allSettled([...pending, updater].map((p) => p.deregister()));
    await Promise.allSettled(rawLeases.map((ID) => client.leaseClient.leaseRevoke({ ID })));
    await watch.close();
    client.close();
    await Promise.all([a.close(), b.close()]);
  }
}

async function bigCache(env: BenchEnv, c: Collector, ns: string, count: number) {
  const client = etcd3Client([env.single.endpoint]);
  const lease = await grantLease(client);
  const prefix = servicePrefix(ns, 'big');
  for (let i = 0; i < count; i += 100) {
    const puts = Array.from({ length: Math.min(100, count - i) }, (_, j) => {
      const id = `n${i + j}`;
      const v = {
        ...instance('big', id),
        metadata: { zone: 'a' },
        weight: 1,
        status: 'serving',
        registeredAt: new Date().toISOString(),
      };
      return { request_put: { key: Buffer.from(`${prefix}${id}`), value: Buffer.from(JSON.stringify(v)), lease } };
    });
    await client.kv.txn({ compare: [], success: puts, failure: [] });
  }
  const coord = await connect({ endpoints: [env.single.endpoint], namespace: ns });
  await coord.session(); // connection warm
  try {
    const h0 = heapMb();
    let t0 = now();
    const cache = await coord.registry.discover('big');
    const load = now() - t0;
    const h1 = heapMb();
    if (cache.instances().length !== count)
      throw new Error(`big cache: ${cache.instances().length} of ${count} instances`);
    t0 = now();
    const res = await client.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) });
    const parsed = res.kvs.map((kv) => JSON.parse(kv.value.toString()));
    const rawLoad = now() - t0;
    const h2 = heapMb();
    if (parsed.length !== count) throw new Error(`raw range: ${parsed.length} of ${count}`);
    const sec = c.section('discovery-big', `A cache over ${count} instances`);
    sec.rows.push({
      case: 'etcd-coord discover()',
      cells: {
        'load ms': load,
        'heap MB': h1 - h0,
        '× raw load': ratio(load, rawLoad),
        '× raw heap': ratio(h1 - h0, h2 - h1),
      },
    });
    sec.rows.push({ case: 'raw range + JSON.parse', cells: { 'load ms': rawLoad, 'heap MB': h2 - h1 } });
    sec.notes.push(
      `The ${count} instance keys are written beforehand (100 per txn, one lease). Heap: heapUsed after a full GC, difference before/after, with the cache (or the parsed array) still held.`,
    );
    cache.close();
  } finally {
    await coord.close();
    await client.leaseClient.leaseRevoke({ ID: lease });
    client.close();
  }
}

async function fanOut(env: BenchEnv, c: Collector, ns: string, caches: number, registrations: number) {
  const a = await connect({ endpoints: [env.single.endpoint], namespace: ns });
  const d: Coordinator = await connect({ endpoints: [env.single.endpoint], namespace: ns });
  const all = await Promise.all(Array.from({ length: caches }, () => d.registry.discover('fan')));
  const waiters = all.map(() => new ValueWaiter());
  const stops = all.map((cache, i) => follow(cache, waiters[i]));
  const regs: Registration[] = [];
  const times: number[] = [];
  try {
    const received0 = d.diagnostics().watch.eventsReceived;
    const { counts } = await counting([env.single], async () => {
      for (let i = 0; i < registrations; i++) {
        const seen = waiters.map((w) => w.next(`up:f${i}`));
        const t0 = now();
        regs.push(await a.registry.register(instance('fan', `f${i}`)));
        await within(Promise.all(seen), 30_000, `all caches see f${i}`);
        times.push(now() - t0);
      }
    });
    const received = (d.diagnostics().watch.eventsReceived - received0) / (registrations * caches);
    const sent = counts.watchEvents / (registrations * caches);
    const sec = c.section(
      'discovery-fanout',
      `${caches} caches of one service in one coordinator, ${registrations} registrations`,
    );
    sec.rows.push({
      case: `register → all ${caches} caches up`,
      cells: {
        ...latencyCells(summarize(times)),
        'events received/reg/cache': received,
        'events sent by etcd/reg/cache': sent,
      },
    });
    sec.notes.push(
      'Each cache has its own watcher on the coordinator’s one watch stream, so etcd sends one event per registration per cache. Events sent by etcd include the registration’s own guard watch (on the registering client).',
    );
  } finally {
    for (const s of stops) s();
    await Promise.allSettled(regs.map((r) => r.deregister()));
    await Promise.all([a.close(), d.close()]);
  }
}

/** Scenario 6. */
export async function discovery(env: BenchEnv): Promise<ScenarioResult> {
  const c = new Collector('discovery');
  const ns = env.ns('discovery');
  env.log('discovery: register → cache latency');
  await latency(env, c, ns);
  env.log('discovery: big cache');
  await bigCache(env, c, ns, env.n(10_000, 2_000));
  env.log('discovery: 100 caches');
  await fanOut(env, c, ns, 100, env.n(20, 5));
  return c;
}
