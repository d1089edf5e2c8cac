import { describe, expect, it } from 'vitest';
import type { Coordinator } from '../src/index.js';
import { checkGuardedWrites, electionSuite } from './fixtures/election-util.js';
import { keysUnder } from './fixtures/lock-util.js';
import { type ChildHandle, sharedEndpoints, spawnChild, waitFor } from './harness/index.js';

const { open } = electionSuite('elp');
const TTL = 2;

async function setup(): Promise<{ ns: string; coord: Coordinator }> {
  const coord = await open();
  return { ns: coord.namespace, coord };
}

/** Starts candidate processes and lets them campaign one after the other, so their queue order is known. */
async function candidates(ns: string, coord: Coordinator, count: number): Promise<ChildHandle[]> {
  const env = { ETCD_ENDPOINTS: sharedEndpoints().join(','), EL_NS: ns, EL_NAME: 'el', TTL: String(TTL) };
  const children = Array.from({ length: count }, (_, i) =>
    spawnChild('test/fixtures/election-candidate.ts', { ...env, ID: `c${i}` }),
  );
  await Promise.all(children.map((c) => c.next('ready')));
  for (const [i, c] of children.entries()) {
    c.send({ type: 'campaign', value: `c${i}` });
    await waitFor(async () => (await keysUnder(coord, 'el/')).length === i + 1, `candidate ${i} in the queue`);
  }
  return children;
}

const landed = async (coord: Coordinator, token: unknown) =>
  (await checkGuardedWrites(coord, 'writes/', 'el')).get(BigInt(token as string)) ?? 0;

describe('Election across processes', () => {
  it('3 candidates: one leader at a time (guarded writes), resign hands over, SIGKILL fails over within TTL + 3 s', async () => {
    const { ns, coord } = await setup();
    const [a, b, c] = await candidates(ns, coord, 3);
    const la = await a.next('leader');
    expect((await coord.election('el').leader())?.key).toBe(la.key);
    await waitFor(async () => (await landed(coord, la.token)) >= 5, "a's guarded writes");

    a.send({ type: 'resign' });
    await a.next('resigned');
    expect((await a.next('lost')).reason).toBe('NotLeaderError');
    const lb = await b.next('leader');
    expect(BigInt(lb.token as string)).toBeGreaterThan(BigInt(la.token as string));
    await waitFor(async () => (await landed(coord, lb.token)) >= 5, "b's guarded writes");

    const killedAt = Date.now();
    await b.kill('SIGKILL');
    const lc = await c.next('leader', () => true, (TTL + 3) * 1000);
    const failoverMs = Date.now() - killedAt;
    expect(failoverMs).toBeLessThan((TTL + 3) * 1000);
    await waitFor(async () => (await landed(coord, lc.token)) >= 5, "c's guarded writes");

    // Every landed write was made by the leader of that revision; a, still writing after it resigned, landed none since.
    const counts = await checkGuardedWrites(coord, 'writes/', 'el');
    expect([...counts.keys()].sort()).toEqual([la.token, lb.token, lc.token].map((t) => BigInt(t as string)).sort());
    a.send({ type: 'write' });
    expect(await a.next('write')).toMatchObject({ ok: false, aborted: true });
  }, 40_000);

  it('a leader SIGSTOPped past its TTL is replaced; on SIGCONT its signal aborts and its guarded write fails', async () => {
    const { ns, coord } = await setup();
    const [a, b] = await candidates(ns, coord, 2);
    const la = await a.next('leader');
    await waitFor(async () => (await landed(coord, la.token)) >= 3, "a's guarded writes");

    const pausedAt = Date.now();
    a.pause();
    const lb = await b.next('leader', () => true, (TTL + 5) * 1000);
    expect(Date.now() - pausedAt).toBeLessThan((TTL + 3) * 1000);
    a.resume();
    expect(['SessionLostError', 'NotLeaderError']).toContain((await a.next('lost')).reason);
    a.send({ type: 'write' });
    expect(await a.next('write')).toMatchObject({ ok: false, aborted: true });
    await waitFor(async () => (await landed(coord, lb.token)) >= 3, "b's guarded writes");
    const counts = await checkGuardedWrites(coord, 'writes/', 'el');
    expect([...counts.keys()].sort()).toEqual([BigInt(la.token as string), BigInt(lb.token as string)]);
  }, 30_000);
});
