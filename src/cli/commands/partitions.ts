/**
 * `etcd-coord partitions NAME`: the live members of a partition group and the owner of
 * every partition, from one consistent read.
 * @module
 */
import { validateName } from '../../keys.js';
import { type Command, JSON_OPTION } from '../command.js';
import { EXIT } from '../exit.js';
import { formatTable, toJson } from '../format.js';

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
NAME/ (coord.inspect()): one line per live member with the partitions it owns, then
the partitions that have no owner (a handoff in progress).

Columns: MEMBER (its id), LEASE (its session lease, hex), OWNS (how many), PARTITIONS
(ranges, e.g. 0-3,9).

Options:
  --json    one JSON object: {revision, partitions, members: [{member, leaseId, host,
            pid, since, partitions}], owners: [{partition, member, token, leaseId}],
            unowned}; partitions is null when the group has no live member`,
  async run(inv) {
    const name = validateName(inv.positionals[0], 'partition group name');
    const coord = await inv.connect();
    const snap = await coord.inspect(`${name}/`, { signal: inv.interrupts.signal });
    const group = snap.partitions.find((g) => g.name === name);
    const members = (group?.members ?? []).map((m) => ({
      member: m.member,
      leaseId: m.leaseId,
      host: m.host ?? null,
      pid: m.pid ?? null,
      since: m.since?.getTime() ?? null,
      partitions: m.owns,
    }));
    const owners = group?.owners ?? [];
    const partitions = group?.partitions ?? null;
    const unowned = group?.unowned ?? [];
    if (inv.values.json) {
      inv.io.out(toJson({ revision: snap.revision, partitions, members, owners, unowned }));
      return EXIT.ok;
    }
    if (!group) {
      inv.io.warn(`partition group ${name} has no live members`);
      return EXIT.ok;
    }
    const live = new Set(members.map((m) => m.member));
    const table = members.map((m) => [m.member, m.leaseId, String(m.partitions.length), ranges(m.partitions)]);
    for (const o of owners.filter((o) => !live.has(o.member))) {
      table.push([`${o.member} (gone)`, o.leaseId, '1', String(o.partition)]);
    }
    inv.io.out(formatTable(['MEMBER', 'LEASE', 'OWNS', 'PARTITIONS'], table));
    inv.io.out(`${owners.length}/${partitions} partitions owned; unowned: ${ranges(unowned)}`);
    return EXIT.ok;
  },
};
