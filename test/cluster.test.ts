/**
 * A session on a 3-node cluster keeps its lease when a member dies: the member that
 * carries its keepalive stream, and the raft leader.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Coordinator, connect, type Session, type SessionStatus } from '../src/index.js';
import { type EtcdCluster, type EtcdMember, startCluster, uniqueNamespace, waitFor } from './harness/index.js';

const TTL = 5;
let cluster: EtcdCluster;
let coord: Coordinator | undefined;

beforeAll(async () => {
  cluster = await startCluster(3);
});
afterAll(async () => {
  await cluster?.destroy();
});
afterEach(async () => {
  await coord?.close();
  coord = undefined;
  await Promise.all(cluster.members.map((m) => m.start()));
});

const keepalivesOf = (m: EtcdMember) => m.metric('grpc_server_msg_received_total', 'grpc_method="LeaseKeepAlive"');

/** The running member whose LeaseKeepAlive stream is receiving this client's keepalives now. */
async function keepaliveMember(): Promise<EtcdMember> {
  const running = cluster.members.filter((m) => m.running);
  const base = await Promise.all(running.map(keepalivesOf));
  return waitFor(
    async () => {
      const now = await Promise.all(running.map(keepalivesOf));
      const i = now.findIndex((v, j) => v - base[j] >= 2);
      return i >= 0 ? running[i] : undefined;
    },
    'keepalives to arrive at a member',
    (TTL + 3) * 1000,
    200,
  );
}

async function sessionWithKey(): Promise<{ session: Session; seen: SessionStatus[] }> {
  coord = await connect({ endpoints: cluster.endpoints, namespace: uniqueNamespace('cl'), ttl: TTL });
  const session = await coord.newSession();
  await coord.kv.put('attached').value('still here').lease(session.leaseIdDecimal).exec();
  const seen: SessionStatus[] = [];
  void (async () => {
    for await (const s of session.status()) seen.push(s);
  })();
  return { session, seen };
}

/** After `victim` died: the lease outlives a full TTL from the kill, the session is never lost. */
async function expectLeaseKept(c: Coordinator, session: Session, seen: SessionStatus[], killedAt: number) {
  const moved = await keepaliveMember();
  expect(moved.running).toBe(true);
  const wait = killedAt + TTL * 1000 + 1000 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait)); // a full TTL after the kill
  expect(seen.map((s) => s.type)).not.toContain('lost');
  expect(session.state).toBe('held');
  expect(await c.kv.get('attached').string()).toBe('still here');
  const left = await c.client.leaseClient.leaseTimeToLive({ ID: session.leaseIdDecimal });
  expect(Number(left.TTL)).toBeGreaterThan(0);
}

describe('session on a 3-node cluster', () => {
  it('keeps its lease when the member carrying its keepalive stream is killed', async () => {
    const { session, seen } = await sessionWithKey();
    const victim = await keepaliveMember();
    const wasLeader = (await cluster.leader()) === victim;
    await victim.kill();
    const killedAt = Date.now();
    console.log(`[cluster] killed ${victim.name}, the keepalive member (${wasLeader ? 'leader' : 'follower'})`);
    await expectLeaseKept(coord!, session, seen, killedAt);
  }, 40_000);

  it('keeps its lease when the raft leader is killed', async () => {
    const { session, seen } = await sessionWithKey();
    const leader = await cluster.leader();
    const carrier = await keepaliveMember();
    await leader.kill();
    const killedAt = Date.now();
    const next = await cluster.leader();
    expect(next).not.toBe(leader);
    console.log(
      `[cluster] killed the leader ${leader.name} (keepalives via ${carrier.name}); ${next.name} leads after ${Date.now() - killedAt} ms`,
    );
    await expectLeaseKept(coord!, session, seen, killedAt);
  }, 40_000);
});
