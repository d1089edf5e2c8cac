/**
 * Turns the keys of one consistent read into queues and services. Pure: no etcd calls,
 * so a live view can rebuild the same picture from a watched copy of the keys.
 *
 * - A service instance is `<namespace>services/<service>/<id>` with a valid instance
 *   value (as `registry.list()` decodes it).
 * - A queue contender is `<namespace><name>/<leaseId hex>` attached to that very lease,
 *   as Go's `concurrency` package, etcdctl, etcd's Lock/Election services and etcd-coord
 *   write them. Keys that are not on the lease their name says (application data under
 *   a lock's name, partition owner keys `<name>/owners/<p>`) are not contenders.
 * - A partition group is `<namespace><name>/members/<member>` on a lease with a member
 *   value (`{"member", "partitions", ...}`, its own id); its owner keys are
 *   `<name>/owners/<p>` on a lease, valued with the owner's id. A group shows only with a
 *   live member (an owner key outlives its member only until their shared lease ends).
 * @internal
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { leaseHex, servicePrefix } from '../keys.js';
import { decodeOwner, type OwnerInfo } from '../lock/owner.js';
import { compareById, decodeInstance } from '../registry/codec.js';
import type { ServiceInstance } from '../registry/types.js';
import type { LeaseTtl } from './leases.js';
import type { ReadKey } from './read.js';
import type { Contender, PartitionMember, PartitionOwner, PartitionView, QueueView, ServiceView } from './types.js';

const PREFIX = /^[A-Za-z0-9._:@=+/-]*$/;

/**
 * Checks an inspect prefix (relative to the namespace): '' (everything), a name, or the
 * start of one: letters, digits, `. _ : @ = + -` and `/`, not starting with `/`.
 * @throws InvalidArgumentError
 */
export function validatePrefix(prefix: unknown): string {
  if (prefix === undefined) return '';
  if (typeof prefix !== 'string') {
    throw new InvalidArgumentError(`inspect prefix must be a string, got ${prefix === null ? 'null' : typeof prefix}`);
  }
  if (prefix.length > 512 || !PREFIX.test(prefix) || prefix.startsWith('/')) {
    throw new InvalidArgumentError(
      `inspect prefix ${JSON.stringify(prefix.slice(0, 80))} is not valid: expected at most 512 letters, digits, . _ : @ = + - and '/', not starting with '/' (e.g. 'jobs/')`,
    );
  }
  return prefix;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The instance a key holds, if it is a registry key with a valid value. */
function asInstance(namespace: string, kv: ReadKey): ServiceInstance | undefined {
  const parts = kv.key.slice(namespace.length).split('/');
  if (parts.length !== 3 || parts[0] !== 'services' || !parts[1] || !parts[2]) return undefined;
  return decodeInstance(servicePrefix(namespace, parts[1]), parts[1], kv);
}

/** The queue name a key is a contender of, if it is one. */
function queueOf(namespace: string, kv: ReadKey): string | undefined {
  if (kv.lease === '0') return undefined;
  const rel = kv.key.slice(namespace.length);
  const slash = rel.lastIndexOf('/');
  if (slash <= 0 || rel.slice(slash + 1) !== leaseHex(kv.lease)) return undefined;
  return rel.slice(0, slash);
}

function toContender(
  kv: ReadKey,
  position: number,
  owner: OwnerInfo,
  holds: boolean | undefined,
  ttl: LeaseTtl | undefined,
): Contender {
  return {
    key: kv.key,
    leaseId: leaseHex(kv.lease),
    token: kv.createRevision,
    position,
    ...(holds !== undefined ? { holds } : {}),
    value: kv.value.toString('utf8'),
    ...owner,
    ...(ttl ? { ttlRemainingS: ttl.remainingS, grantedTtlS: ttl.grantedS } : {}),
  };
}

const byCreate = (a: ReadKey, b: ReadKey) => (a.createRevision < b.createRevision ? -1 : 1);

const MEMBER_KEY = /^(.+)\/members\/([^/]+)$/;
const OWNER_KEY = /^(.+)\/owners\/(0|[1-9][0-9]{0,8})$/;

/** A partition member key's group and member, if its value is a member record of that very id. */
function asMember(
  rel: string,
  kv: ReadKey,
): { group: string; member: PartitionMember; partitions: number } | undefined {
  const m = MEMBER_KEY.exec(rel);
  if (!m || kv.lease === '0' || !kv.value.toString('utf8', 0, 1).startsWith('{')) return undefined;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(kv.value.toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const partitions = v?.partitions;
  if (v?.member !== m[2] || typeof partitions !== 'number' || !Number.isInteger(partitions) || partitions < 1) {
    return undefined;
  }
  const since = typeof v.since === 'number' ? new Date(v.since) : undefined;
  return {
    group: m[1],
    partitions,
    member: {
      member: m[2],
      leaseId: leaseHex(kv.lease),
      owns: [],
      ...(typeof v.host === 'string' ? { host: v.host } : {}),
      ...(typeof v.pid === 'number' && Number.isInteger(v.pid) ? { pid: v.pid } : {}),
      ...(since && !Number.isNaN(since.getTime()) ? { since } : {}),
    },
  };
}

interface GroupKeys {
  partitions: number;
  readonly members: PartitionMember[];
  readonly owners: PartitionOwner[];
}

/** Queues and services of the keys of one read (every key under `namespace`). */
export class Classified {
  /** Contender keys by queue name, in read order. */
  private readonly queueKeys = new Map<string, ReadKey[]>();
  private readonly instances = new Map<string, ServiceInstance[]>();
  private readonly groups = new Map<string, GroupKeys>();
  /** `<namespace><prefix>`: every key under it was read, and none other. */
  private readonly read: string;

  /** `prefix`: the inspected prefix (after the namespace) that `kvs` are all the keys under. */
  constructor(
    private readonly namespace: string,
    kvs: readonly ReadKey[],
    prefix = '',
  ) {
    this.read = `${namespace}${prefix}`;
    for (const kv of kvs) {
      if (!kv.key.startsWith(namespace)) continue;
      const instance = asInstance(namespace, kv);
      if (instance) {
        const list = this.instances.get(instance.service) ?? [];
        list.push(instance);
        this.instances.set(instance.service, list);
        continue;
      }
      const name = queueOf(namespace, kv);
      if (name === undefined) {
        this.partitionKey(kv.key.slice(namespace.length), kv);
        continue;
      }
      const list = this.queueKeys.get(name) ?? [];
      list.push(kv);
      this.queueKeys.set(name, list);
    }
  }

  /** Takes a partition group's member or owner key, if `kv` is one (anything else is left out). */
  private partitionKey(rel: string, kv: ReadKey): void {
    const member = asMember(rel, kv);
    if (member) {
      const g = this.group(member.group);
      g.partitions = Math.max(g.partitions, member.partitions);
      g.members.push(member.member);
      return;
    }
    const owner = OWNER_KEY.exec(rel);
    if (!owner || kv.lease === '0') return;
    this.group(owner[1]).owners.push({
      partition: Number(owner[2]),
      member: kv.value.toString('utf8'),
      token: kv.createRevision,
      leaseId: leaseHex(kv.lease),
    });
  }

  private group(name: string): GroupKeys {
    let g = this.groups.get(name);
    if (!g) {
      g = { partitions: 0, members: [], owners: [] };
      this.groups.set(name, g);
    }
    return g;
  }

  /** The partition groups with a live member, sorted by name. */
  partitions(): PartitionView[] {
    return [...this.groups]
      .filter(([, g]) => g.members.length > 0)
      .sort(([a], [b]) => byName(a, b))
      .map(([name, g]) => {
        const owners = [...g.owners].sort((a, b) => a.partition - b.partition);
        const members = [...g.members].sort((a, b) => byName(a.member, b.member));
        const byId = new Map(members.map((m) => [m.member, m]));
        for (const o of owners) byId.get(o.member)?.owns.push(o.partition);
        const owned = new Set(owners.map((o) => o.partition));
        const unowned = Array.from({ length: g.partitions }, (_, p) => p).filter((p) => !owned.has(p));
        return { name, partitions: g.partitions, members, owners, unowned };
      });
  }

  /** Decimal ids of the contenders' leases (with duplicates). */
  *leases(): Iterable<string> {
    for (const list of this.queueKeys.values()) for (const kv of list) yield kv.lease;
  }

  /** The queues sorted by name, contenders in queue order (create revision), with TTLs where known. */
  queues(ttls: ReadonlyMap<string, LeaseTtl> = new Map()): QueueView[] {
    const sorted = new Map<string, ReadKey[]>();
    for (const [name, keys] of this.queueKeys) sorted.set(name, [...keys].sort(byCreate));
    return [...sorted.keys()].sort(byName).map((name) => ({
      name,
      contenders: (sorted.get(name) ?? []).map((kv, i) => {
        const owner = decodeOwner(kv.value);
        return toContender(kv, i, owner, this.holds(sorted, name, kv, i, owner), ttls.get(kv.lease));
      }),
    }));
  }

  /**
   * Whether a contender holds, as its kind decides from the keys read (see
   * `Contender.holds`); undefined for a read-write side whose other side was not read.
   */
  private holds(
    sorted: ReadonlyMap<string, ReadKey[]>,
    name: string,
    kv: ReadKey,
    position: number,
    owner: OwnerInfo,
  ): boolean | undefined {
    const { kind } = owner;
    if (kind === 'semaphore') return position < (owner.limit ?? 1);
    if (kind !== 'read' && kind !== 'write') return position === 0;
    const side = `/${kind}`;
    if (!name.endsWith(side)) return position === 0;
    const other = `${name.slice(0, -side.length)}/${kind === 'read' ? 'write' : 'read'}`;
    if (!`${this.namespace}${other}/`.startsWith(this.read)) return undefined;
    // A reader waits for older writers; a writer for every older key, readers and writers.
    const olderOther = (sorted.get(other) ?? []).some((o) => o.createRevision < kv.createRevision);
    return kind === 'read' ? !olderOther : position === 0 && !olderOther;
  }

  /** The services sorted by name, instances by id. */
  services(): ServiceView[] {
    return [...this.instances.keys()]
      .sort(byName)
      .map((service) => ({ service, instances: [...(this.instances.get(service) ?? [])].sort(compareById) }));
  }
}
