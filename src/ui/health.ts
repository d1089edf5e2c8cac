/**
 * Cluster health for the dashboard: every endpoint's status (`coord.health()`), the
 * member list, the raft leader and the active alarms, in one JSON-ready object.
 * @module
 */
import type { Coordinator, EndpointHealth } from '../index.js';

/** One cluster member. */
export interface MemberView {
  /** Member id, hex. */
  readonly id: string;
  /** Its name ('' while it has not started). */
  readonly name: string;
  /** Whether it is a learner (not voting). */
  readonly isLearner: boolean;
  /** Its client URLs. */
  readonly clientURLs: readonly string[];
}

/** The cluster as the dashboard shows it. */
export interface ClusterHealth {
  /** When it was checked. */
  readonly checkedAt: Date;
  /** Every endpoint in use, as {@link Coordinator.health} reports it. */
  readonly endpoints: readonly EndpointHealth[];
  /** The members, or undefined when the list could not be read (see `memberError`). */
  readonly members?: readonly MemberView[];
  /** Why the member list could not be read. */
  readonly memberError?: string;
  /** The raft leader's member id (hex), if an endpoint knows one. */
  readonly leaderId?: string;
  /** Every active alarm (e.g. 'NOSPACE'). */
  readonly alarms: readonly string[];
  /** Every endpoint answers and no alarm is active. */
  readonly healthy: boolean;
}

/** Checks the cluster once. Never rejects: an unreachable etcd is a state, not an error. */
export async function checkCluster(coord: Coordinator): Promise<ClusterHealth> {
  const [endpoints, members] = await Promise.all([
    coord.health().catch((err: unknown): EndpointHealth[] =>
      coord.endpoints.map((endpoint) => ({
        endpoint,
        reachable: false,
        latencyMs: 0,
        alarms: [],
        error: message(err),
      })),
    ),
    coord.client.cluster.memberList({ linearizable: false }).then(
      (r) =>
        r.members.map((m) => ({
          id: BigInt(m.ID).toString(16),
          name: m.name,
          isLearner: Boolean(m.isLearner),
          clientURLs: m.clientURLs,
        })),
      (err: unknown) => new Error(message(err)),
    ),
  ]);
  const alarms = [...new Set(endpoints.flatMap((e) => e.alarms))];
  return {
    checkedAt: new Date(),
    endpoints,
    ...(members instanceof Error ? { memberError: members.message } : { members }),
    leaderId: endpoints.find((e) => e.leader && e.leader !== '0')?.leader,
    alarms,
    healthy: endpoints.every((e) => e.reachable) && alarms.length === 0,
  };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
