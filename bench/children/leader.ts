/**
 * A candidate in its own process, for crash failover (scenario 5). Env: ENDPOINTS, NS,
 * GATEWAY_PORT, PEER ('etcd-coord' | 'etcd3' | 'server-side'), NAME, TTL. Sends
 * { type: 'ready' }; on { type: 'campaign' } campaigns with a TTL-second lease and sends
 * { type: 'elected' }. The parent then SIGKILLs it.
 */
import { connect } from 'etcd-coord';
import { Gateway } from '../lib/gateway.js';
import { etcd3Client } from '../lib/raw.js';

const endpoints = (process.env.ENDPOINTS ?? '').split(',');
const ns = process.env.NS ?? '';
const name = process.env.NAME ?? 'failover';
const ttl = Number(process.env.TTL ?? 2);
const peer = process.env.PEER;

async function campaign(): Promise<void> {
  if (peer === 'etcd-coord') {
    const coord = await connect({ endpoints, namespace: ns });
    const session = await coord.newSession({ ttl });
    await coord.election(name, { session }).campaign('child');
  } else if (peer === 'etcd3') {
    await etcd3Client(endpoints).namespace(ns).election(name, ttl).campaign('child').wait();
  } else {
    const gw = new Gateway(Number(process.env.GATEWAY_PORT));
    const lease = await gw.grant(ttl);
    setInterval(() => void gw.keepAlive(lease).catch(() => {}), (ttl * 1000) / 3);
    await gw.campaign(`${ns}${name}`, lease, 'child');
  }
}

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'campaign') {
    campaign().then(
      () => process.send?.({ type: 'elected' }),
      (err) => process.send?.({ type: 'failed', error: String(err?.stack ?? err) }),
    );
  }
});
process.send?.({ type: 'ready' });
