/**
 * `etcd-coord partitions NAME`: the live members of a partition group and the owner of
 * every partition, from one consistent read.
 * @module
 */
import { leaseHex, prefixEnd, validateName } from '../../keys.js';
import { type Command, JSON_OPTION } from '../command.js';
import { EXIT } from '../exit.js';
import { formatTable, toJson } from '../format.js';

interface MemberRow {
  member: string;
  leaseId: string;
  host: string | null;
  pid: number | null;
  since: number | null;
  partitions: number[];
}

function parseMember(value: Buffer): { host?: string; pid?: number; since?: number; partitions?: number } {
  try {
    const v = JSON.parse(value.toString()) as Record<string, unknown>;
    return {
      host: typeof v.host === 'string' ? v.host : undefined,
      pid: typeof v.pid === 'number' ? v.pid : undefined,
      since: typeof v.since === 'number' ? v.since : undefined,
      partitions: typeof v.partitions === 'number' ? v.partitions : undefined,
    };
  } catch {
    return {};
  }
}

/** `1,2,3,7` -> `1-3,7`. */
function ranges(ps: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < ps.length; i++) {
    let j = i;
    while (j + 1 < ps.length && ps[j + 1] === ps[j] + 1) j++;
    out.push(j === i ? String(ps[i]) : `${ps[i]}-${ps[j]}`);
    i = j;
  }
  return out.join(',') || '-';
}

/** `partitions`: see the help text. */
export const partitionsCommand: Command = {
  name: 'partitions',
  summary: 'show the live members of a partition group and who owns each partition',
  synopsis: 'NAME [--json]',
  positionals: ['NAME'],
  options: JSON_OPTION,
  help: `Shows the partition group NAME (coord.partition(NAME)) from one consistent read of
NAME/members/ and NAME/owners/: one line per live member with the partitions it owns,
then the partitions that have no owner (a handoff in progress, or no member alive).

Columns: MEMBER (its id), LEASE (its session lease, hex), OWNS (how many), PARTITIONS
(ranges, e.g. 0-3,9).

Options:
  --json    one JSON object: {revision, partitions, members: [{member, leaseId, host,
            pid, since, partitions}], owners: [{partition, member, token, leaseId}],
            unowned}; partitions is null when no member says how many there are`,
  async run(inv) {
    const name = validateName(inv.positionals[0], 'partition group name');
    const coord = await inv.connect();
    const base = `${coord.namespace}${name}/`;
    const range = (prefix: string, revision?: string) =>
      coord.client.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix), revision });
    const membersRes = await range(`${base}members/`);
    const revision = membersRes.header.revision;
    const ownersRes = await range(`${base}owners/`, revision);
    let partitions: number | null = null;
    const members = new Map<string, MemberRow>();
    for (const kv of membersRes.kvs) {
      const id = kv.key.toString().slice(`${base}members/`.length);
      const v = parseMember(kv.value);
      if (v.partitions !== undefined) partitions = Math.max(partitions ?? 0, v.partitions);
      members.set(id, {
        member: id,
        leaseId: leaseHex(kv.lease ?? '0'),
        host: v.host ?? null,
        pid: v.pid ?? null,
        since: v.since ?? null,
        partitions: [],
      });
    }
    const owners = ownersRes.kvs
      .map((kv) => ({
        partition: Number(kv.key.toString().slice(`${base}owners/`.length)),
        member: kv.value.toString(),
        token: kv.create_revision,
        leaseId: leaseHex(kv.lease ?? '0'),
      }))
      .filter((o) => Number.isInteger(o.partition))
      .sort((a, b) => a.partition - b.partition);
    for (const o of owners) members.get(o.member)?.partitions.push(o.partition);
    const owned = new Set(owners.map((o) => o.partition));
    const unowned =
      partitions === null ? [] : Array.from({ length: partitions }, (_, p) => p).filter((p) => !owned.has(p));
    const rows = [...members.values()].sort((a, b) => (a.member < b.member ? -1 : 1));
    if (inv.values.json) {
      inv.io.out(toJson({ revision, partitions, members: rows, owners, unowned }));
      return EXIT.ok;
    }
    if (rows.length === 0 && owners.length === 0) {
      inv.io.warn(`partition group ${name} has no live members`);
      return EXIT.ok;
    }
    const orphans = owners.filter((o) => !members.has(o.member));
    const table = rows.map((m) => [m.member, m.leaseId, String(m.partitions.length), ranges(m.partitions)]);
    for (const o of orphans) table.push([`${o.member} (gone)`, o.leaseId, '1', String(o.partition)]);
    inv.io.out(formatTable(['MEMBER', 'LEASE', 'OWNS', 'PARTITIONS'], table));
    inv.io.out(
      `${owners.length}${partitions === null ? '' : `/${partitions}`} partitions owned; unowned: ${ranges(unowned)}`,
    );
    return EXIT.ok;
  },
};
