/**
 * The README's demo: starts a throwaway local etcd when ETCD_ENDPOINTS is unset, then
 * shows etcd-coord at work, and stops whatever it started.
 *
 *   npm run demo
 */
import { connect } from '../src/index.js';
import { startEtcd, stopAll } from '../test/harness/etcd.js';

const say = (msg: string) => process.stdout.write(`${msg}\n`);

async function main(): Promise<void> {
  let endpoints = process.env.ETCD_ENDPOINTS?.split(',');
  if (!endpoints) {
    const node = await startEtcd();
    endpoints = [node.endpoint];
    say(`started a local etcd at ${node.endpoint} (stopped when the demo ends)`);
  }
  await using coord = await connect({ endpoints, namespace: `demo-${process.pid}/`, ttl: 5 });

  const session = await coord.newSession({ ttl: 5 });
  say(`session: lease ${session.leaseId}, TTL ${session.ttl}s, state ${session.state}`);

  await coord.kv.put('config/owner').value('demo').lease(session.leaseIdDecimal).exec();
  say('wrote config/owner, attached to the session lease');

  const health = await coord.health();
  for (const h of health) {
    say(`endpoint ${h.endpoint}: reachable=${h.reachable} latency=${h.latencyMs.toFixed(1)}ms revision=${h.revision}`);
  }

  await session.close();
  const after = await coord.kv.get('config/owner').string();
  say(`closed the session: config/owner is ${after === null ? 'gone with the lease' : `still ${after}`}`);
}

main()
  .then(() => stopAll())
  .catch(async (err) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    await stopAll();
    process.exit(1);
  });
