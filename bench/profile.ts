/**
 * `npm run build && TSX_TSCONFIG_PATH=bench/tsconfig.run.json node --cpu-prof --cpu-prof-dir=DIR --import tsx bench/profile.ts <lock|contended|election|discovery|discovery-shared> [n]`
 * (the built package, as `npm run bench` runs it):
 * runs one scenario's etcd-coord operation alone, many times, against its own single-node
 * etcd, so that a CPU profile of this process shows where the client's time goes.
 * Summarize the profile with `node bench/lib/cpuprofile-top.mjs DIR/*.cpuprofile`.
 *
 * - lock: Mutex acquire + release on one session (uncontended).
 * - contended: 8 coordinators in this process, each taking one lock n/8 times back to back.
 * - election: two candidates in this process; the leader resigns, the other's campaign resolves.
 * - discovery: register → a cache's `up` event, then deregister.
 * - discovery-shared: the same with `register(..., { sharedSession: true })`.
 */
import { connect } from 'etcd-coord';
import { startEtcd, stopAll } from '../test/harness/etcd.js';

const which = process.argv[2] ?? 'lock';
const n = Number(process.argv[3] ?? 3000);

async function main(): Promise<void> {
  const etcd = await startEtcd();
  const endpoints = [etcd.endpoint];
  try {
    if (which === 'lock') {
      const coord = await connect({ endpoints, namespace: 'prof/' });
      const mutex = coord.mutex('m');
      for (let i = 0; i < n; i++) await (await mutex.acquire()).release();
      await coord.close();
    } else if (which === 'contended') {
      const coords = await Promise.all(Array.from({ length: 8 }, () => connect({ endpoints, namespace: 'prof/' })));
      await Promise.all(
        coords.map(async (c) => {
          const mutex = c.mutex('c');
          for (let i = 0; i < n / 8; i++) await (await mutex.acquire()).release();
        }),
      );
      await Promise.all(coords.map((c) => c.close()));
    } else if (which === 'election') {
      const [a, b] = await Promise.all([0, 1].map(() => connect({ endpoints, namespace: 'prof/' })));
      const ea = a.election('e');
      const eb = b.election('e');
      let leader = await ea.campaign('a');
      let next: 'a' | 'b' = 'b';
      for (let i = 0; i < n; i++) {
        const waiting = next === 'b' ? eb.campaign('b') : ea.campaign('a');
        await new Promise((r) => setTimeout(r, 1)); // let the waiter join and watch
        await leader.resign();
        leader = await waiting;
        next = next === 'b' ? 'a' : 'b';
      }
      await leader.resign();
      await Promise.all([a.close(), b.close()]);
    } else if (which === 'discovery' || which === 'discovery-shared') {
      const options = { sharedSession: which === 'discovery-shared' };
      const [a, b] = await Promise.all([0, 1].map(() => connect({ endpoints, namespace: 'prof/' })));
      const cache = await b.registry.discover('svc');
      const it = cache.changes()[Symbol.asyncIterator]();
      for (let i = 0; i < n; i++) {
        const reg = await a.registry.register({ service: 'svc', id: `i${i}`, address: '10.0.0.1', port: 80 }, options);
        for (;;) {
          const { value } = await it.next();
          if (value?.type === 'up' && value.instance.id === `i${i}`) break;
        }
        await reg.deregister();
      }
      await it.return?.();
      cache.close();
      await Promise.all([a.close(), b.close()]);
    } else throw new Error(`unknown scenario ${which}`);
  } finally {
    await stopAll();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
