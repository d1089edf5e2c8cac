/**
 * Barriers: three workers (each with its own connection, as if they were three
 * processes) wait behind a barrier until a setup step has finished, then run two
 * rounds of work in lockstep through a double barrier: nobody starts a round before
 * all three have entered it, and nobody goes on before all three have left it.
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/barrier.ts
 *
 * Uses ETCD_ENDPOINTS (default 127.0.0.1:2379) and EXAMPLE_NAMESPACE (default
 * `example-barrier-<pid>/`).
 */
import { type Coordinator, connect } from '../src/index.js';

const say = (msg: string) => process.stdout.write(`${msg}\n`);
const namespace = process.env.EXAMPLE_NAMESPACE ?? `example-barrier-${process.pid}/`;
const WORKERS = 3;
const ROUNDS = 2;

/** What happened, in order, across all workers. */
const log: string[] = [];
const note = (line: string) => {
  log.push(line);
  say(line);
};

async function worker(name: string, coord: Coordinator): Promise<void> {
  await coord.barrier('setup').wait({ signal: AbortSignal.timeout(30_000) });
  const config = await coord.kv.get('config/ready').string();
  note(`${name} passed the setup barrier (config ready: ${config ?? 'no'})`);
  for (let round = 1; round <= ROUNDS; round++) {
    const step = coord.doubleBarrier(`rounds/${round}`, WORKERS);
    await step.enter({ signal: AbortSignal.timeout(30_000) });
    note(`${name} entered round ${round}`);
    await coord.kv.put(`results/${round}/${name}`).value(`done by ${name}`);
    await step.leave({ signal: AbortSignal.timeout(30_000) });
    note(`${name} left round ${round}`);
  }
}

const [admin, ...coords] = await Promise.all(Array.from({ length: WORKERS + 1 }, () => connect({ namespace, ttl: 5 })));
try {
  const setup = admin.barrier('setup');
  await setup.hold();
  say('setup barrier held');
  const workers = coords.map((c, i) => worker(`worker-${i + 1}`, c));
  await admin.kv.put('config/ready').value('yes');
  say('setup done; releasing the barrier');
  await setup.release();
  await Promise.all(workers);

  // Lockstep: in each round, every "entered" comes after every "left" of the round
  // before, and every "left" after every "entered" of the same round.
  let ok = true;
  for (let round = 1; round <= ROUNDS; round++) {
    const entered = log.flatMap((l, i) => (l.endsWith(`entered round ${round}`) ? [i] : []));
    const leftBefore = log.flatMap((l, i) => (l.endsWith(`left round ${round - 1}`) ? [i] : []));
    const results = await admin.kv.getAll().prefix(`results/${round}/`).keys();
    if (entered.length !== WORKERS || results.length !== WORKERS) ok = false;
    const left = log.flatMap((l, i) => (l.endsWith(`left round ${round}`) ? [i] : []));
    if (leftBefore.length > 0 && Math.min(...entered) < Math.max(...leftBefore)) ok = false;
    if (Math.min(...left) < Math.max(...entered)) ok = false;
  }
  await admin.kv.delete().prefix('results/').exec();
  await admin.kv.delete().key('config/ready').exec();
  const remaining = await admin.kv.getAll().prefix('').keys();
  say(`rounds in lockstep: ${ok ? 'yes' : 'no'}; keys left: ${remaining.length}`);
  if (!ok || remaining.length > 0) process.exitCode = 1;
} finally {
  await Promise.all([admin, ...coords].map((c) => c.close()));
}
