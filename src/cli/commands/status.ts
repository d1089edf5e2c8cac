/**
 * `etcd-coord status`: endpoints, members, raft leader, db size, alarms, per-endpoint
 * health and latency.
 * @module
 */
import type { IMember } from 'etcd3';
import { mapEtcdError } from '../../errors.js';
import type { EndpointHealth } from '../../index.js';
import { type Command, JSON_OPTION } from '../command.js';
import { EXIT } from '../exit.js';
import { formatBytes, formatTable, toJson } from '../format.js';

/** A cluster member as `status` reports it. */
interface MemberRow {
  readonly id: string;
  readonly name: string;
  readonly isLearner: boolean;
  readonly clientURLs: readonly string[];
  readonly peerURLs: readonly string[];
}

const hex = (decimal: string) => BigInt(decimal).toString(16);

function toMember(m: IMember): MemberRow {
  return {
    id: hex(m.ID),
    name: m.name,
    isLearner: Boolean(m.isLearner),
    clientURLs: m.clientURLs,
    peerURLs: m.peerURLs,
  };
}

function endpointTable(health: readonly EndpointHealth[]): string {
  const rows = health.map((h) => [
    h.endpoint,
    h.reachable ? 'ok' : 'DOWN',
    `${h.latencyMs.toFixed(1)} ms`,
    h.memberId ?? '-',
    h.isLeader ? 'yes' : h.reachable ? 'no' : '-',
    h.revision?.toString() ?? '-',
    h.raftTerm?.toString() ?? '-',
    h.dbSize === undefined ? '-' : formatBytes(h.dbSize),
    h.version ?? '-',
    h.alarms.length ? h.alarms.join(',') : h.error ? `error: ${h.error}` : '-',
  ]);
  const headers = ['ENDPOINT', 'HEALTH', 'LATENCY', 'MEMBER', 'LEADER', 'REVISION', 'TERM', 'DB SIZE', 'VERSION'];
  return formatTable([...headers, 'ALARMS/ERROR'], rows);
}

function memberTable(members: readonly MemberRow[]): string {
  const rows = members.map((m) => [
    m.id,
    m.name || '(not started)',
    m.isLearner ? 'yes' : 'no',
    m.clientURLs.join(',') || '-',
    m.peerURLs.join(','),
  ]);
  return formatTable(['MEMBER', 'NAME', 'LEARNER', 'CLIENT URLS', 'PEER URLS'], rows);
}

/** `status`: see the help text. */
export const statusCommand: Command = {
  name: 'status',
  summary: 'show endpoints, members, raft leader, db size, alarms and latency',
  synopsis: '[--json]',
  positionals: [],
  options: JSON_OPTION,
  help: `Asks every endpoint for its status (reachable, latency, member id, raft leader,
revision, raft term, db size, version, alarms) and the cluster for its members.
Exits 0 when every endpoint answers and no alarm is active, else 1.

Options:
  --json    one JSON object: {healthy, leader, alarms, endpoints, members}`,
  async run(inv) {
    const coord = await inv.connect();
    const [health, members] = await Promise.all([
      coord.health(),
      coord.client.cluster.memberList({ linearizable: false }).then(
        (r) => r.members.map(toMember),
        (err: unknown) => mapEtcdError(err, 'member list'),
      ),
    ]);
    const leaderId = health.find((h) => h.leader && h.leader !== '0')?.leader;
    const memberList = Array.isArray(members) ? members : [];
    const leaderName = memberList.find((m) => m.id === leaderId)?.name;
    const alarms = [...new Set(health.flatMap((h) => h.alarms))];
    const healthy = health.every((h) => h.reachable) && alarms.length === 0;
    if (inv.values.json) {
      const leader = leaderId ? { id: leaderId, name: leaderName ?? null } : null;
      const memberError = members instanceof Error ? members.message : undefined;
      inv.io.out(toJson({ healthy, leader, alarms, endpoints: health, members: memberList, memberError }));
    } else {
      inv.io.out(endpointTable(health));
      inv.io.out('');
      inv.io.out(members instanceof Error ? `members: ${members.message}` : memberTable(memberList));
      inv.io.out('');
      inv.io.out(`raft leader: ${leaderId ? `${leaderId}${leaderName ? ` (${leaderName})` : ''}` : 'none'}`);
      inv.io.out(`alarms: ${alarms.length ? alarms.join(', ') : 'none'}`);
    }
    return healthy ? EXIT.ok : EXIT.failure;
  },
};
