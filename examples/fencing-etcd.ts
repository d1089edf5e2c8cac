/**
 * Fencing pattern (a): etcd writes guarded by `lock.txn()`.
 *
 * Worker A takes the lock and then stalls (here: its lease is revoked behind its back,
 * as if it had been paused past its TTL). Worker B takes the lock and writes. When A
 * wakes up and writes without looking at `lock.signal`, its write does not land: the
 * transaction carries `CreateRevision(A's key) == A's token`, which no longer holds.
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/fencing-etcd.ts
 */
import { connect } from '../src/index.js';

const say = (msg: string) => process.stdout.write(`${msg}\n`);

await using coord = await connect({ namespace: `example-fencing-etcd-${process.pid}/`, ttl: 5 });
const sessionA = await coord.newSession();
const sessionB = await coord.newSession();

const lockA = await coord.mutex('config', { session: sessionA }).acquire();
say(`A holds ${lockA.key} with token ${lockA.token}`);
const first = await lockA.txn().then(coord.kv.put('settings/value').value('written by A')).commit();
say(`A writes through lock.txn(): ${first.succeeded ? 'landed' : 'rejected'}`);

// A stalls past its TTL: etcd ends its lease (simulated by revoking it).
await coord.client.leaseClient.leaseRevoke({ ID: sessionA.leaseIdDecimal });

const lockB = await coord.mutex('config', { session: sessionB }).acquire({ timeoutMs: 10_000 });
say(`B holds ${lockB.key} with token ${lockB.token}`);
await lockB.txn().then(coord.kv.put('settings/value').value('written by B')).commit();

// A wakes up and writes as if it still held the lock.
const stale = await lockA.txn().then(coord.kv.put('settings/value').value('stale write by A')).commit();
say(`A (stale) writes through lock.txn(): ${stale.succeeded ? 'landed' : 'rejected'}`);
say(`settings/value is now: ${await coord.kv.get('settings/value').string()}`);
await lockB.release();

if (!first.succeeded || stale.succeeded) {
  say('fencing FAILED');
  process.exitCode = 1;
} else say('fencing held: the stale holder could not write');
