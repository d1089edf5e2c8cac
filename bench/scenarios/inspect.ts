/**
 * Scenario 10, inspect: `coord.inspect()` over 1,000 queues with 3 contenders each
 * (3,000 keys with owner records). Requests per call as etcd counts them, per method
 * (Range, LeaseTimeToLive), and the wall time, p50 over a few calls. Two layouts: the
 * 3 contenders of every queue are 3 sessions (3 leases in all), or every contender has
 * its own lease (3,000 leases: one LeaseTimeToLive each). Baseline: the raw range of
 * the same keys with the `etcd3` package (the read alone).
 */

import { connect } from 'etcd-coord';
import type { Etcd3 } from 'etcd3';
import { encodeOwner } from '../../src/lock/owner.js';
import { batched } from '../lib/batched.js';
import type { BenchEnv } from '../lib/env.js';
import { counting, type EtcdCounters } from '../lib/etcd-metrics.js';
import { etcd3Client, grantLease } from '../lib/raw.js';
import { Collector, type ScenarioResult } from '../lib/report.js';
import { summarize } from '../lib/stats.js';
import { timed } from '../lib/timing.js';

const QUEUES = 1000;
const PER_QUEUE = 3;

/** Puts `QUEUES` × `PER_QUEUE` contender keys under `ns`, contender j of every queue on `leaseOf(i, j)`. */
async function fill(client: Etcd3, ns: string, leaseOf: (i: number, j: number) => string): Promise<void> {
  // 30 queues (90 puts) per transaction: etcd's default --max-txn-ops is 128.
  const perTxn = 30;
  await batched(Math.ceil(QUEUES / perTxn), 4, async (t) => {
    const ops = [];
    for (let i = t * perTxn; i < Math.min(QUEUES, (t + 1) * perTxn); i++) {
      for (let j = 0; j < PER_QUEUE; j++) {
        const lease = leaseOf(i, j);
        ops.push(
          client
            .put(`${ns}jobs/q${i}/${BigInt(lease).toString(16)}`)
            .value(encodeOwner(`worker-${j}`))
            .lease(lease),
        );
      }
    }
    await client
      .if(`${ns}none`, 'Create', '==', 0)
      .then(...ops)
      .commit();
  });
}

interface Measured {
  readonly ms: number[];
  readonly counts: EtcdCounters;
  readonly queues: number;
  readonly contenders: number;
}

async function measure(env: BenchEnv, endpoints: string[], ns: string, runs: number): Promise<Measured> {
  const coord = await connect({ endpoints, namespace: ns });
  try {
    const members = endpoints.length > 1 ? (env.cluster?.members ?? []) : [env.single];
    await coord.inspect(); // warm-up: connections, JIT
    const { result: snap, counts } = await counting(members, () => coord.inspect());
    const ms: number[] = [];
    for (let r = 0; r < runs; r++) ms.push(await timed(() => coord.inspect()));
    const contenders = snap.queues.reduce((n, q) => n + q.contenders.length, 0);
    if (snap.queues.length !== QUEUES || contenders !== QUEUES * PER_QUEUE) {
      throw new Error(`inspect: saw ${snap.queues.length} queues and ${contenders} contenders`);
    }
    return { ms, counts, queues: snap.queues.length, contenders };
  } finally {
    await coord.close();
  }
}

async function rawRange(client: Etcd3, ns: string, runs: number): Promise<number[]> {
  await client.getAll().prefix(ns).exec();
  const ms: number[] = [];
  for (let r = 0; r < runs; r++) ms.push(await timed(() => client.getAll().prefix(ns).exec()));
  return ms;
}

/** Scenario 10. */
export async function inspect(env: BenchEnv): Promise<ScenarioResult> {
  const c = new Collector('inspect');
  const runs = env.n(9, 3);
  for (const [where, endpoints] of env.targets()) {
    const sec = c.section(`inspect-${where}`, `inspect(): ${QUEUES} queues × ${PER_QUEUE} contenders, ${where}`);
    const client = etcd3Client(endpoints);
    try {
      for (const layout of ['3 leases', `${QUEUES * PER_QUEUE} leases`]) {
        const ns = env.ns('inspect');
        const perContender = layout !== '3 leases';
        env.log(`inspect on ${where}: filling ${QUEUES} queues (${layout})`);
        const leases = await batched(perContender ? QUEUES * PER_QUEUE : PER_QUEUE, 50, () => grantLease(client));
        await fill(client, ns, (i, j) => leases[perContender ? i * PER_QUEUE + j : j]);
        env.log(`inspect on ${where}: ${runs} calls (${layout})`);
        const m = await measure(env, endpoints, ns, runs);
        const raw = summarize(await rawRange(client, ns, runs));
        const s = summarize(m.ms);
        sec.rows.push({
          case: `inspect(), ${layout}`,
          cells: {
            requests: m.counts.requests,
            Range: m.counts.byMethod.Range ?? 0,
            LeaseTimeToLive: m.counts.byMethod.LeaseTimeToLive ?? 0,
            'p50 ms': s.p50,
            'max ms': s.max,
            'raw range p50 ms': raw.p50,
          },
        });
        await client.delete().prefix(ns);
        await batched(leases.length, 50, (i) => client.leaseClient.leaseRevoke({ ID: leases[i] }));
      }
    } finally {
      client.close();
    }
  }
  c.sections[0].notes.push(
    `${runs} timed calls after one warm-up call, one coordinator; requests counted by etcd (/metrics) over one call.`,
    `Every queue is \`jobs/q<i>/<lease hex>\` with a JSON owner record (about 90 bytes); ${QUEUES * PER_QUEUE} keys are one Range (pages hold 5,000 keys).`,
    'LeaseTimeToLive: one per distinct lease, at most 64 in flight. raw range = the same keys read by the etcd3 package alone (the floor of the read).',
  );
  return c;
}
