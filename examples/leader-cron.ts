/**
 * A leader-only cron job. Three replicas of a service run the same job every
 * INTERVAL_MS, but only the current leader runs it. Halfway through, the leading replica
 * shuts down (as in a rolling deploy): it stops its job, which resigns, and another
 * replica takes over at once. Every run records itself through `leadership.txn()`, so a
 * replica that is no longer the leader cannot record a run.
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/leader-cron.ts
 *
 * Uses ETCD_ENDPOINTS (default 127.0.0.1:2379) and EXAMPLE_NAMESPACE (default
 * `leader-cron-<pid>/`); removes its keys when it ends.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Coordinator, connect, type LeaderJob } from '../src/index.js';

const INTERVAL_MS = 300;
const RUNS = 8;
const namespace = process.env.EXAMPLE_NAMESPACE ?? `leader-cron-${process.pid}/`;
const say = (msg: string) => process.stdout.write(`${msg}\n`);

interface Replica {
  readonly id: string;
  readonly coord: Coordinator;
  readonly job: LeaderJob;
}

/** One replica: a coordinator and the leader-only job. */
async function startReplica(id: string): Promise<Replica> {
  const coord = await connect({ namespace, ttl: 5 });
  const job = coord.election('cron/report').run(
    async (leadership) => {
      say(`${id}: now the leader (token ${leadership.token})`);
      for (let n = 1; !leadership.signal.aborted; n++) {
        // The job itself: here, recording the run. Guarded, so only the leader's run lands.
        const run = await leadership
          .txn()
          .then(coord.kv.put(`cron/runs/${leadership.token}-${n}`).value(id))
          .commit();
        say(run.succeeded ? `${id}: ran the job` : `${id}: no longer the leader, run not recorded`);
        await sleep(INTERVAL_MS, undefined, { signal: leadership.signal }).catch(() => undefined);
      }
      say(`${id}: stopped leading`);
    },
    { value: id },
  );
  return { id, coord, job };
}

/** Runs recorded so far: replica id per run. */
async function runs(coord: Coordinator): Promise<string[]> {
  return Object.values(await coord.kv.getAll().prefix('cron/runs/').strings());
}

async function main(): Promise<void> {
  const replicas = await Promise.all(['replica-1', 'replica-2', 'replica-3'].map(startReplica));
  const observer = replicas[0].coord;
  while ((await runs(observer)).length < RUNS / 2) await sleep(50);

  const leader = await observer.election('cron/report').leader();
  const leaving = replicas.find((r) => r.id === leader?.value);
  if (!leaving) throw new Error('no leader found');
  say(`${leaving.id}: shutting down (rolling deploy)`);
  await leaving.job.stop(); // the task stops, then the job resigns: the next replica leads at once
  await leaving.coord.close();
  const staying = replicas.filter((r) => r !== leaving);

  while ((await runs(staying[0].coord)).length < RUNS) await sleep(50);
  await Promise.all(staying.map((r) => r.job.stop()));
  const all = await runs(staying[0].coord);
  const byReplica = new Map<string, number>();
  for (const id of all) byReplica.set(id, (byReplica.get(id) ?? 0) + 1);
  say(`runs: ${all.length}, by replica: ${[...byReplica].map(([id, n]) => `${id}=${n}`).join(' ')}`);
  await staying[0].coord.kv.delete().prefix('cron/').exec();
  await Promise.all(staying.map((r) => r.coord.close()));
}

main().catch((err) => {
  process.stderr.write(`leader-cron failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
