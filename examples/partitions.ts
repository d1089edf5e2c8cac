/**
 * Work spread over live workers. Three workers share 12 partitions (think: tenants or
 * shards), each partition processed by exactly one worker at a time. A fourth worker
 * joins and takes its share (about a quarter moves to it); then one worker leaves (a
 * rolling deploy) and only its partitions move. Every worker records its progress per
 * partition through `ownership.txn()`, so a worker that no longer owns a partition
 * cannot record anything for it.
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/partitions.ts
 *
 * Uses ETCD_ENDPOINTS (default 127.0.0.1:2379) and EXAMPLE_NAMESPACE (default
 * `partitions-<pid>/`); removes its keys when it ends.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Coordinator, connect, type PartitionGroup } from '../src/index.js';

const PARTITIONS = 12;
const namespace = process.env.EXAMPLE_NAMESPACE ?? `partitions-${process.pid}/`;
const say = (msg: string) => process.stdout.write(`${msg}\n`);

interface Worker {
  readonly id: string;
  readonly coord: Coordinator;
  readonly group: PartitionGroup;
}

async function startWorker(id: string): Promise<Worker> {
  const coord = await connect({ namespace, ttl: 5 });
  const group = coord.partition('tenants', { partitions: PARTITIONS, member: id });
  group.run(async (ownership) => {
    // The work of one partition: here, a counter per partition, written only while owned.
    while (!ownership.signal.aborted) {
      const key = `progress/${ownership.partition}`;
      const done = Number((await coord.kv.get(key).string()) ?? '0');
      await ownership
        .txn()
        .then(coord.kv.put(key).value(String(done + 1)))
        .commit();
      await sleep(100, undefined, { signal: ownership.signal }).catch(() => undefined);
    }
  });
  return { id, coord, group };
}

/** Waits until every worker sees all of them and owns exactly its share, and prints who owns what. */
async function settled(workers: readonly Worker[], label: string): Promise<Map<number, string>> {
  const ids = workers.map((w) => w.id).sort();
  const done = (w: Worker) => {
    const owned = w.group.owned();
    const desired = w.group.desired();
    return (
      w.group.members().join() === ids.join() && owned.size === desired.size && [...desired].every((p) => owned.has(p))
    );
  };
  while (!workers.every(done)) await sleep(50);
  const owners = new Map<number, string>();
  for (const w of workers) for (const p of w.group.owned().keys()) owners.set(p, w.id);
  say(`${label}: ${workers.map((w) => `${w.id}=[${[...w.group.owned().keys()].sort((a, b) => a - b)}]`).join(' ')}`);
  return owners;
}

function moved(before: Map<number, string>, after: Map<number, string>): number {
  return [...after].filter(([p, id]) => before.get(p) !== id).length;
}

async function main(): Promise<void> {
  const workers = await Promise.all(['worker-1', 'worker-2', 'worker-3'].map(startWorker));
  const three = await settled(workers, '3 workers');

  workers.push(await startWorker('worker-4'));
  const four = await settled(workers, '4 workers');
  say(`worker-4 joined: ${moved(three, four)} of ${PARTITIONS} partitions moved`);

  const leaving = workers.splice(1, 1)[0];
  await leaving.group.leave(); // its tasks stop, then its partitions are handed over
  await leaving.coord.close();
  const after = await settled(workers, '3 workers');
  say(`${leaving.id} left: ${moved(four, after)} of ${PARTITIONS} partitions moved`);

  await Promise.all(workers.map((w) => w.group.leave()));
  const left = await workers[0].coord.kv.getAll().prefix('tenants/').keys();
  say(`keys left under tenants/: ${left.length}`);
  await workers[0].coord.kv.delete().prefix('progress/').exec();
  await Promise.all(workers.map((w) => w.coord.close()));
}

main().catch((err) => {
  process.stderr.write(`partitions failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
