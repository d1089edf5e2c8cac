import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  type Coordinator,
  type Election,
  InvalidArgumentError,
  isInvalidArgumentError,
  isLockTimeoutError,
  isNotLeaderError,
} from '../src/index.js';
import { collect, electionSuite } from './fixtures/election-util.js';
import { keysUnder } from './fixtures/lock-util.js';
import { findEtcdctl, sharedEndpoints, uniqueNamespace, waitFor } from './harness/index.js';

const { open, cleanup } = electionSuite('el');

/** Candidates of `name`, each on its own session. */
async function elections(coord: Coordinator, name: string, count: number): Promise<Election[]> {
  const sessions = await Promise.all(Array.from({ length: count }, () => coord.newSession({ ttl: 5 })));
  return sessions.map((session) => coord.election(name, { session }));
}

describe('Election', () => {
  it('bad input throws InvalidArgumentError and writes nothing', async () => {
    const coord = await open();
    for (const bad of ['', '/jobs', 'jobs/', 'a//b', 'sp ace', 42, undefined]) {
      expect(() => coord.election(bad as string)).toThrow(InvalidArgumentError);
    }
    expect(() => coord.election('jobs', { session: {} as never })).toThrow(InvalidArgumentError);
    const e = coord.election('jobs');
    for (const bad of [42, undefined, null, { v: 1 }]) {
      await expect(e.campaign(bad as unknown as string)).rejects.toSatisfy(isInvalidArgumentError);
    }
    await expect(e.campaign('v', { timeoutMs: -1 })).rejects.toSatisfy(isInvalidArgumentError);
    expect(() => e.run('task' as never, { value: 'v' })).toThrow(InvalidArgumentError);
    expect(() => e.run(async () => {}, { value: 7 as never })).toThrow(InvalidArgumentError);
    expect(() => e.run(async () => {}, { value: 'v', backoff: { initialDelayMs: 0 } })).toThrow(InvalidArgumentError);
    expect(await keysUnder(coord, '')).toEqual([]);

    const l = await e.campaign('v1');
    await expect(l.proclaim(5 as never)).rejects.toSatisfy(isInvalidArgumentError);
    expect((await e.leader())?.value).toBe('v1');
    await l.resign();
    expect(await keysUnder(coord, '')).toEqual([]);
  });

  it('campaign, leader(), FIFO handover on resign, fencing by txn(), proclaim, idempotent resign', async () => {
    const coord = await open();
    const [e1, e2, e3] = await elections(coord, 'jobs', 3);
    expect(await e1.leader()).toBeUndefined();
    const l1 = await e1.campaign('one');
    expect(l1.key).toMatch(new RegExp(`^${coord.namespace}jobs/[0-9a-f]+$`));
    expect(await e2.leader()).toEqual({ value: 'one', key: l1.key, token: l1.token });

    let second: unknown;
    const p2 = e2.campaign('two').then((l) => (second = l));
    await waitFor(async () => (await keysUnder(coord, 'jobs/')).length === 2, 'candidate 2 queued');
    const p3 = e3.campaign('three');
    await waitFor(async () => (await keysUnder(coord, 'jobs/')).length === 3, 'candidate 3 queued');
    expect(second).toBeUndefined();
    expect((await e3.leader())?.key).toBe(l1.key);

    await l1.proclaim('one-b');
    expect(l1.value).toBe('one-b');
    expect((await e3.leader())?.value).toBe('one-b');

    await l1.resign();
    expect(l1.signal.aborted).toBe(true);
    expect(isNotLeaderError(l1.signal.reason)).toBe(true);
    await l1.resign(); // idempotent
    const l2 = await p2;
    expect(l2.token).toBeGreaterThan(l1.token);
    expect((await e1.leader())?.value).toBe('two');
    await expect(l1.proclaim('again')).rejects.toSatisfy(isNotLeaderError);
    expect((await l1.txn().then(coord.kv.put('fenced').value('old')).commit()).succeeded).toBe(false);
    expect((await l2.txn().then(coord.kv.put('fenced').value('new')).commit()).succeeded).toBe(true);
    expect(await coord.kv.get('fenced').string()).toBe('new');

    await l2[Symbol.asyncDispose]();
    const l3 = await p3;
    expect(l3.token).toBeGreaterThan(l2.token);
    await l3.resign();
    expect(await keysUnder(coord, 'jobs/')).toEqual([]);
  });

  it('a timed-out or aborted campaign leaves no key; abort rejects with signal.reason', async () => {
    const coord = await open();
    const [e1, e2] = await elections(coord, 'jobs', 2);
    const l1 = await e1.campaign('one');
    const err = await e2.campaign('two', { timeoutMs: 200.5 }).catch((e) => e);
    expect(isLockTimeoutError(err), String(err)).toBe(true);
    expect(await keysUnder(coord, 'jobs/')).toEqual([l1.key.slice(coord.namespace.length)]);

    const ac = new AbortController();
    const p = e2.campaign('two', { signal: ac.signal });
    await waitFor(async () => (await keysUnder(coord, 'jobs/')).length === 2, 'candidate 2 queued');
    const reason = new Error('changed my mind');
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(await keysUnder(coord, 'jobs/')).toHaveLength(1);
    await l1.resign();
  });

  it('a leadership whose key is deleted by someone else aborts its signal with NotLeaderError', async () => {
    const coord = await open();
    const l = await coord.election('jobs').campaign('me');
    await coord.client.delete().key(l.key).exec();
    await waitFor(() => l.signal.aborted, 'leadership signal aborted');
    expect(isNotLeaderError(l.signal.reason)).toBe(true);
    await expect(l.proclaim('still?')).rejects.toSatisfy(isNotLeaderError);
    expect(await keysUnder(coord, 'jobs/')).toEqual([]);
    await l.resign(); // a no-op, and does not throw
  });

  it('two campaigns on one session line up in process, each with a fresh key and a larger token', async () => {
    const coord = await open();
    const e = coord.election('jobs');
    const l1 = await e.campaign('first');
    let second: unknown;
    const p2 = e.campaign('second').then((l) => (second = l));
    expect((await e.leader())?.value).toBe('first');
    expect(second).toBeUndefined();
    await l1.resign();
    const l2 = await p2;
    expect(l2.key).toBe(l1.key); // same session, same key name
    expect(l2.token).toBeGreaterThan(l1.token);
    expect((await e.leader())?.value).toBe('second');
    await l2.resign();
  });

  it('a key of my session left with another value (a failed cleanup) is taken over with the new value', async () => {
    const coord = await open();
    const session = await coord.newSession({ ttl: 5 });
    const key = `jobs/${session.leaseId}`;
    await coord.kv.put(key).value('stale').lease(session.leaseIdDecimal).exec();
    const l = await coord.election('jobs', { session }).campaign('fresh');
    expect(l.key).toBe(`${coord.namespace}${key}`);
    expect(l.value).toBe('fresh');
    expect(await coord.election('jobs').leader()).toEqual({ key: l.key, token: l.token, value: 'fresh' });
    await l.resign();
  });

  it('observe(): current state, then leader, proclaim, same-value handover, resign, no leader, in order', async () => {
    const coord = await open();
    const [e1, e2, e3] = await elections(coord, 'jobs', 3);
    const stop = new AbortController();
    const { seen, ended } = collect(e1, stop.signal);
    await waitFor(() => seen.length === 1, 'initial state');
    expect(seen[0]).toBeUndefined();

    const l1 = await e1.campaign('x');
    await waitFor(() => seen.length === 2, 'first leader');
    await l1.proclaim('y');
    await waitFor(() => seen.length === 3, 'proclaimed value');
    const p2 = e2.campaign('y'); // same value as the leader's: the change must still be reported
    await waitFor(async () => (await keysUnder(coord, 'jobs/')).length === 2, 'candidate 2 queued');
    await l1.resign();
    const l2 = await p2;
    await waitFor(() => seen.length === 4, 'second leader');
    await l2.resign();
    await waitFor(() => seen.length === 5, 'no leader');
    const l3 = await e3.campaign('z');
    await waitFor(() => seen.length === 6, 'third leader');

    expect(seen).toEqual([
      undefined,
      { key: l1.key, token: l1.token, value: 'x' },
      { key: l1.key, token: l1.token, value: 'y' },
      { key: l2.key, token: l2.token, value: 'y' },
      undefined,
      { key: l3.key, token: l3.token, value: 'z' },
    ]);
    const reason = new Error('done observing');
    stop.abort(reason);
    expect(await ended).toBe(reason);
    await l3.resign();
  });

  it('observe() started with no leader reports the real winner when two campaign in quick succession', async () => {
    const coord = await open();
    const [e1, e2] = await elections(coord, 'race', 2);
    const stop = new AbortController();
    const { seen } = collect(e1, stop.signal);
    await waitFor(() => seen.length === 1, 'initial state');
    const winners: string[] = [];
    const campaigns = [e1.campaign('a'), e2.campaign('b')].map((p) =>
      p.then((l) => {
        winners.push(l.value);
        return l;
      }),
    );
    const first = await Promise.race(campaigns);
    await waitFor(() => seen.length >= 2, 'a leader reported');
    expect(seen[1]).toEqual({ key: first.key, token: first.token, value: first.value });
    expect(winners).toEqual([first.value]);
    await first.resign();
    const next = await (first.value === 'a' ? campaigns[1] : campaigns[0]);
    await waitFor(() => seen.length === 3, 'handover reported');
    expect(seen[2]?.key).toBe(next.key);
    await next.resign();
    await waitFor(() => seen.length === 4, 'no leader reported');
    expect(seen[3]).toBeUndefined();
    stop.abort();
  });

  it('interop: etcdctl elect is seen by leader() and observe(), and our campaign waits behind it', async () => {
    const etcdctl = findEtcdctl();
    expect(etcdctl, 'etcdctl on PATH').toBeTruthy();
    const coord = await open(''); // etcdctl has no namespace: the name carries it instead
    const name = `${uniqueNamespace('interop').slice(0, -1)}`;
    const e = coord.election(name);
    const stop = new AbortController();
    const { seen } = collect(e, stop.signal);
    await waitFor(() => seen.length === 1, 'initial state');

    const ctl = spawn(etcdctl as string, ['--endpoints', sharedEndpoints().join(','), 'elect', name, 'from-etcdctl'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanup(() => ctl.kill('SIGKILL'));
    const theirs = await waitFor(() => e.leader(), 'etcdctl to lead');
    expect(theirs.value).toBe('from-etcdctl');
    expect(theirs.key).toMatch(new RegExp(`^${name}/[0-9a-f]+$`));
    await waitFor(() => seen.length === 2, 'observe sees etcdctl');
    expect(seen[1]).toEqual(theirs);

    let ours: unknown;
    const p = e.campaign('from-etcd-coord').then((l) => (ours = l));
    await waitFor(async () => (await keysUnder(coord, `${name}/`)).length === 2, 'our key queued');
    expect((await e.leader())?.key).toBe(theirs.key);
    expect(ours).toBeUndefined();

    ctl.kill('SIGINT'); // etcdctl resigns on SIGINT
    const l = await p;
    expect(l.token).toBeGreaterThan(theirs.token);
    await waitFor(() => seen.length === 3, 'observe sees us');
    expect(seen[2]).toEqual({ key: l.key, token: l.token, value: 'from-etcd-coord' });

    // And etcdctl sees us.
    const listen = spawn(etcdctl as string, ['--endpoints', sharedEndpoints().join(','), 'elect', '-l', name], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanup(() => listen.kill('SIGKILL'));
    let out = '';
    listen.stdout?.on('data', (d) => {
      out += d;
    });
    await waitFor(() => out.includes('from-etcd-coord'), 'etcdctl elect -l to print our value');
    expect(out).toContain(l.key);
    stop.abort();
    await l.resign();
  });
});
