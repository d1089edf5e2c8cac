/**
 * A lock contender in its own process (scenario 3). Env: ENDPOINTS (comma-separated),
 * NS (namespace), GATEWAY_PORT. Sends { type: 'ready' }, then for every
 * { type: 'run', runId, peer, name, sections } takes the lock `sections` times and answers
 * { type: 'done', runId, samples: [requested, acquired, releasing, token?][] (epoch ms), cpuMs, attempts }.
 */

import { connect } from 'etcd-coord';
import { EtcdLockFailedError } from 'etcd3';
import type { SectionTimes } from '../lib/contention.js';
import { Gateway } from '../lib/gateway.js';
import { etcd3Client } from '../lib/raw.js';
import { cpuMs, epochMs, sleep } from '../lib/timing.js';

/** The peers a contender can run. */
export type ContendedPeer = 'etcd-coord' | 'etcd3-poll' | 'server-side';

interface RunMessage {
  type: 'run';
  runId: number;
  peer: ContendedPeer;
  name: string;
  sections: number;
}

const endpoints = (process.env.ENDPOINTS ?? '').split(',');
const ns = process.env.NS ?? '';
const coord = await connect({ endpoints, namespace: ns });
const client = etcd3Client(endpoints);
const gw = new Gateway(Number(process.env.GATEWAY_PORT));
const gwLease = await gw.grant(600);
await coord.session();

let attempts = 0;

/** The etcd3 lock fails fast when held: poll with jittered exponential backoff (2 ms .. 64 ms). */
async function etcd3Acquire(name: string) {
  for (let backoff = 2; ; backoff = Math.min(64, backoff * 2)) {
    attempts++;
    try {
      return await client.lock(name).ttl(10).acquire();
    } catch (err) {
      if (!(err instanceof EtcdLockFailedError)) throw err;
      await sleep(backoff / 2 + Math.random() * (backoff / 2));
    }
  }
}

/** Takes and releases the lock once; the three timestamps. */
async function section(peer: ContendedPeer, name: string): Promise<SectionTimes> {
  const requested = epochMs();
  let release: () => Promise<unknown>;
  let token: number | undefined;
  if (peer === 'etcd-coord') {
    const lock = await coord.mutex(name).acquire();
    token = Number(lock.token);
    release = () => lock.release();
  } else if (peer === 'etcd3-poll') {
    const lock = await etcd3Acquire(`${ns}${name}`);
    release = () => lock.release();
  } else {
    const key = await gw.lock(`${ns}${name}`, gwLease);
    release = () => gw.unlock(key);
  }
  const acquired = epochMs();
  const releasing = epochMs();
  await release();
  return token === undefined ? [requested, acquired, releasing] : [requested, acquired, releasing, token];
}

async function run(msg: RunMessage): Promise<void> {
  attempts = 0;
  const samples: SectionTimes[] = [];
  const cpu0 = cpuMs();
  for (let i = 0; i < msg.sections; i++) samples.push(await section(msg.peer, msg.name));
  process.send?.({ type: 'done', runId: msg.runId, samples, cpuMs: cpuMs() - cpu0, attempts });
}

process.on('message', (msg: RunMessage | { type: 'exit' }) => {
  if (msg.type === 'run') {
    run(msg).catch((err) => process.send?.({ type: 'failed', error: String(err?.stack ?? err) }));
  } else if (msg.type === 'exit') {
    Promise.allSettled([coord.close(), gw.revoke(gwLease)]).finally(() => process.exit(0));
  }
});
// Warm up (module loading, JIT) on a lock of my own before the first measured run.
for (const peer of ['etcd-coord', 'etcd3-poll', 'server-side'] as const) {
  for (let i = 0; i < 3; i++) await section(peer, `warmup-${process.pid}`);
}
process.send?.({ type: 'ready' });
