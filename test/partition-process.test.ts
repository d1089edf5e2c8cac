import { afterEach, describe, expect, it } from 'vitest';
import type { Coordinator } from '../src/index.js';
import { assignAll } from '../src/partition/hashing.js';
import { failOnUnhandledRejections, keysUnder } from './fixtures/lock-util.js';
import {
  checkHistory,
  converged,
  currentRevision,
  history,
  ownersInEtcd,
  takesBetween,
} from './fixtures/partition-util.js';
import {
  type ChildHandle,
  connectShared,
  killAllChildren,
  sharedEndpoints,
  spawnChild,
  uniqueNamespace,
  waitFor,
} from './harness/index.js';

failOnUnhandledRejections();

const coords: Coordinator[] = [];
afterEach(async () => {
  await killAllChildren();
  await Promise.all(coords.splice(0).map((c) => c.close()));
});

const P = 32;
const TTL = 2;

function member(ns: string, id: string): ChildHandle {
  return spawnChild('test/fixtures/partition-member.ts', {
    ETCD_ENDPOINTS: sharedEndpoints().join(','),
    PART_NS: ns,
    PART_NAME: 'work',
    MEMBER: id,
    PARTITIONS: String(P),
    TTL: String(TTL),
  });
}

describe('partition group across processes', () => {
  it('SIGKILL and SIGSTOP past the TTL: partitions move after the TTL, the stopped owner cannot write, no write ever overlaps', async () => {
    const ns = uniqueNamespace('partproc');
    const admin = await connectShared({ namespace: ns, ttl: 5 });
    coords.push(admin);
    const from = (await currentRevision(admin)) + 1n;
    const ids = ['m0', 'm1', 'm2', 'm3'];
    const children = new Map(ids.map((id) => [id, member(ns, id)]));
    await Promise.all([...children.values()].map((c) => c.next('ready')));
    const settled = (live: string[], what: string) => waitFor(() => converged(admin, 'work', P, live), what, 20_000);
    await settled(ids, '4 processes own every partition');
    const owners = await ownersInEtcd(admin, 'work', P);
    expect(new Set(owners)).toEqual(new Set(ids));

    // SIGKILL: the member's keys stay until its lease expires; then its partitions move.
    const killed = children.get('m3') as ChildHandle;
    const killedOwned = assignAll(P, ids).get('m3')?.length ?? 0;
    await killed.kill('SIGKILL');
    children.delete('m3');
    const killedAt = await currentRevision(admin);
    expect((await ownersInEtcd(admin, 'work', P)).filter((o) => o === 'm3')).toHaveLength(killedOwned);
    await settled(['m0', 'm1', 'm2'], "the killed member's partitions moved after its TTL");
    const afterKill = await currentRevision(admin);

    // SIGSTOP past the TTL: the others take its partitions; its late writes are refused.
    const stopped = children.get('m2') as ChildHandle;
    stopped.send({ type: 'snapshot' });
    const snap = await stopped.next('snapshotted');
    const stoppedOwned = snap.partitions as number[];
    expect(stoppedOwned.length).toBeGreaterThan(0);
    stopped.pause();
    await settled(['m0', 'm1'], "the stopped member's partitions moved after its TTL");
    stopped.send({ type: 'write' }); // handled as soon as it runs again
    stopped.resume();
    const wrote = await stopped.next('wrote');
    const results = wrote.results as { partition: number; succeeded: boolean }[];
    expect(results.map((r) => r.partition).sort((a, b) => a - b)).toEqual([...stoppedOwned].sort((a, b) => a - b));
    expect(results.filter((r) => r.succeeded)).toEqual([]);
    // It joins again with a fresh session and gets its share back.
    await settled(['m0', 'm1', 'm2'], 'the resumed member joined again');

    for (const c of children.values()) c.send({ type: 'leave' });
    await Promise.all([...children.values()].map((c) => c.next('left')));
    await Promise.all([...children.values()].map((c) => c.exited));
    expect((await keysUnder(admin, 'work/')).filter((k) => !k.startsWith('work/data/'))).toEqual([]);

    const check = checkHistory(ns, 'work', await history(admin, 'work', from));
    const movedKill = takesBetween(check, killedAt, afterKill);
    console.info(
      `SIGKILL: ${movedKill} partitions moved (ideal ${killedOwned}); SIGSTOP: ${stoppedOwned.length} moved away; ${check.writes} fenced writes, ${check.takes.length} takes in all`,
    );
    expect(check.violations).toEqual([]);
    expect(movedKill).toBe(killedOwned);
    expect(check.writes).toBeGreaterThan(P);
  }, 90_000);
});
