import { afterEach, describe, expect, it } from 'vitest';
import {
  type Coordinator,
  InvalidArgumentError,
  isSessionLostError,
  type Ownership,
  type PartitionGroup,
} from '../src/index.js';
import { assignAll, desiredOwner, fnv1a64, hash64 } from '../src/partition/hashing.js';
import { runCli } from './cli-run.js';
import { failOnUnhandledRejections, keysUnder } from './fixtures/lock-util.js';
import {
  checkHistory,
  converged,
  currentRevision,
  fencedWriter,
  history,
  ownersInEtcd,
  takesBetween,
} from './fixtures/partition-util.js';
import { connectShared, runExample, uniqueNamespace, waitFor } from './harness/index.js';

failOnUnhandledRejections();

const coords: Coordinator[] = [];
afterEach(async () => {
  await Promise.all(coords.splice(0).map((c) => c.close()));
});

async function open(namespace: string, ttl = 2): Promise<Coordinator> {
  const c = await connectShared({ namespace, ttl });
  coords.push(c);
  return c;
}

describe('rendezvous hashing', () => {
  it('is stable, spreads 32 partitions over 4 members, and a 5th member takes only its own', () => {
    const reference = (text: string) => {
      let h = 0xcbf2_9ce4_8422_2325n;
      for (const b of Buffer.from(text)) h = ((h ^ BigInt(b)) * 0x100_0000_01b3n) & 0xffff_ffff_ffff_ffffn;
      return h;
    };
    expect(fnv1a64('a')).toBe(0xaf63_dc4c_8601_ec8cn);
    for (const t of ['', 'm0:0', 'host-1:4242:65535', 'zürich:7']) expect(fnv1a64(t)).toBe(reference(t));
    expect(hash64('m0:0')).toBe(hash64('m0:0'));
    expect(hash64('m0:0')).not.toBe(hash64('m0:1'));
    const four = assignAll(32, ['m0', 'm1', 'm2', 'm3']);
    for (const ps of four.values()) expect(ps.length).toBeGreaterThanOrEqual(3);
    const five = assignAll(32, ['m0', 'm1', 'm2', 'm3', 'm4']);
    for (let p = 0; p < 32; p++) {
      const now = desiredOwner(p, ['m0', 'm1', 'm2', 'm3', 'm4']);
      if (now !== 'm4') expect(now).toBe(desiredOwner(p, ['m0', 'm1', 'm2', 'm3']));
    }
    expect(five.get('m4')?.length).toBeGreaterThan(0);
    expect(desiredOwner(0, [])).toBeUndefined();
  });
});

describe('coord.partition()', () => {
  it('rejects bad input synchronously and writes nothing', async () => {
    const ns = uniqueNamespace('partbad');
    const coord = await open(ns);
    const bad: [string, unknown][] = [
      ['', { partitions: 4 }],
      ['a//b', { partitions: 4 }],
      ['ok', undefined],
      ['ok', { partitions: 0 }],
      ['ok', { partitions: 1.5 }],
      ['ok', { partitions: 65_537 }],
      ['ok', { partitions: '4' }],
      ['ok', { partitions: 4, member: 'a/b' }],
      ['ok', { partitions: 4, member: '' }],
      ['ok', { partitions: 4, session: {} }],
    ];
    for (const [name, options] of bad) {
      expect(() => coord.partition(name, options as never), `${name} ${JSON.stringify(options)}`).toThrow(
        InvalidArgumentError,
      );
    }
    const g = coord.partition('ok', { partitions: 1, member: 'x' });
    expect(() => g.run('nope' as never)).toThrow(InvalidArgumentError);
    await g.leave();
    expect(await keysUnder(coord, '')).toEqual([]);
  });

  it('4 members on 32 partitions, a 5th joins, one leaves: owned once, moves near ideal, every write fenced', async () => {
    const ns = uniqueNamespace('part');
    const name = 'work';
    const P = 32;
    const admin = await open(ns, 5);
    const from = (await currentRevision(admin)) + 1n;
    const groups = new Map<string, PartitionGroup>();
    const running = new Map<number, number>(); // tasks running per partition, over every member
    let overlaps = 0;
    const join = async (id: string) => {
      const c = await open(ns);
      const g = c.partition(name, { partitions: P, member: id });
      const write = fencedWriter(c, name, id);
      g.run(async (o) => {
        const n = (running.get(o.partition) ?? 0) + 1;
        running.set(o.partition, n);
        if (n > 1) overlaps++;
        try {
          await write(o);
        } finally {
          running.set(o.partition, (running.get(o.partition) ?? 1) - 1);
        }
      });
      groups.set(id, g);
    };
    const views = () => new Map([...groups].map(([id, g]) => [id, () => new Set(g.owned().keys())]));
    const settled = (what: string) =>
      waitFor(() => converged(admin, name, P, [...groups.keys()], views()), what, 20_000);

    for (const id of ['m0', 'm1', 'm2', 'm3']) await join(id);
    await settled('4 members own every partition');
    const owners = await ownersInEtcd(admin, name, P);
    expect(owners.every((o) => o !== undefined)).toBe(true);
    for (const g of groups.values()) {
      expect(g.members()).toEqual(['m0', 'm1', 'm2', 'm3']);
      expect([...g.desired()].sort((x, y) => x - y)).toEqual([...g.owned().keys()].sort((x, y) => x - y));
    }
    const union = [...groups.values()].flatMap((g) => [...g.owned().keys()]);
    expect(union.sort((a, b) => a - b)).toEqual(Array.from({ length: P }, (_, p) => p));

    const beforeJoin = await currentRevision(admin);
    const idealJoin = assignAll(P, ['m0', 'm1', 'm2', 'm3', 'm4']).get('m4')?.length ?? 0;
    await join('m4');
    await settled('the 5th member took its share');
    const afterJoin = await currentRevision(admin);

    const leaver = groups.get('m1') as PartitionGroup;
    const idealLeave = leaver.owned().size;
    groups.delete('m1');
    await leaver.leave();
    expect(leaver.owned().size).toBe(0);
    await settled('the partitions of the member that left moved');
    const afterLeave = await currentRevision(admin);

    await Promise.all([...groups.values()].map((g) => g.leave()));
    const check = checkHistory(ns, name, await history(admin, name, from));
    const movedJoin = takesBetween(check, beforeJoin, afterJoin);
    const movedLeave = takesBetween(check, afterJoin, afterLeave);
    console.info(
      `partitions moved: join ${movedJoin} (ideal ${idealJoin}), leave ${movedLeave} (ideal ${idealLeave}); ${check.writes} fenced writes`,
    );
    expect(check.violations).toEqual([]);
    expect(overlaps).toBe(0); // a new owner's task never started before the old owner's settled
    expect(check.writes).toBeGreaterThan(P);
    expect(movedJoin).toBeGreaterThanOrEqual(idealJoin);
    expect(movedJoin).toBeLessThanOrEqual(2 * idealJoin + 2);
    expect(movedLeave).toBeGreaterThanOrEqual(idealLeave);
    expect(movedLeave).toBeLessThanOrEqual(2 * idealLeave + 2);
    expect((await keysUnder(admin, `${name}/`)).filter((k) => !k.startsWith(`${name}/data/`))).toEqual([]);
  }, 60_000);

  it('assignments() reports the owned set, then every change; a stale ownership cannot write', async () => {
    const ns = uniqueNamespace('partasg');
    const a = await open(ns);
    const b = await open(ns);
    const ga = a.partition('jobs', { partitions: 8, member: 'a' });
    const seen: number[] = [];
    const iterating = (async () => {
      for await (const set of ga.assignments()) seen.push(set.size);
    })();
    await waitFor(() => ga.owned().size === 8, 'a owns all 8');
    const old = ga.owned();
    const gb = b.partition('jobs', { partitions: 8, member: 'b' });
    const wantB = assignAll(8, ['a', 'b']).get('b') ?? [];
    await waitFor(() => gb.owned().size === wantB.length && ga.owned().size === 8 - wantB.length, 'b took its share');
    const moved = old.get(wantB[0]) as Ownership;
    expect(moved.signal.aborted).toBe(true);
    const stale = await moved.txn().then(a.kv.put('fenced').value('stale')).commit();
    expect(stale.succeeded).toBe(false);
    const fresh = gb.owned().get(wantB[0]) as Ownership;
    expect(fresh.token).toBeGreaterThan(moved.token);
    expect((await fresh.txn().then(b.kv.put('fenced').value('fresh')).commit()).succeeded).toBe(true);
    await ga.leave();
    await ga.leave();
    await iterating;
    expect(seen[0]).toBe(0);
    expect(seen).toContain(8);
    expect(seen.at(-1)).toBe(0);
    await waitFor(() => gb.owned().size === 8, 'b owns all 8 after a left');
    await gb[Symbol.asyncDispose]();
    expect(await keysUnder(a, 'jobs/')).toEqual([]);
  });

  it('run(): a task that returns is restarted on the same ownership; stop() settles every task', async () => {
    const ns = uniqueNamespace('partrun');
    const coord = await open(ns);
    const g = coord.partition('r', { partitions: 2, member: 'solo' });
    const runs = new Map<number, number>();
    const job = g.run(
      (o) => {
        runs.set(o.partition, (runs.get(o.partition) ?? 0) + 1);
      },
      { backoff: { initialDelayMs: 5, maxDelayMs: 20 } },
    );
    await waitFor(() => (runs.get(0) ?? 0) >= 3 && (runs.get(1) ?? 0) >= 3, 'tasks restarted');
    await job.stop();
    expect(job.partitions.size).toBe(0);
    expect(g.owned().size).toBe(2);
    await g.leave();
    expect(await keysUnder(coord, 'r/')).toEqual([]);
  });

  it('session loss aborts every ownership at once and ends the group; etcd refuses the stale writes', async () => {
    const ns = uniqueNamespace('partloss');
    const coord = await open(ns);
    const session = await coord.newSession({ ttl: 2 });
    const g = coord.partition('s', { partitions: 6, member: 'x', session });
    let settledTasks = 0;
    g.run(async (o) => {
      await new Promise((r) => o.signal.addEventListener('abort', r, { once: true }));
      settledTasks++;
    });
    await waitFor(() => g.owned().size === 6, 'x owns all 6');
    const held = [...g.owned().values()];
    const ended = (async () => {
      for await (const _ of g.assignments());
    })();
    await session.close();
    expect(held.every((o) => o.signal.aborted)).toBe(true);
    expect(held.every((o) => isSessionLostError(o.signal.reason))).toBe(true);
    expect(g.owned().size).toBe(0);
    await ended;
    await waitFor(() => settledTasks === 6, 'every task settled');
    const res = await held[0].txn().then(coord.kv.put('late').value('x')).commit();
    expect(res.succeeded).toBe(false);
    await g.leave();
    expect(await keysUnder(coord, '')).toEqual([]);
  });

  it('etcd-coord partitions NAME shows the members and the owner of every partition', async () => {
    const ns = uniqueNamespace('partcli');
    const a = await open(ns);
    const b = await open(ns);
    const ga = a.partition('cli', { partitions: 8, member: 'alpha' });
    const gb = b.partition('cli', { partitions: 8, member: 'beta' });
    await waitFor(() => converged(a, 'cli', 8, ['alpha', 'beta']), 'both own their share');
    const [table, json, none] = await Promise.all([
      runCli(['partitions', 'cli', '--namespace', ns]),
      runCli(['partitions', 'cli', '--json', '--namespace', ns]),
      runCli(['partitions', 'nothing', '--namespace', ns]),
    ]);
    const want = assignAll(8, ['alpha', 'beta']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^MEMBER\s+LEASE\s+OWNS\s+PARTITIONS\nalpha\s+[0-9a-f]+\s+\d+\s+\S+\nbeta\s/);
    expect(table.stdout).toContain('8/8 partitions owned; unowned: -');
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout);
    expect(parsed.partitions).toBe(8);
    expect(parsed.unowned).toEqual([]);
    expect(parsed.members.map((m: { member: string }) => m.member)).toEqual(['alpha', 'beta']);
    expect(parsed.members[0].partitions).toEqual(want.get('alpha'));
    expect(parsed.owners).toHaveLength(8);
    expect(typeof parsed.owners[0].token).toBe('string');
    expect(none.code).toBe(0);
    expect(none.stderr).toContain('no live members');
    const bad = await runCli(['partitions', 'a//b', '--namespace', ns]);
    expect(bad.code).not.toBe(0);
    await Promise.all([ga.leave(), gb.leave()]);
  }, 30_000);

  it('examples/partitions.ts runs to completion: a join and a leave move only a share', async () => {
    const { code, out } = await runExample('partitions.ts', 'pex');
    expect(code, out).toBe(0);
    const joined = Number(out.match(/worker-4 joined: (\d+) of 12/)?.[1]);
    const left = Number(out.match(/worker-2 left: (\d+) of 12/)?.[1]);
    expect(joined).toBeGreaterThan(0);
    expect(joined).toBeLessThanOrEqual(6);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(6);
    expect(out).toContain('keys left under tenants/: 0');
  }, 30_000);

  it('an owner key deleted under its owner aborts that ownership; the member takes the partition again', async () => {
    const ns = uniqueNamespace('partdel');
    const coord = await open(ns);
    const g = coord.partition('d', { partitions: 3, member: 'solo' });
    await waitFor(() => g.owned().size === 3, 'solo owns all 3');
    const before = g.owned().get(1) as Ownership;
    await coord.kv.delete().key('d/owners/1').exec();
    await waitFor(() => before.signal.aborted, 'the ownership aborted');
    const again = await waitFor(() => g.owned().get(1), 'partition 1 taken again');
    expect(again.token).toBeGreaterThan(before.token);
    expect((await before.txn().then(coord.kv.put('x').value('stale')).commit()).succeeded).toBe(false);
    expect(g.owned().get(0)?.signal.aborted).toBe(false);
    await g.leave();
    expect(await keysUnder(coord, '')).toEqual([]);
  });
});
