/**
 * Workers sharing a job list under a lock: three workers (each with its own connection,
 * as if they were three processes) claim jobs one at a time inside `coord.withLock()`,
 * so no job is claimed twice. Each claim is written through `lock.txn()`, so a worker
 * that lost the lock while working cannot record a claim.
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/lock-worker.ts
 */
import { type Coordinator, connect } from '../src/index.js';

const say = (msg: string) => process.stdout.write(`${msg}\n`);
const namespace = `example-lock-worker-${process.pid}/`;
const JOBS = 9;

async function worker(name: string, coord: Coordinator): Promise<number> {
  let claimed = 0;
  for (;;) {
    const job = await coord.withLock(
      'jobs/claim',
      async (lock) => {
        const pending = await coord.kv.getAll().prefix('jobs/pending/').sort('Key', 'Ascend').limit(1).keys();
        if (pending.length === 0) return undefined;
        const id = pending[0].slice('jobs/pending/'.length);
        lock.signal.throwIfAborted(); // stop work when the lock is lost
        const res = await lock
          .txn()
          .then(coord.kv.delete().key(`jobs/pending/${id}`), coord.kv.put(`jobs/done/${id}`).value(name))
          .commit();
        return res.succeeded ? id : undefined;
      },
      { timeoutMs: 30_000 },
    );
    if (job === undefined) return claimed;
    claimed++;
    say(`${name} claimed job ${job} (lock held on ${coord.namespace}jobs/claim)`);
  }
}

const coords = await Promise.all([1, 2, 3].map(() => connect({ namespace, ttl: 5 })));
try {
  for (let i = 0; i < JOBS; i++) await coords[0].kv.put(`jobs/pending/${String(i).padStart(2, '0')}`).value('todo');
  const counts = await Promise.all(coords.map((c, i) => worker(`worker-${i + 1}`, c)));
  const done = await coords[0].kv.getAll().prefix('jobs/done/').strings();
  say(`claims per worker: ${counts.join(', ')}; jobs done: ${Object.keys(done).length} of ${JOBS}`);
  await coords[0].kv.delete().prefix('jobs/').exec();
  if (Object.keys(done).length !== JOBS || counts.reduce((a, b) => a + b, 0) !== JOBS) process.exitCode = 1;
} finally {
  await Promise.all(coords.map((c) => c.close()));
}
