/**
 * `coord.health()`: a status and an alarm call per endpoint, each through a client of
 * its own (no retries, no breaker), so one endpoint's answer says how that endpoint is.
 * @module
 */
import { noop } from 'cockatiel';
import { Etcd3, type IOptions } from 'etcd3';
import { mapEtcdError } from '../errors.js';
import type { Resilience } from '../resilience.js';

/** Health of one endpoint, as {@link Coordinator.health} reports it. */
export interface EndpointHealth {
  /** The endpoint URL, e.g. 'http://127.0.0.1:2379'. */
  readonly endpoint: string;
  /** Whether the endpoint answered the status call (if not, see `error`). */
  readonly reachable: boolean;
  /** Round trip of the status call in ms. */
  readonly latencyMs: number;
  /** Member id (hex) of the raft leader this endpoint knows, if reachable. */
  readonly leader?: string;
  /** This endpoint's own member id (hex). */
  readonly memberId?: string;
  /** Whether this endpoint is the raft leader. */
  readonly isLeader?: boolean;
  /** The endpoint's current etcd revision. */
  readonly revision?: bigint;
  /** The endpoint's current raft term. */
  readonly raftTerm?: bigint;
  /** Size of the endpoint's backend database, in bytes. */
  readonly dbSize?: number;
  /** The etcd server version, e.g. '3.5.17'. */
  readonly version?: string;
  /** Active alarms (e.g. 'NOSPACE', 'CORRUPT'). */
  readonly alarms: string[];
  /** Why the endpoint is unreachable (set only when `reachable` is false). */
  readonly error?: string;
}

/** Asks endpoints how they are, each through a client of its own, made on first use. @internal */
export class HealthProbe {
  private readonly clients = new Map<string, Etcd3>();

  /**
   * @param client - the coordinator's client, whose options (TLS, auth) the endpoint clients copy.
   * @param resilience - its `callTimeoutMs` is the deadline of each call.
   */
  constructor(
    private readonly client: Etcd3,
    private readonly resilience: Resilience,
  ) {}

  /** Health of `endpoint`; never rejects (an unreachable endpoint says why in `error`). */
  async check(endpoint: string): Promise<EndpointHealth> {
    const started = performance.now();
    const client = this.clientOf(endpoint);
    const deadline = Date.now() + this.resilience.options.callTimeoutMs;
    try {
      const status = await client.maintenance.status({ deadline });
      const latencyMs = performance.now() - started;
      const alarm = await client.maintenance.alarm({ action: 'Get', memberID: 0, alarm: 'None' }, { deadline });
      const memberId = BigInt(status.header.member_id).toString(16);
      const leader = BigInt(status.leader).toString(16);
      return {
        endpoint,
        reachable: true,
        latencyMs,
        leader,
        memberId,
        isLeader: leader === memberId,
        revision: BigInt(status.header.revision),
        raftTerm: BigInt(status.raftTerm),
        dbSize: Number(status.dbSize),
        version: status.version,
        alarms: (alarm.alarms ?? []).map((a) => String(a.alarm)),
      };
    } catch (err) {
      return {
        endpoint,
        reachable: false,
        latencyMs: performance.now() - started,
        alarms: [],
        error: mapEtcdError(err, `health ${endpoint}`).message,
      };
    }
  }

  /** Closes the endpoint clients. */
  close(): void {
    for (const c of this.clients.values()) c.close();
  }

  private clientOf(endpoint: string): Etcd3 {
    let c = this.clients.get(endpoint);
    if (!c) {
      const opts = (this.client as unknown as { options: IOptions }).options;
      c = new Etcd3({ ...opts, hosts: [endpoint], faultHandling: { global: noop, host: () => noop } });
      this.clients.set(endpoint, c);
    }
    return c;
  }
}
