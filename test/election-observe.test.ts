import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { type Coordinator, connect } from '../src/index.js';
import { collect, electionSuite } from './fixtures/election-util.js';
import { keysUnder } from './fixtures/lock-util.js';
import { type EtcdMember, FaultProxy, startEtcd, uniqueNamespace, waitFor } from './harness/index.js';

const { cleanup } = electionSuite('elo');

async function node(): Promise<EtcdMember> {
  const n = await startEtcd();
  cleanup(() => n.destroy());
  return n;
}

async function open(endpoint: string, namespace: string, logs?: string[]): Promise<Coordinator> {
  const logger = logs ? pino({ level: 'info' }, { write: (line: string) => void logs.push(line) }) : undefined;
  const c = await connect({ endpoints: [endpoint], namespace, ttl: 10, logger });
  cleanup(() => c.close());
  return c;
}

/**
 * An observer connected to `watchVia`, two candidates connected to `etcd` directly, and
 * the first of them leading (seen by the observer).
 */
async function scene(etcd: EtcdMember, watchVia: string, logs?: string[]) {
  const ns = uniqueNamespace('elo');
  const watcher = await open(watchVia, ns, logs);
  const actor = await open(etcd.endpoint, ns);
  const [s1, s2] = await Promise.all([actor.newSession(), actor.newSession()]);
  const e2 = actor.election('jobs', { session: s2 });
  const stop = new AbortController();
  cleanup(() => stop.abort());
  const { seen, ended } = collect(watcher.election('jobs'), stop.signal);
  await waitFor(() => seen.length === 1, 'initial state');
  const l1 = await actor.election('jobs', { session: s1 }).campaign('a');
  await waitFor(() => seen.length === 2, 'first leader');
  return { ns, actor, e2, l1, seen, ended, stop };
}

describe('Election.observe() across faults', () => {
  it('keeps going when the revision it would resume from was compacted while it was disconnected', async () => {
    const etcd = await node();
    const proxy = await FaultProxy.start(etcd.config.clientPort);
    cleanup(() => proxy.close());
    const logs: string[] = [];
    const { ns, actor, e2, l1, seen, ended, stop } = await scene(etcd, proxy.endpoint, logs);

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
    const { e2, l1, seen, ended, stop } = await scene(etcd, etcd.endpoint);

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
