/**
 * Fencing pattern (b): pass `lock.token` to another store, which rejects any token lower
 * than the highest it has seen (Kleppmann's fencing tokens).
 *
 * The "store" is a tiny HTTP server on 127.0.0.1 started by this program. Worker A takes
 * the lock and stalls past its TTL (its lease is revoked behind its back); worker B takes
 * the lock and writes with its larger token; A's late write with its old token is refused.
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/fencing-external-store.ts
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from '../src/index.js';

const say = (msg: string) => process.stdout.write(`${msg}\n`);

/** The store: keeps the highest token seen and refuses writes that carry a lower one. */
let highest = 0n;
let stored = '';
const store = createServer(async (req, res) => {
  let body = '';
  for await (const chunk of req) body += chunk;
  const { token, value } = JSON.parse(body) as { token: string; value: string };
  if (BigInt(token) < highest) {
    res.writeHead(409).end(`token ${token} is older than ${highest}`);
    return;
  }
  highest = BigInt(token);
  stored = value;
  res.writeHead(200).end('ok');
});
store.listen(0, '127.0.0.1');
await once(store, 'listening');
const url = `http://127.0.0.1:${(store.address() as AddressInfo).port}/`;

/** A client of the store: every write carries the lock's fencing token. */
async function write(token: bigint, value: string): Promise<number> {
  const res = await fetch(url, { method: 'POST', body: JSON.stringify({ token: token.toString(), value }) });
  await res.text();
  return res.status;
}

try {
  await using coord = await connect({ namespace: `example-fencing-store-${process.pid}/`, ttl: 5 });
  const sessionA = await coord.newSession();
  const sessionB = await coord.newSession();

  const lockA = await coord.mutex('report', { session: sessionA }).acquire();
  say(`A holds the lock with token ${lockA.token}; store answers ${await write(lockA.token, 'A v1')}`);

  // A stalls past its TTL: etcd ends its lease (simulated by revoking it).
  await coord.client.leaseClient.leaseRevoke({ ID: sessionA.leaseIdDecimal });

  const lockB = await coord.mutex('report', { session: sessionB }).acquire({ timeoutMs: 10_000 });
  say(`B holds the lock with token ${lockB.token}; store answers ${await write(lockB.token, 'B v1')}`);

  const late = await write(lockA.token, 'A v2 (stale)');
  say(`A (stale) writes with token ${lockA.token}; store answers ${late}`);
  say(`the store holds: ${stored}`);
  await lockB.release();
  if (late !== 409 || stored !== 'B v1') {
    say('fencing FAILED');
    process.exitCode = 1;
  } else say('fencing held: the store refused the stale token');
} finally {
  store.close();
}
