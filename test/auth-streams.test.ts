/**
 * Authenticated etcd and the shared streams. etcd checks the token a watch stream was
 * opened with whenever a watch is created on it; simple tokens expire after
 * --auth-token-ttl and an etcd restart forgets them all. etcd then refuses every new watch
 * on that stream (`created, canceled, watch_id -1, "invalid auth token"`): the stream must
 * be reopened with a fresh token, and every watch resume.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectOptions, type Coordinator, connect, type LeaderInfo } from '../src/index.js';
import { failOnUnhandledRejections } from './fixtures/lock-util.js';
import { contextOf, type EtcdMember, enableAuth, startEtcd, waitFor } from './harness/index.js';

failOnUnhandledRejections();

const TOKEN_TTL_S = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let etcd: EtcdMember;

beforeAll(async () => {
  etcd = await startEtcd({ extraArgs: ['--auth-token', 'simple', '--auth-token-ttl', String(TOKEN_TTL_S)] });
  enableAuth(etcd.endpoint, { user: 'alice:alicepw', role: 'app', prefix: 'app/' });
});
afterAll(async () => {
  await etcd?.destroy();
});

function alice(namespace: string, opts: ConnectOptions = {}): Promise<Coordinator> {
  return connect({
    endpoints: [etcd.endpoint],
    namespace,
    ttl: 10,
    auth: { username: 'alice', password: 'alicepw' },
    ...opts,
  });
}

/** Opens the coordinator's shared watch stream (it stays open), so that its token can expire. */
async function openWatchStream(coord: Coordinator): Promise<void> {
  const cache = await coord.registry.discover('warm-up');
  cache.close();
}

/** Collects what an observer reports, until the coordinator closes. */
function collect(coord: Coordinator, election: string): LeaderInfo['value'][] {
  const seen: string[] = [];
  void (async () => {
    for await (const leader of coord.election(election).observe()) seen.push(leader?.value ?? '(none)');
  })().catch(() => undefined);
  return seen;
}

describe('auth tokens on the watch stream', () => {
  it('after an idle period past the token TTL: a waiting acquire, a waiting campaign, observe() and a new cache all work', async () => {
    const ns = `app/idle-${process.pid}/`;
    const a = await alice(ns);
    const b = await alice(ns);
    try {
      await Promise.all([openWatchStream(a), openWatchStream(b)]);
      await sleep(TOKEN_TTL_S * 1000 + 2000); // the precondition: both streams' tokens expire

      await b.session(); // its keepalive stream is open
      const keepAliveStreams = b.diagnostics().keepAlive.streamsOpened;
      const watchStreams = b.diagnostics().watch.streamsOpened;
      // A waiting acquire: its predecessor watch is created on B's stream, after its token expired.
      const held = await a.mutex('job').acquire();
      const waiting = b.mutex('job').acquire({ timeoutMs: 15_000 });
      await waitFor(async () => (await a.kv.getAll().prefix('job/').keys()).length === 2, 'B queued');
      await held.release();
      const lock = await waiting;
      expect(lock.token).toBeGreaterThan(held.token);
      // The refused watch stream was reopened with a fresh token; the connection was healthy,
      // so the keepalive stream on it (and any call in flight) was left alone.
      expect(b.diagnostics().watch.streamsOpened).toBeGreaterThan(watchStreams);
      expect(b.diagnostics().keepAlive.streamsOpened).toBe(keepAliveStreams);
      await lock.release();

      // observe() and a waiting campaign.
      const seen = collect(b, 'leader');
      const leaderA = await a.election('leader').campaign('a');
      await waitFor(() => seen.includes('a'), 'the observer reports a');
      const campaignB = b.election('leader').campaign('b', { timeoutMs: 15_000 });
      await waitFor(async () => (await a.kv.getAll().prefix('leader/').keys()).length === 2, 'B campaigns');
      await leaderA.resign();
      const leaderB = await campaignB;
      expect(leaderB.value).toBe('b');
      await waitFor(() => seen.at(-1) === 'b', 'the observer reports b');

      // A cache opened after the token expired sees instances come and go.
      const cache = await b.registry.discover('api');
      const reg = await a.registry.register({ service: 'api', id: 'i1', address: '127.0.0.1', port: 1 });
      await waitFor(() => cache.instances().some((i) => i.id === 'i1'), 'the cache lists i1');
      await reg.deregister();
      await waitFor(() => cache.instances().length === 0, 'the cache drops i1');
      expect(cache.stale).toBe(false);
      cache.close();
      await leaderB.resign();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 40_000);

  it('an etcd restart: an existing observe(), an existing cache and a pending acquire converge within 10 s of etcd being back', async () => {
    const ns = `app/restart-${process.pid}/`;
    const a = await alice(ns);
    const b = await alice(ns);
    try {
      const held = await a.mutex('job').acquire();
      const waiting = b.mutex('job').acquire({ timeoutMs: 40_000 });
      await waitFor(async () => (await a.kv.getAll().prefix('job/').keys()).length === 2, 'B queued');
      const seen = collect(b, 'leader');
      const leader = await a.election('leader').campaign('before');
      await waitFor(() => seen.includes('before'), 'the observer reports the leader');
      const cache = await b.registry.discover('api');

      // The stream breaks; B only waits, so its token (TTL 3 s) lapses around the restart and
      // the reconnected stream's creates are refused until it has a fresh one.
      await etcd.restart();
      const back = Date.now();

      await held.release();
      await leader.proclaim('after');
      const reg = await a.registry.register({ service: 'api', id: 'i2', address: '127.0.0.1', port: 2 });
      const lock = await waiting;
      await waitFor(() => seen.at(-1) === 'after', 'the observer reports the new value', 10_000);
      await waitFor(() => cache.instances().some((i) => i.id === 'i2') && !cache.stale, 'the cache lists i2', 10_000);
      expect(Date.now() - back).toBeLessThan(10_000);
      expect(lock.token).toBeGreaterThan(held.token);
      await Promise.all([lock.release(), leader.resign(), reg.deregister()]);
      cache.close();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 60_000);

  it('a refused create (watch_id -1) reaches the watcher that asked, and the watches around it work', async () => {
    const a = await alice('app/refused/');
    try {
      const hub = contextOf(a).watch;
      const rev = BigInt((await a.client.get('app/refused/x').exec()).header.revision) + 1n;
      const got: string[] = [];
      const refusals: string[] = [];
      const handlers = (name: string) => ({
        onEvents: () => got.push(name),
        onCanceled: (reason: string) => refusals.push(`${name}: ${reason}`),
      });
      // Sent back to back on one stream: etcd answers them in order, the middle one with watch_id -1.
      const before = hub.watch({ key: 'app/refused/x', startRevision: rev }, handlers('before'));
      const outside = hub.watch({ key: 'elsewhere/x', startRevision: rev }, handlers('outside'));
      const after = hub.watch({ key: 'app/refused/y', startRevision: rev }, handlers('after'));
      await waitFor(() => refusals.length === 1, 'the refusal reaches the watcher that asked');
      expect(refusals[0]).toMatch(/^outside: .*permission denied/);
      await a.client.put('app/refused/x').value('1');
      await a.client.put('app/refused/y').value('1');
      await waitFor(() => got.includes('before') && got.includes('after'), 'both other watches deliver');
      for (const h of [before, outside, after]) h.cancel();
    } finally {
      await a.close();
    }
  });
});
