/**
 * Packet loss plus jitter (issue 10), on real etcd with real worker processes.
 *
 * The network: etcd runs in a network namespace of our own whose `lo` drops 30% of the
 * packets going to etcd's client port, and a FaultProxy delays every chunk going to etcd
 * by 50-200 ms (see test/harness/netns.ts). That is what `tc qdisc add dev eth0 root
 * netem delay 125ms 75ms loss 30%` on the clients' host does: netem works on what an
 * interface sends, so requests and the clients' ACKs are lost and delayed, answers are
 * not. (Why this direction: a lost *answer* to a keepalive that etcd did get makes any
 * client give its session up while etcd still holds the lease; with the answers intact,
 * a session given up while etcd still holds its lease is the library's fault, which is
 * what this test is to catch. The other directions are in the kit too: run with
 * NETLOSS_DIRECTION=from (etcd's host impaired) or =both to see them; see the report in
 * issue 10 for what they do.)
 *
 * - 3 worker processes × 10 guarded increments of one counter end at exactly 30;
 * - no session is falsely lost: a session reported lost must be one whose lease etcd was
 *   about to expire too (etcd's TTL, read over a path without faults, was at most the
 *   safety margin plus rounding);
 * - an Election observer and a registry cache made through the lossy path converge on
 *   the final leader and exactly the final instances, not stale.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Coordinator, connect, type Leadership } from '../src/index.js';
import {
  type ChildHandle,
  type ChildMessage,
  destroyAllNetNs,
  killAllChildren,
  type LossDirection,
  LossyEtcd,
  spawnChild,
  uniqueNamespace,
  waitFor,
} from './harness/index.js';

const LOSS = 0.3;
const JITTER_MS: [number, number] = [50, 200];
const TTL = 10;
const WORKERS = 3;
const INCREMENTS = 10;
/** Which packets are lost and delayed: 'to' etcd (default), 'from' it, or 'both'. */
const DIRECTION = (process.env.NETLOSS_DIRECTION ?? 'to') as LossDirection;

let etcd: LossyEtcd;
const open: Coordinator[] = [];

beforeAll(async () => {
  if (!['to', 'from', 'both'].includes(DIRECTION)) throw new Error(`NETLOSS_DIRECTION: ${DIRECTION}?`);
  etcd = await LossyEtcd.start({ loss: LOSS, direction: DIRECTION });
  const jitterDirection = DIRECTION === 'to' ? 'upstream' : DIRECTION === 'from' ? 'downstream' : 'both';
  etcd.proxy.jitter(JITTER_MS[0], JITTER_MS[1], jitterDirection);
}, 30_000);

afterAll(async () => {
  await killAllChildren();
  await Promise.allSettled(open.splice(0).map((c) => c.close()));
  await destroyAllNetNs();
});

/** A session-level event of a worker or of the test's own lossy coordinator. */
interface SeenEvent {
  who: string;
  event: string;
  lease?: string;
  at: number;
}

/** Samples etcd's remaining TTL of every lease (over the clean path) until stopped. */
function sampleLeaseTtls(clean: Coordinator): {
  samples: Map<string, { at: number; ttl: number }[]>;
  stop: () => Promise<void>;
} {
  const samples = new Map<string, { at: number; ttl: number }[]>();
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const { leases } = await clean.client.leaseClient.leaseLeases();
        await Promise.all(
          leases.map(async ({ ID }) => {
            const at = Date.now();
            const r = await clean.client.leaseClient.leaseTimeToLive({ ID });
            const hex = BigInt(ID).toString(16);
            if (!samples.has(hex)) samples.set(hex, []);
            samples.get(hex)?.push({ at, ttl: Number(r.TTL) });
          }),
        );
      } catch {
        /* the clean path has no faults; a failed sample is only a missing sample */
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    samples,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** etcd's remaining TTL (s) of `lease` at `at`, from the last sample taken before it. */
function ttlAt(samples: Map<string, { at: number; ttl: number }[]>, lease: string, at: number): number | undefined {
  const before = (samples.get(lease) ?? []).filter((s) => s.at <= at && s.ttl > 0).at(-1);
  return before && before.ttl - (at - before.at) / 1000;
}

describe('the loss mode', () => {
  it('drops about the chosen fraction of packets', () => {
    const loss = etcd.netns.probeLoss(LossyEtcd.PROBE_PORT, 2000);
    console.log(`[loss] UDP probe: ${(loss * 100).toFixed(1)}% of 2000 datagrams lost (set: ${LOSS * 100}%)`);
    // 2000 samples: one standard deviation is 1 point; this band is 5 of them.
    expect(loss).toBeGreaterThan(LOSS - 0.05);
    expect(loss).toBeLessThan(LOSS + 0.05);
  });
});

describe(`${LOSS * 100}% packet loss plus ${JITTER_MS.join('-')} ms jitter, ttl ${TTL}`, () => {
  it(`${WORKERS} workers × ${INCREMENTS} guarded increments end at exactly ${WORKERS * INCREMENTS}; no session is falsely lost; an observer and a cache converge`, async () => {
    const started = performance.now();
    const namespace = uniqueNamespace('loss');
    const before = etcd.lossStats();
    const events: SeenEvent[] = [];
    const retries: { worker: number; op: string; error: string }[] = [];
    const increments: { worker: number; value: number; token: string; recovered?: boolean }[] = [];

    // The workers first: they take a while to start and connect through the loss.
    const workers: ChildHandle[] = [];
    for (let w = 0; w < WORKERS; w++) {
      const child = spawnChild('test/fixtures/loss-worker.ts', {
        ETCD_ENDPOINTS: etcd.endpoint,
        NAMESPACE: namespace,
        TTL: String(TTL),
        WORKER: String(w),
        COUNT: String(INCREMENTS),
        LOCK_NAME: 'counter-lock',
      });
      child.proc.on('message', (m: ChildMessage) => {
        if (m.type === 'event') {
          events.push({ who: `worker ${w}`, event: String(m.event), lease: m.lease as string, at: Number(m.at) });
        } else if (m.type === 'retry') {
          retries.push({ worker: w, op: String(m.op), error: String(m.error) });
        } else if (m.type === 'inc') {
          const recovered = m.recovered === true;
          increments.push({ worker: w, value: Number(m.value), token: String(m.token), recovered });
        }
      });
      workers.push(child);
    }

    // The clean path (no loss, no delay) makes the changes the lossy readers must see,
    // and reads etcd's view of every lease.
    const clean = await connect({ endpoints: [etcd.cleanEndpoint], namespace, ttl: TTL });
    open.push(clean);
    const ttls = sampleLeaseTtls(clean);
    const lossy = await connect({
      endpoints: [etcd.endpoint],
      namespace,
      ttl: TTL,
      dialTimeoutMs: 30_000,
      logger: pino(
        { level: 'warn' },
        {
          write(line: string) {
            const o = JSON.parse(line) as { event?: string; lease?: string; time?: number };
            if (o.event) events.push({ who: 'observer', event: o.event, lease: o.lease, at: o.time ?? Date.now() });
          },
        },
      ),
    });
    open.push(lossy);

    const observed: (string | undefined)[] = [];
    const observer = new AbortController();
    const observing = (async () => {
      for await (const l of lossy.election('leader').observe({ signal: observer.signal })) observed.push(l?.value);
    })().catch((err) => {
      if (!observer.signal.aborted) throw err;
    });
    const cache = await lossy.registry.discover('svc');

    await Promise.all(workers.map((c) => c.next('ready', undefined, 60_000)));
    for (const c of workers) c.send({ type: 'go' });

    // While the workers run: leader changes and registry changes over the clean path, and
    // one registration over the lossy path.
    const a = await clean.newSession({ ttl: TTL });
    const b = await clean.newSession({ ttl: TTL });
    const leaderA = await clean.election('leader', { session: a }).campaign('a');
    const bCampaign = clean.election('leader', { session: b }).campaign('b');
    const x = await clean.registry.register({ service: 'svc', id: 'x', address: '127.0.0.1', port: 1 });
    const y = await clean.registry.register({ service: 'svc', id: 'y', address: '127.0.0.1', port: 2 });
    const z = await lossy.registry.register({ service: 'svc', id: 'z', address: '127.0.0.1', port: 3 });
    await waitFor(() => observed.includes('a'), 'the observer to see leader a', 30_000, 50);
    await leaderA.resign();
    const leaderB: Leadership = await bCampaign;
    await leaderB.proclaim('b2');
    await x.deregister();
    await y.update({ metadata: { v: '2' } });

    const done = await Promise.all(workers.map((c) => c.next('done', undefined, 100_000)));
    const exits = await Promise.all(workers.map((c) => c.exited));

    await waitFor(() => observed.at(-1) === 'b2', 'the observer to report leader b2', 30_000, 50);
    const ids = () =>
      cache
        .instances()
        .map((i) => i.id)
        .join();
    await waitFor(
      () => !cache.stale && ids() === 'y,z' && cache.instances()[0].metadata.v === '2',
      'the cache to list exactly y (updated) and z, not stale',
      30_000,
      50,
    );
    await ttls.stop();
    const elapsed = (performance.now() - started) / 1000;
    const stats = etcd.lossStats();
    const dropped = stats.dropped - before.dropped;
    const passed = stats.passed - before.passed;

    const atRisk = events.filter((e) => e.event === 'session.at-risk');
    const lost = events
      .filter((e) => e.event === 'session.lost')
      .map((e) => ({ ...e, etcdTtlS: e.lease ? ttlAt(ttls.samples, e.lease, e.at) : undefined }));
    const byOp = [...new Set(retries.map((r) => r.op))].map(
      (op) => `${op} ${retries.filter((r) => r.op === op).length}`,
    );
    console.log(
      `[loss] direction ${DIRECTION}: ${WORKERS}×${INCREMENTS} increments and the observer/cache checks in ${elapsed.toFixed(1)} s; ` +
        `packets on the lossy port: ${dropped} dropped, ${passed} kept (${((100 * dropped) / (dropped + passed)).toFixed(1)}%); ` +
        `proxy: ${etcd.proxy.stats.connections} connections, ${etcd.proxy.stats.delayed} chunks delayed; ` +
        `worker retries: ${retries.length}${byOp.length ? ` (${byOp.join(', ')})` : ''}; ` +
        `unknown write outcomes resolved by the marker: ${increments.filter((i) => i.recovered).length}; ` +
        `at-risk: ${atRisk.length}; lost: ${lost.length}; observer updates: ${observed.length}`,
    );
    for (const r of retries.slice(0, 10)) console.log(`[loss] retry: worker ${r.worker} ${r.op}: ${r.error}`);
    for (const e of [...atRisk, ...lost]) console.log(`[loss] ${e.who}: ${e.event} ${e.lease ?? ''}`);
    for (const e of lost) console.log(`[loss] ${e.who}: lease ${e.lease} lost; etcd's TTL then: ${e.etcdTtlS} s`);

    // The loss was real: the filter dropped about the fraction set, of plenty of packets.
    expect(dropped).toBeGreaterThan(100);
    expect(dropped / (dropped + passed)).toBeGreaterThan(LOSS - 0.1);
    expect(dropped / (dropped + passed)).toBeLessThan(LOSS + 0.1);
    expect(etcd.proxy.stats.delayed).toBeGreaterThan(100);

    // Exactly 30, each increment once: distinct values 1..30, fencing tokens never going back.
    expect(exits.map((e) => e.code)).toEqual(Array(WORKERS).fill(0));
    expect(done).toHaveLength(WORKERS);
    expect(Number(await clean.kv.get('counter').string())).toBe(WORKERS * INCREMENTS);
    expect(await clean.kv.getAll().prefix('marks/').count()).toBe(WORKERS * INCREMENTS);
    const byValue = [...increments].sort((p, q) => p.value - q.value);
    expect(byValue.map((i) => i.value)).toEqual(Array.from({ length: WORKERS * INCREMENTS }, (_, i) => i + 1));
    for (let i = 1; i < byValue.length; i++) {
      expect(BigInt(byValue[i].token)).toBeGreaterThanOrEqual(BigInt(byValue[i - 1].token));
    }

    // No session falsely lost: a loss is only allowed where etcd's own TTL had run down to
    // the local safety margin (1 s at ttl 10) plus etcd's whole-second rounding and the
    // sampling interval; a lease etcd still held for longer was given up too early.
    expect(lost.filter((e) => e.etcdTtlS === undefined || e.etcdTtlS > 2.5)).toEqual([]);

    // The observer saw the leaders in order and ended on the last one; the cache is exact.
    const changes = observed.filter((v, i) => i === 0 || v !== observed[i - 1]);
    expect(changes.filter((v) => v !== undefined)).toEqual(['a', 'b', 'b2']);
    expect(cache.stale).toBe(false);
    expect(ids()).toBe('y,z');

    observer.abort();
    await observing;
    cache.close();
    await Promise.allSettled([leaderB.resign(), y.deregister(), z.deregister(), a.close(), b.close()]);
  }, 150_000);
});
