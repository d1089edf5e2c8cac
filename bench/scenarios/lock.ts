/**
 * Scenario 2, uncontended lock acquire + release: etcd-coord's Mutex, the floor (one txn
 * + one delete), the `etcd3` package's lock(), and etcd's server-side Lock service
 * through the JSON gateway. Latency interleaved per round; etcd requests per
 * acquire + release counted from etcd's /metrics in a separate pass.
 */

import { connect } from 'etcd-coord';
import type { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { encodeOwner } from '../../src/lock/owner.js';
import { Resilience } from '../../src/resilience.js';
import { WatchHub } from '../../src/watch.js';
import type { EtcdMember } from '../../test/harness/etcd.js';
import type { BenchEnv } from '../lib/env.js';
import { counting } from '../lib/etcd-metrics.js';
import { Gateway } from '../lib/gateway.js';
import { etcd3Client, grantLease, rawAcquireTxn, rawDelete, rawJoinAndGuardedDelete } from '../lib/raw.js';
import { Collector, latencyCells, type ScenarioResult } from '../lib/report.js';
import { interleave } from '../lib/sample.js';
import { fmt, ratio, summarize } from '../lib/stats.js';
import { cpuMs, heapMb, now } from '../lib/timing.js';

type Peer = () => Promise<unknown>;

/** The four peers' acquire + release on `endpoints`, each on its own lock name. */
async function peers(env: BenchEnv, endpoints: string[], gatewayPort: number) {
  const ns = env.ns('lock');
  const coord = await connect({ endpoints, namespace: ns });
  const client: Etcd3 = etcd3Client(endpoints);
  const gw = new Gateway(gatewayPort);
  const lease = await grantLease(client);
  const gwLease = await gw.grant(600);
  const session = await coord.session();
  const mutex = coord.mutex('coord');
  // The library's own policy wrapper and watch stream, built on the raw client (the
  // coordinator's are private): the floor rows take the cost of each layer apart.
  const policies = new Resilience(undefined, endpoints);
  const hub = new WatchHub(client, pino({ level: 'silent' }));
  const ops: Record<string, Peer> = {
    'etcd-coord Mutex': async () => {
      const lock = await mutex.acquire();
      await lock.release();
    },
    'floor (txn + delete)': async () => {
      await rawAcquireTxn(client, `${ns}floor/`, `${ns}floor/k`, lease);
      await rawDelete(client, `${ns}floor/k`);
    },
    "floor, etcd-coord's requests": () =>
      rawJoinAndGuardedDelete(client, `${ns}req/`, `${ns}req/k`, lease, encodeOwner('bench-owner')),
    'floor + policies': async () => {
      await policies.run('txn', () => rawAcquireTxn(client, `${ns}pol/`, `${ns}pol/k`, lease), { idempotent: true });
      await policies.run('delete', () => rawDelete(client, `${ns}pol/k`), { idempotent: true });
    },
    'floor + policies + guard watch': async () => {
      const res = (await policies.run('txn', () => rawAcquireTxn(client, `${ns}g/`, `${ns}g/k`, lease), {
        idempotent: true,
      })) as { header: { revision: string } };
      const guard = hub.watch({ key: `${ns}g/k`, startRevision: BigInt(res.header.revision) + 1n }, { onEvents() {} });
      guard.cancel();
      await policies.run('delete', () => rawDelete(client, `${ns}g/k`), { idempotent: true });
    },
    'etcd3 lock()': async () => {
      const l = await client.lock(`${ns}etcd3`).ttl(10).acquire();
      await l.release();
    },
    'server-side Lock': async () => {
      const key = await gw.lock(`${ns}server`, gwLease);
      await gw.unlock(key);
    },
  };
  const close = async () => {
    hub.close();
    await coord.close();
    await gw.revoke(gwLease);
    await client.leaseClient.leaseRevoke({ ID: lease });
    await client.delete().prefix(ns);
    client.close();
    gw.close();
  };
  return { ops, close, session };
}

/** etcd requests (and MVCC operations) and client CPU per call of each peer, `n` calls each, alone. */
async function requestCounts(members: EtcdMember[], ops: Record<string, Peer>, n: number) {
  const out: Record<string, { requests: number; mvcc: number; methods: string; cpu: number }> = {};
  for (const [name, op] of Object.entries(ops)) {
    const { result: cpu, counts } = await counting(members, async () => {
      const cpu0 = cpuMs();
      for (let i = 0; i < n; i++) await op();
      return (cpuMs() - cpu0) / n;
    });
    const methods = Object.entries(counts.byMethod)
      .filter(([m]) => m !== 'LeaseKeepAlive')
      .map(([m, v]) => `${m} ${fmt(v / n)}`)
      .join(', ');
    out[name] = { requests: counts.requests / n, mvcc: counts.mvccOps / n, methods, cpu };
  }
  return out;
}

/** Heap retained per acquire + release (after a full GC), over many calls on one session / lease. */
/**
 * How many composite signals (AbortSignal.any) still hang on `signal`: Node 20 keeps a
 * WeakRef to each in a set on the source signal until the source aborts. Undefined where
 * the runtime keeps no such set.
 */
function dependants(signal: AbortSignal): number | undefined {
  const sym = Object.getOwnPropertySymbols(signal).find((s) => s.description === 'kDependantSignals');
  const set = sym ? (signal as unknown as Record<symbol, Set<unknown> | undefined>)[sym] : undefined;
  return sym ? (set?.size ?? 0) : undefined;
}

async function heapPerOp(env: BenchEnv, c: Collector, ops: Record<string, Peer>, sessionSignal: AbortSignal) {
  const n = env.n(2000, 400);
  const warmup = env.n(500, 200);
  const sec = c.section('lock-heap', `Heap retained per acquire + release, ${n} calls on one session, single node`);
  const bytes: Record<string, number> = {};
  let kept: number | undefined;
  for (const name of ['etcd-coord Mutex', 'floor + policies + guard watch']) {
    for (let i = 0; i < warmup; i++) await ops[name]();
    const h0 = heapMb();
    const d0 = dependants(sessionSignal);
    for (let i = 0; i < n; i++) await ops[name]();
    bytes[name] = ((heapMb() - h0) * 2 ** 20) / n;
    const d1 = dependants(sessionSignal);
    const left = d0 === undefined || d1 === undefined ? undefined : d1 - d0;
    if (name === 'etcd-coord Mutex') kept = left;
    sec.rows.push({
      case: name,
      cells: {
        'bytes/op': Math.round(bytes[name]),
        'signals left on session.signal per op': left === undefined ? 'n/a' : left / n,
      },
    });
  }
  sec.notes.push(
    `heapUsed after two full GCs, before and after the calls (after ${warmup} warm-up calls: the first thousand calls grow the heap with JIT code and caches, for the raw client too). Heap readings swing by a few hundred bytes/op between runs. The exact count: composite signals (AbortSignal.any) left in the session signal's dependant set (Node 20 keeps a WeakRef and a set entry, ~80 bytes, for each until the session's signal aborts).`,
  );
  const b = bytes['etcd-coord Mutex'];
  c.target(
    'no heap growth per acquire + release',
    `${Math.round(b)} bytes/op; ${kept === undefined ? 'n/a' : kept} AbortSignal.any dependants left on the session's signal after ${n} calls`,
    kept === undefined ? b < 30 : kept === 0 && b < 30,
  );
}

/**
 * Where one uncontended acquire + release spends its time, next to the floor's two
 * requests: the coordinator's public client's `kv.txn` is wrapped to stamp when each
 * request is handed to it and when its answer resolves, so the JS before, between and
 * after the two round trips is told apart from the round trips themselves. Mutex and
 * floor alternate, one call each, so both run with the same warmth.
 */
async function timeline(env: BenchEnv, c: Collector, endpoints: string[]) {
  const ns = env.ns('lock-timeline');
  const coord = await connect({ endpoints, namespace: ns });
  const client = etcd3Client(endpoints);
  const lease = await grantLease(client);
  await coord.session();
  const mutex = coord.mutex('m');
  const kv = coord.client.kv;
  const txn = kv.txn.bind(kv);
  const stamps: number[] = [];
  kv.txn = (req, options) => {
    stamps.push(now());
    const p = txn(req, options);
    p.then(() => stamps.push(now()));
    return p;
  };
  const n = env.n(2000, 200);
  const lib: number[][] = [];
  const raw: number[][] = [];
  try {
    for (let i = 0; i < n + 200; i++) {
      stamps.length = 0;
      const t0 = now();
      const lock = await mutex.acquire();
      const t1 = now();
      await lock.release();
      const t2 = now();
      const [sendJoin, joined, sendDelete, deleted] = stamps;
      const r0 = now();
      await rawAcquireTxn(client, `${ns}floor/`, `${ns}floor/k`, lease);
      const r1 = now();
      await rawDelete(client, `${ns}floor/k`);
      const r2 = now();
      if (i < 200) continue; // warm-up
      lib.push([
        sendJoin - t0,
        joined - sendJoin,
        t1 - joined,
        sendDelete - t1,
        deleted - sendDelete,
        t2 - deleted,
        t2 - t0,
      ]);
      raw.push([r1 - r0, r2 - r1, r2 - r0]);
    }
  } finally {
    kv.txn = txn;
    await coord.close();
    await client.leaseClient.leaseRevoke({ ID: lease });
    await client.delete().prefix(ns);
    client.close();
  }
  const med = (rows: number[][], j: number) => summarize(rows.map((r) => r[j])).p50;
  const us = (ms: number) => Math.round(ms * 1000);
  const sec = c.section(
    'lock-timeline',
    'Where one uncontended acquire + release spends its time, single node (p50 of each step, µs)',
  );
  const floorTotal = med(raw, 2);
  sec.rows.push({
    case: 'etcd-coord Mutex',
    cells: {
      'JS before the join': us(med(lib, 0)),
      'join round trip': us(med(lib, 1)),
      'JS after it (acquire resolves)': us(med(lib, 2)),
      'JS before the delete': us(med(lib, 3)),
      'delete round trip': us(med(lib, 4)),
      'JS after it (release resolves)': us(med(lib, 5)),
      whole: us(med(lib, 6)),
      '× floor': ratio(med(lib, 6), floorTotal),
    },
  });
  sec.rows.push({
    case: 'floor (txn + delete)',
    cells: {
      'join round trip': us(med(raw, 0)),
      'delete round trip': us(med(raw, 1)),
      whole: us(floorTotal),
      '× floor': 1,
    },
  });
  sec.notes.push(
    `${n} calls each after 200 warm-up calls, Mutex and floor alternating (not among the other peers, as in the table above: this is the same code in a warmer state). A round trip is from the request handed to etcd3's \`kv.txn\` to its answer; the Mutex's delete is a transaction guarded by the create revision, and its round trip also carries the guard watch's delete event, which arrives on the same connection and is handled first.`,
  );
}

/** Scenario 2. */
export async function lockUncontended(env: BenchEnv): Promise<ScenarioResult> {
  const c = new Collector('lock');
  const rounds = env.n(400, 60);
  const clusterRounds = env.n(200, 40);
  for (const [where, endpoints] of env.targets()) {
    env.log(`uncontended lock on ${where}`);
    const members = where === 'single node' ? [env.single] : (env.cluster?.members ?? []);
    const { ops, close, session } = await peers(env, endpoints, members[0].config.clientPort);
    try {
      const samples = await interleave(ops, where === 'single node' ? rounds : clusterRounds);
      const counts = await requestCounts(members, ops, where === 'single node' ? env.n(200, 20) : env.n(100, 10));
      const s = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
      const floorP50 = s['floor (txn + delete)'].p50;
      const sec = c.section(`lock-${where}`, `Uncontended acquire + release, ${where}`);
      for (const [name, sum] of Object.entries(s)) {
        sec.rows.push({
          case: name,
          cells: {
            ...latencyCells(sum),
            'ops/s': 1000 / sum.mean,
            '× floor p50': ratio(sum.p50, floorP50),
            'etcd req/op': counts[name].requests,
            'mvcc ops/op': counts[name].mvcc,
            'client CPU ms/op': counts[name].cpu,
          },
        });
      }
      sec.notes.push(
        `gRPC messages per acquire + release: ${Object.entries(counts)
          .map(([k, v]) => `${k}: ${v.methods}`)
          .join('; ')}.`,
      );
      const coordP50 = s['etcd-coord Mutex'].p50;
      const r = ratio(coordP50, floorP50) ?? Number.NaN;
      c.target(
        `${where}: acquire+release ≤ 1.15× floor (p50)`,
        `${fmt(r)}× (${fmt(coordP50)} vs ${fmt(floorP50)} ms)`,
        r <= 1.15,
      );
      const e3 = s['etcd3 lock()'].p50;
      const srv = s['server-side Lock'].p50;
      c.target(`${where}: faster than etcd3 lock() (p50)`, `${fmt(coordP50)} vs ${fmt(e3)} ms`, coordP50 < e3);
      c.target(`${where}: faster than server-side Lock (p50)`, `${fmt(coordP50)} vs ${fmt(srv)} ms`, coordP50 < srv);
      if (where === 'single node') await heapPerOp(env, c, ops, session.signal);
      if (where === 'single node') await timeline(env, c, endpoints);
    } finally {
      await close();
    }
  }
  c.sections[0]?.notes.unshift(
    `${rounds} rounds on the single node, ${clusterRounds} on the cluster, every peer once per round in rotating order, after 100 warm-up rounds.`,
    'etcd-coord: the shared session is granted before the run (a lease is long-lived); the floor and the server-side Lock also reuse one lease. etcd3 lock() grants and revokes a lease per lock: that is its API.',
    'etcd req/op: gRPC messages etcd received per acquire + release (watch creates/cancels included, keepalives excluded); mvcc ops/op includes the reads and writes the server-side services make inside etcd. On the cluster: summed over members, and the gateway runs on member 0. client CPU: this process (user + system) per acquire + release, in the same pass.',
  );
  return c;
}
