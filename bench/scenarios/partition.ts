/**
 * Scenario: partition rebalancing. MEMBERS members (one coordinator each, session TTL
 * 2 s) share PARTITIONS partitions; the clock runs from a membership change until every
 * member sees the new member list and owns exactly its rendezvous share:
 * - graceful join: a member joins (its registration included in the time);
 * - graceful leave: that member leaves (`leave()`: tasks settled, partitions handed over);
 * - crash: a member in a child process is SIGKILLed; its partitions move once its lease
 *   expires (TTL) and the others take them (one create each).
 * Every member runs a task per partition that waits for its signal, so a handoff
 * includes a task settling. etcd requests per rebalance are counted from etcd's
 * /metrics (every gRPC message except keepalives). Single node.
 */

import { type Coordinator, connect, type PartitionGroup } from 'etcd-coord';
import type { ChildHandle } from '../../test/harness/child.js';
import { spawnChild } from '../../test/harness/child.js';
import type { BenchEnv } from '../lib/env.js';
import { delta, readCounters } from '../lib/etcd-metrics.js';
import { Collector, latencyCells, type ScenarioResult } from '../lib/report.js';
import { fmt, summarize } from '../lib/stats.js';
import { now, until } from '../lib/timing.js';

const PARTITIONS = 64;
const MEMBERS = 4;
const TTL = 2;
const NAME = 'work';

interface Member {
  readonly id: string;
  readonly coord: Coordinator;
  readonly group: PartitionGroup;
}

async function startMember(endpoint: string, ns: string, id: string): Promise<Member> {
  const coord = await connect({ endpoints: [endpoint], namespace: ns, ttl: TTL });
  const group = coord.partition(NAME, { partitions: PARTITIONS, member: id });
  group.run((o) => new Promise<void>((resolve) => o.signal.addEventListener('abort', () => resolve(), { once: true })));
  return { id, coord, group };
}

/** Every member sees exactly `ids` and owns exactly its share. */
function settled(members: readonly Member[], ids: readonly string[]): boolean {
  const want = [...ids].sort().join();
  return members.every((m) => {
    const owned = m.group.owned();
    const desired = m.group.desired();
    return m.group.members().join() === want && owned.size === desired.size && [...desired].every((p) => owned.has(p));
  });
}

/** Owner keys in etcd held by `id`. */
async function ownedInEtcd(coord: Coordinator, id: string): Promise<number> {
  const owners = await coord.kv.getAll().prefix(`${NAME}/owners/`).strings();
  return Object.values(owners).filter((v) => v === id).length;
}

/** The partition scenario. */
export async function partition(env: BenchEnv): Promise<ScenarioResult> {
  const c = new Collector('partition');
  const ns = env.ns('partition');
  const endpoint = env.single.endpoint;
  const rounds = env.n(10, 2);
  const crashes = env.n(3, 1);
  const members: Member[] = [];
  const children: ChildHandle[] = [];
  const join: number[] = [];
  const leave: number[] = [];
  const crash: number[] = [];
  const requests: Record<'join' | 'leave' | 'crash', number[]> = { join: [], leave: [], crash: [] };
  const moved: Record<'join' | 'leave' | 'crash', number[]> = { join: [], leave: [], crash: [] };
  try {
    for (let i = 0; i < MEMBERS; i++) members.push(await startMember(endpoint, ns, `m${i}`));
    const base = members.map((m) => m.id);
    await until(() => settled(members, base), 'the first members settled', 60_000);
    env.log(`partition: ${rounds} graceful join/leave rounds`);
    for (let r = 0; r < rounds; r++) {
      let before = await readCounters([env.single]);
      let t0 = now();
      const extra = await startMember(endpoint, ns, `extra-${r}`);
      const all = [...members, extra];
      await until(
        () =>
          settled(
            all,
            all.map((m) => m.id),
          ),
        'join settled',
        60_000,
      );
      join.push(now() - t0);
      requests.join.push(delta(before, await readCounters([env.single])).requests);
      moved.join.push(extra.group.owned().size);
      before = await readCounters([env.single]);
      t0 = now();
      await extra.group.leave();
      await until(() => settled(members, base), 'leave settled', 60_000);
      leave.push(now() - t0);
      requests.leave.push(delta(before, await readCounters([env.single])).requests);
      moved.leave.push(moved.join[r]);
      await extra.coord.close();
    }
    env.log(`partition: ${crashes} crash(es)`);
    for (let r = 0; r < crashes; r++) {
      const id = `child-${r}`;
      const child = spawnChild('test/fixtures/partition-member.ts', {
        ETCD_ENDPOINTS: endpoint,
        PART_NS: ns,
        PART_NAME: NAME,
        MEMBER: id,
        PARTITIONS: String(PARTITIONS),
        TTL: String(TTL),
        WRITE_EVERY_MS: '0',
      });
      children.push(child);
      await child.next('ready', undefined, 120_000);
      await until(() => settled(members, [...base, id]), 'the child joined', 60_000);
      const share = PARTITIONS - members.reduce((n, m) => n + m.group.owned().size, 0);
      await until(async () => (await ownedInEtcd(members[0].coord, id)) === share, 'the child owns its share', 60_000);
      const before = await readCounters([env.single]);
      const t0 = now();
      await child.kill('SIGKILL');
      await until(() => settled(members, base), 'crash settled', 60_000);
      crash.push(now() - t0);
      requests.crash.push(delta(before, await readCounters([env.single])).requests);
      moved.crash.push(share);
    }
  } finally {
    for (const ch of children) await ch.kill();
    await Promise.all(members.map((m) => m.group.leave()));
    const coord = members[0]?.coord;
    await coord?.kv.delete().prefix('').exec();
    await Promise.all(members.map((m) => m.coord.close()));
  }
  const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / (xs.length || Number.NaN);
  const s = c.section(
    'partition-rebalance',
    `Rebalance of ${PARTITIONS} partitions: ${MEMBERS} members ± 1 (session TTL ${TTL} s)`,
  );
  const rows: [string, number[], 'join' | 'leave' | 'crash'][] = [
    ['graceful join (5th member)', join, 'join'],
    ['graceful leave (5th member)', leave, 'leave'],
    ['crash (SIGKILL of a member process)', crash, 'crash'],
  ];
  for (const [name, samples, k] of rows) {
    s.rows.push({
      case: name,
      cells: {
        ...latencyCells(summarize(samples)),
        'moved (mean)': fmt(mean(moved[k])),
        'etcd requests (mean)': fmt(mean(requests[k])),
        'requests per moved partition': fmt(mean(requests[k]) / mean(moved[k])),
      },
    });
  }
  s.notes.push(
    `Time from the change (a new member's connect() and partition(), leave(), or SIGKILL) until every remaining member sees the new member list and owns exactly its rendezvous share. ${rounds} join/leave rounds, ${crashes} crash(es); ideal share of a 5th member: ${PARTITIONS / 5} partitions. Requests: every gRPC message etcd received during the rebalance except keepalives (member registration, owner-key creates and guarded deletes, reads of the new member's mirrors, watch creates and progress requests).`,
  );
  const worstCrash = Math.max(...crash);
  c.target(
    `crash rebalance ≤ TTL + 1 s (${TTL + 1} s), worst case`,
    `${fmt(worstCrash / 1000)} s`,
    worstCrash <= (TTL + 1) * 1000,
  );
  const perMoved = Math.max(...(['join', 'leave'] as const).map((k) => mean(requests[k]) / mean(moved[k])));
  c.target(
    'graceful join/leave: ≤ one handoff per moved partition (≤ 3 etcd requests per moved partition, mean)',
    fmt(perMoved),
    perMoved <= 3,
  );
  return c;
}
