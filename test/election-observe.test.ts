import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type Coordinator, connect, type Election, type LeaderInfo } from '../src/index.js';
import { failOnUnhandledRejections, keysUnder } from './fixtures/lock-util.js';
import { type EtcdMember, FaultProxy, startEtcd, uniqueNamespace, waitFor } from './harness/index.js';

failOnUnhandledRejections();

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => undefined);
});

async function node(): Promise<EtcdMember> {
  const n = await startEtcd();
  cleanup.push(() => n.destroy());
  return n;
}

async function open(endpoint: string, namespace: string, logs?: string[]): Promise<Coordinator> {
  const logger = logs ? pino({ level: 'info' }, { write: (line: string) => void logs.push(line) }) : undefined;
  const c = await connect({ endpoints: [endpoint], namespace, ttl: 10, logger });
  cleanup.push(() => c.close());
  return c;
}

function observe(e: Election) {
  const stop = new AbortController();
  cleanup.push(async () => stop.abort());
  const seen: Array<LeaderInfo | undefined> = [];
  const ended = (async () => {
    try {
      for await (const l of e.observe({ signal: stop.signal })) seen.push(l);
      return 'ended without abort';
    } catch (err) {
      return err;
    }
  })();
  return { seen, ended, stop };
}

describe('Election.observe() across faults', () => {
  it('keeps going when the revision it would resume from was compacted while it was disconnected', async () => {
    const etcd = await node();
    const proxy = await FaultProxy.start(etcd.config.clientPort);
    cleanup.push(() => proxy.close());
    const ns = uniqueNamespace('elo');
    const logs: string[] = [];
    const watcher = await open(proxy.endpoint, ns, logs);
    const actor = await open(etcd.endpoint, ns);
    const [s1, s2] = await Promise.all([actor.newSession(), actor.newSession()]);
    const e1 = actor.election('jobs', { session: s1 });
    const e2 = actor.election('jobs', { session: s2 });
    const { seen, ended, stop } = observe(watcher.election('jobs'));
    await waitFor(() => seen.length === 1, 'initial state');
    const l1 = await e1.campaign('a');
    await waitFor(() => seen.length === 2, 'first leader');

    // Cut the observer off, change the leader and its value, compact past everything it saw.
    proxy.blackhole();
    proxy.cut();
    const p2 = e2.campaign('b');
    await waitFor(async () => (await keysUnder(actor, 'jobs/')).length === 2, 'candidate 2 queued');
    await l1.resign();
    const l2 = await p2;
    await l2.proclaim('b2');
    const { header } = await actor.client.kv.range({ key: Buffer.from(ns) });
    await actor.client.kv.compact({ revision: header.revision, physical: true });
    proxy.pass();
    proxy.cut();

    await waitFor(() => seen.length === 3, 'the state after the compaction', 20_000);
    expect(seen[2]).toEqual({ key: l2.key, token: l2.token, value: 'b2' });
    expect(logs.some((l) => l.includes('observe: compacted, reading again'))).toBe(true);
    // And it carries on watching.
    await l2.resign();
    await waitFor(() => seen.length === 4, 'no leader');
    expect(seen[3]).toBeUndefined();
    expect(seen).toHaveLength(4);
    const reason = new Error('stop');
    stop.abort(reason);
    expect(await ended).toBe(reason);
  }, 45_000);

  it('keeps going across an etcd restart', async () => {
    const etcd = await node();
    const ns = uniqueNamespace('elr');
    const watcher = await open(etcd.endpoint, ns);
    const actor = await open(etcd.endpoint, ns);
    const [s1, s2] = await Promise.all([actor.newSession(), actor.newSession()]);
    const e1 = actor.election('jobs', { session: s1 });
    const e2 = actor.election('jobs', { session: s2 });
    const { seen, ended, stop } = observe(watcher.election('jobs'));
    await waitFor(() => seen.length === 1, 'initial state');
    const l1 = await e1.campaign('a');
    await waitFor(() => seen.length === 2, 'first leader');

    await etcd.restart();
    await waitFor(() => l1.resign().then(() => true), 'resign after the restart', 20_000);
    await waitFor(() => seen.length === 3, 'no leader after the restart', 20_000);
    expect(seen[2]).toBeUndefined();
    const l2 = await e2.campaign('b');
    await waitFor(() => seen.length === 4, 'the new leader');
    expect(seen[3]).toEqual({ key: l2.key, token: l2.token, value: 'b' });
    stop.abort();
    expect(await ended).toBeInstanceOf(DOMException);
    await l2.resign();
  }, 45_000);
});
