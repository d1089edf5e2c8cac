/**
 * The public shape of `coord.inspect()`: who holds and who waits in every queue (lock,
 * semaphore, read-write lock, election) and which instances every service has, read at
 * one etcd revision.
 * @module
 */
import type { ServiceInstance } from '../registry/types.js';

/**
 * Everything under a prefix at one etcd revision: one consistent read of the keys, plus
 * the lease TTLs of the contenders (asked right after that read).
 */
export interface Snapshot {
  /** The etcd revision every queue and service was read at. */
  readonly revision: bigint;
  /** When etcd answered the read (this process's clock). */
  readonly takenAt: Date;
  /** Every queue under the prefix that has a contender, sorted by name. */
  readonly queues: QueueView[];
  /** Every service under the prefix that has a valid instance, sorted by name. */
  readonly services: ServiceView[];
  /** Every partition group (`coord.partition()`) under the prefix that has a live member, sorted by name. */
  readonly partitions: PartitionView[];
}

/** One partition group: its live members and who owns each partition. */
export interface PartitionView {
  /** The group's name without the namespace. */
  readonly name: string;
  /** How many partitions the group has, as its member keys say (the largest, if they disagree). */
  readonly partitions: number;
  /** The live members, sorted by id, each with the partitions it owns. */
  readonly members: PartitionMember[];
  /** Every owner key, by partition. */
  readonly owners: PartitionOwner[];
  /** Partitions with no owner key: a handoff under way, or no member to take them. */
  readonly unowned: number[];
}

/** A live member of a partition group (its key `<name>/members/<member>`). */
export interface PartitionMember {
  /** The member's id. */
  readonly member: string;
  /** Its session's lease, lower-case hex. */
  readonly leaseId: string;
  /** The partitions it owns, ascending. */
  readonly owns: number[];
  /** Host name of the member's process, from its key. */
  readonly host?: string;
  /** Process id of the member's process, from its key. */
  readonly pid?: number;
  /** When it joined the group, from its key. */
  readonly since?: Date;
}

/** The owner key of one partition (`<name>/owners/<partition>`). */
export interface PartitionOwner {
  readonly partition: number;
  /** The owning member's id (the key's value). */
  readonly member: string;
  /** The ownership's fencing token: the owner key's create revision. */
  readonly token: bigint;
  /** The owner's session lease, lower-case hex. */
  readonly leaseId: string;
}

/**
 * One queue: the contenders of a lock, semaphore, election, or one side of a read-write
 * lock (`<name>/read` and `<name>/write` are queues of their own), in queue order.
 */
export interface QueueView {
  /**
   * The queue's name without the namespace: the mutex, semaphore or election name
   * (`<name>/read`, `<name>/write` for the sides of a read-write lock).
   */
  readonly name: string;
  /** Oldest first, in queue order; `holds` says which of them hold. */
  readonly contenders: Contender[];
}

/** One key in a queue: who holds or waits, and for how long its lease still runs. */
export interface Contender {
  /** The full etcd key, `<namespace><name>/<leaseId hex>`. */
  readonly key: string;
  /** The lease the key lives on, lower-case hex. */
  readonly leaseId: string;
  /** The key's create revision: its fencing token and its place in the queue. */
  readonly token: bigint;
  /** Index in queue order, 0 for the head of the queue (how many are ahead of it). */
  readonly position: number;
  /**
   * Whether it holds (or leads) at the snapshot's revision, as its kind decides from the
   * keys read: the head of a mutex's or an election's queue (and of Go's and etcdctl's); a
   * semaphore's first `limit` (from its owner record); a reader with no older writer; a
   * writer at the head of its side with no older reader. Undefined when the keys read
   * cannot tell: a read-write lock side whose other side lies outside the inspected prefix.
   */
  readonly holds?: boolean;
  /** From the owner record of a semaphore ('semaphore') or a read-write lock side ('read', 'write'); a mutex's says none. */
  readonly kind?: 'semaphore' | 'read' | 'write';
  /** From a semaphore's owner record: how many of the queue's first keys hold. */
  readonly limit?: number;
  /** The key's value (UTF-8): an owner record for locks, the candidate's value for elections, '' from Go/etcdctl. */
  readonly value: string;
  /** From the owner record; undefined for an unknown owner (empty or foreign value, an election). */
  readonly owner?: string;
  /** Host name of the owner's process, from the owner record. */
  readonly host?: string;
  /** Process id of the owner's process, from the owner record. */
  readonly pid?: number;
  /** When the key joined the queue, from the owner record. */
  readonly since?: Date;
  /** Seconds the lease has left (asked right after the read); undefined when the lease is gone by then. */
  readonly ttlRemainingS?: number;
  /** The lease's granted TTL in seconds; undefined when the lease is gone by then. */
  readonly grantedTtlS?: number;
}

/** One service and its instances, sorted by id (as `registry.list()` returns them). */
export interface ServiceView {
  /** The service name. */
  readonly service: string;
  /** The instances registered at the snapshot's revision. */
  readonly instances: ServiceInstance[];
}

/** Options of `coord.inspect()`. */
export interface InspectOptions {
  /** Abandons the reads: `inspect()` rejects with `signal.reason`. */
  signal?: AbortSignal;
}
