/**
 * Ownership: one partition held by this member, proven by its owner key
 * `<namespace><name>/owners/<p>` on the member's session. The token is the key's create
 * revision; `txn()` carries `CreateRevision(ownerKey) == token`, so a write of an owner
 * that lost the partition (its lease expired while it was paused, the key was handed
 * over) is refused by etcd, whatever the owner believes.
 * @module
 */
import type { ComparatorBuilder } from 'etcd3';
import type { CoordContext } from '../context.js';
import { ifCreateRevisionIs } from '../keys.js';

/** `<namespace><name>/owners/<p>` */
export function ownerKey(namespace: string, name: string, partition: number): string {
  return `${ownersPrefix(namespace, name)}${partition}`;
}

/** `<namespace><name>/owners/` */
export function ownersPrefix(namespace: string, name: string): string {
  return `${namespace}${name}/owners/`;
}

/** `<namespace><name>/members/` */
export function membersPrefix(namespace: string, name: string): string {
  return `${namespace}${name}/members/`;
}

/** One partition this member owns. Handed out by a `PartitionGroup`. */
export class Ownership {
  /** Aborts when the partition is lost (session lost, owner key gone) or handed over (rebalance, `leave()`). */
  readonly signal: AbortSignal;

  /** @internal handed out by the group. */
  constructor(
    private readonly ctx: CoordContext,
    /** The partition number, `0 .. partitions-1`. */
    readonly partition: number,
    /** The fencing token: the owner key's create revision. Grows with every new owner of the partition. */
    readonly token: bigint,
    /** The full etcd key that proves the ownership. */
    readonly key: string,
    signal: AbortSignal,
  ) {
    this.signal = signal;
  }

  /**
   * A transaction that succeeds only while this ownership holds (the owner key still has
   * create revision `token`). Keys are relative to the coordinator's namespace. E.g.
   * `await o.txn().then(coord.kv.put('data/7').value(v)).commit()` and check `succeeded`.
   */
  txn(): ComparatorBuilder {
    return ifCreateRevisionIs(this.ctx.kv, this.key.slice(this.ctx.namespace.length), this.token);
  }

  /** The same ownership with a signal that also aborts with `extra` (a job's stop). @internal */
  narrowed(extra: AbortSignal): Ownership {
    return new Ownership(this.ctx, this.partition, this.token, this.key, AbortSignal.any([this.signal, extra]));
  }
}
