import { get } from 'node:http';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type ConnectOptions, type Coordinator, connect, type RegistrationStatus } from '../src/index.js';
import { failOnUnhandledRejections } from './fixtures/lock-util.js';
import { idsOf, recordChanges } from './fixtures/registry-helpers.js';
import {
  type EtcdMember,
  FaultProxy,
  killAllChildren,
  sharedEndpoints,
  spawnChild,
  startCluster,
  startEtcd,
  stopAll,
  uniqueNamespace,
  waitFor,
} from './harness/index.js';

failOnUnhandledRejections();

const open: Coordinator[] = [];
async function coordinator(opts: ConnectOptions): Promise<Coordinator> {
  const c = await connect({ ttl: 5, ...opts });
  open.push(c);
  return c;
}
afterEach(async () => {
  await killAllChildren();
  await Promise.all(open.splice(0).map((c) => c.close()));
});
afterAll(() => stopAll());

/** The number of watch streams a member serves (etcd's own gauge). */
function watchStreams(member: EtcdMember): Promise<number> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port: member.config.clientPort, path: '/metrics', timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve(Number(/^etcd_debugging_mvcc_watch_stream_total (\d+)/m.exec(body)?.[1] ?? 0)));
    }).on('error', reject);
  });
}

/** A pino logger whose lines are kept in `lines`. */
function capturingLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: pino({ level: 'info' }, { write: (l: string) => lines.push(l) }), lines };
}

describe('registry under faults', () => {
  it('a SIGKILLed child with 20 instances disappears from the cache within TTL + 3 s', async () => {
    const ttl = 3;
    const parent = await coordinator({ endpoints: sharedEndpoints(), namespace: uniqueNamespace() });
    const cache = await parent.registry.discover('fleet');
    const child = spawnChild('test/fixtures/registry-child.ts', {
      ETCD_ENDPOINTS: sharedEndpoints().join(','),
      NAMESPACE: parent.namespace,
      TTL: String(ttl),
      SERVICE: 'fleet',
      COUNT: '20',
    });
    const { ids } = (await child.next('registered')) as unknown as { ids: string[] };
    expect(ids.length).toBe(20);
    await waitFor(() => cache.instances().length === 20, '20 instances in the cache');
    expect(cache.instances().map((i) => i.id)).toEqual([...ids].sort());

    const killedAt = performance.now();
    await child.kill('SIGKILL');
    await waitFor(() => cache.instances().length === 0, 'the cache to empty', (ttl + 3) * 1000);
    const goneAfterMs = performance.now() - killedAt;
    console.log(
      `20 instances of a SIGKILLed child gone from the cache after ${goneAfterMs.toFixed(0)} ms (TTL ${ttl} s)`,
    );
    expect(goneAfterMs).toBeLessThan((ttl + 3) * 1000);
    expect(await parent.registry.list('fleet')).toEqual([]);
    cache.close();
  }, 30_000);

  it('a process paused (SIGSTOP) past its TTL registers again by itself when it resumes', async () => {
    const ttl = 2;
    const parent = await coordinator({ endpoints: sharedEndpoints(), namespace: uniqueNamespace() });
    const cache = await parent.registry.discover('paused');
    const child = spawnChild('test/fixtures/registry-child.ts', {
      ETCD_ENDPOINTS: sharedEndpoints().join(','),
      NAMESPACE: parent.namespace,
      TTL: String(ttl),
      SERVICE: 'paused',
      COUNT: '1',
    });
    await child.next('registered');
    await waitFor(() => cache.instances().length === 1, 'the instance in the cache');
    const firstLease = cache.instances()[0].leaseId;
    child.pause();
    await waitFor(() => cache.instances().length === 0, 'the lease to expire while paused', (ttl + 3) * 1000);
    child.resume();
    await waitFor(() => cache.instances().length === 1, 'the instance to come back', 15_000);
    expect(cache.instances()[0].leaseId).not.toBe(firstLease);
    cache.close();
  }, 30_000);

  it('etcd stopped past the TTL: the cache is stale but serves; afterwards the registration is back on a fresh lease', async () => {
    const ttl = 2;
    const node = await startEtcd();
    const namespace = uniqueNamespace();
    const owner = await coordinator({ endpoints: [node.endpoint], namespace, ttl });
    const watcher = await coordinator({ endpoints: [node.endpoint], namespace });
    const reg = await owner.registry.register({ service: 'db', id: 'primary', address: '127.0.0.1', port: 5432 });
    const firstLease = reg.instance.leaseId;
    const statuses: RegistrationStatus[] = [];
    void (async () => {
      for await (const s of reg.status()) statuses.push(s);
    })();
    const cache = await watcher.registry.discover('db');
    expect(cache.instances().map((i) => i.id)).toEqual(['primary']);

    await node.stop();
    await waitFor(() => cache.stale, 'the cache to turn stale');
    await waitFor(() => reg.state === 'lost', 'the registration to report its lease lost', ttl * 1000 + 3000);
    const lostAt = performance.now();
    // Keep etcd down for a whole TTL after the loss: the old lease would be gone by now.
    await waitFor(() => performance.now() - lostAt > ttl * 1000, 'the outage to outlast the TTL', ttl * 1000 + 1000);
    expect(cache.stale).toBe(true);
    expect(cache.instances().map((i) => i.id)).toEqual(['primary']);
    expect(cache.pick()?.id).toBe('primary');

    await node.start();
    await waitFor(() => reg.state === 'registered', 're-registration', 20_000);
    expect(statuses.map((s) => s.type)).toEqual(['registered', 'lost', 're-registered']);
    expect(reg.instance.leaseId).not.toBe(firstLease);
    const inEtcd = await watcher.client.kv.range({ key: Buffer.from(reg.key) });
    expect(BigInt(inEtcd.kvs[0].lease).toString(16)).toBe(reg.instance.leaseId);
    await waitFor(
      () => !cache.stale && cache.instances()[0]?.leaseId === reg.instance.leaseId,
      'the cache to be live with the new lease',
      15_000,
    );
    // The old lease expiring later must not take the key with it.
    await waitFor(
      async () =>
        Number((await watcher.client.leaseClient.leaseTimeToLive({ ID: BigInt(`0x${firstLease}`).toString() })).TTL) ===
        -1,
      'the old lease to be gone',
      (ttl + 3) * 1000,
    );
    expect((await watcher.registry.list('db')).map((i) => i.leaseId)).toEqual([reg.instance.leaseId]);
    cache.close();
    await node.destroy();
  }, 60_000);

  it('keeps working across a compaction of the revision it was to resume from', async () => {
    const node = await startEtcd();
    const proxy = await FaultProxy.start(node.config.clientPort);
    const namespace = uniqueNamespace();
    const writer = await coordinator({ endpoints: [node.endpoint], namespace });
    const { logger, lines } = capturingLogger();
    const reader = await coordinator({ endpoints: [proxy.endpoint], namespace, logger });
    const x = await writer.registry.register({ service: 'q', id: 'x', address: 'h', port: 1 });
    const cache = await reader.registry.discover('q');
    const rec = recordChanges(cache);

    proxy.blackhole();
    proxy.cut();
    await waitFor(() => cache.stale, 'the cache to turn stale');
    await writer.registry.register({ service: 'q', id: 'y', address: 'h', port: 2 });
    await x.deregister();
    const now = await writer.client.kv.range({ key: Buffer.from('anything') });
    await writer.client.kv.compact({ revision: now.header.revision, physical: true });
    expect(cache.instances().map((i) => i.id)).toEqual(['x']); // served while stale

    proxy.pass();
    proxy.cut(); // drop the connections held while black-holed, so the client reconnects now
    await waitFor(() => !cache.stale && idsOf(cache) === 'y', 'the cache to catch up', 20_000);
    expect(lines.some((l) => l.includes('re-reading after the watch ended') && l.includes('compacted'))).toBe(true);
    expect(rec.changes.map((c) => `${c.type} ${c.instance.id}`).sort()).toEqual(['down x', 'up y']);
    expect(cache.revision).toBeGreaterThanOrEqual(BigInt(now.header.revision));

    await writer.registry.register({ service: 'q', id: 'z', address: 'h', port: 3 });
    await waitFor(() => cache.instances().length === 2, 'the watch to carry on after the re-read');
    expect(rec.changes.at(-1)).toMatchObject({ type: 'up', instance: { id: 'z' } });
    cache.close();
    await proxy.close();
    await node.destroy();
  }, 60_000);

  it('keeps working when the member serving its watch is killed in a 3-node cluster', async () => {
    const cluster = await startCluster(3);
    const namespace = uniqueNamespace();
    const reader = await coordinator({ endpoints: cluster.endpoints, namespace });
    const cache = await reader.registry.discover('api');
    const rec = recordChanges(cache);
    const served = await waitFor(async () => {
      const counts = await Promise.all(cluster.members.map(watchStreams));
      return counts.filter((c) => c > 0).length === 1 ? cluster.members[counts.findIndex((c) => c > 0)] : undefined;
    }, 'the member serving the watch stream');
    const writer = await coordinator({ endpoints: cluster.endpoints, namespace, ttl: 5 });
    const a = await writer.registry.register({ service: 'api', id: 'a', address: 'h', port: 1 });
    await waitFor(() => cache.instances().length === 1, 'instance a in the cache');

    await served.kill();
    await writer.registry.register({ service: 'api', id: 'b', address: 'h', port: 2 });
    await a.deregister();
    await waitFor(() => idsOf(cache) === 'b', 'the cache to follow after the kill', 30_000);
    await waitFor(() => !cache.stale, 'the cache to be live');
    expect(rec.changes.map((c) => `${c.type} ${c.instance.id}`)).toEqual(['up a', 'up b', 'down a']);
    cache.close();
    await cluster.destroy();
  }, 60_000);
});
