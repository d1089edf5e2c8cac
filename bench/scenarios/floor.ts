/**
 * Scenario 1, the floor: raw put, delete, the lock floor's single-compare txn, txn +
 * delete, and put → watch event, with the `etcd3` package directly. On the single node
 * and on the 3-node cluster.
 */
import type { BenchEnv } from '../lib/env.js';
import { etcd3Client, grantLease, PutWatch, rawAcquireTxn, rawDelete, rawPut } from '../lib/raw.js';
import { Collector, latencyCells, type ScenarioResult } from '../lib/report.js';
import { interleave } from '../lib/sample.js';
import { ratio, summarize } from '../lib/stats.js';

/** Measures the floor on `endpoints`. */
export async function measureFloor(env: BenchEnv, endpoints: readonly string[], rounds: number) {
  const client = etcd3Client(endpoints);
  const ns = env.ns('floor');
  const watch = await PutWatch.open(client, `${ns}w/`);
  try {
    const lease = await grantLease(client);
    let i = 0;
    let delKey = '';
    const samples = await interleave(
      {
        put: () => rawPut(client, `${ns}p/${i++ % 100}`),
        delete: {
          setup: () => {
            delKey = `${ns}d/${i++}`;
            return rawPut(client, delKey);
          },
          run: () => rawDelete(client, delKey),
        },
        txn: () => rawAcquireTxn(client, `${ns}t/`, `${ns}t/${i++}`, lease),
        'txn + delete': async () => {
          const key = `${ns}l/k`;
          await rawAcquireTxn(client, `${ns}l/`, key, lease);
          await rawDelete(client, key);
        },
        'put → watch event': () => {
          const key = `${ns}w/${i++}`;
          return watch.roundTrip(key, () => rawPut(client, key));
        },
      },
      rounds,
    );
    await client.delete().prefix(ns);
    return samples;
  } finally {
    await watch.close();
    client.close();
  }
}

/** Scenario 1. */
export async function floor(env: BenchEnv): Promise<ScenarioResult> {
  const c = new Collector('floor');
  const rounds = env.n(400, 60);
  const clusterRounds = env.n(200, 40);
  for (const [where, endpoints] of env.targets()) {
    env.log(`floor on ${where}`);
    const samples = await measureFloor(env, endpoints, where === 'single node' ? rounds : clusterRounds);
    const s = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
    const sec = c.section(`floor-${where}`, `Floor, ${where} (etcd3 raw RPCs, sequential)`);
    for (const [name, sum] of Object.entries(s)) {
      sec.rows.push({
        case: name,
        cells: { ...latencyCells(sum), 'ops/s': 1000 / sum.mean, '× put p50': ratio(sum.p50, s.put.p50) },
      });
    }
  }
  c.sections[0].notes.push(
    `${rounds} rounds on the single node, ${clusterRounds} on the cluster; each round runs every operation once in rotating order (after 100 warm-up rounds).`,
    'txn = the lock floor: put-if-absent on a lease + read of the oldest key under the prefix, one round trip.',
    'On the cluster the client balances requests over the 3 members; followers forward writes to the raft leader.',
  );
  return c;
}
