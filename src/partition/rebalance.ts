/**
 * The rebalancing engine of a partition group: compares the partitions this member holds
 * with those rendezvous hashing gives it over the live members, and takes, hands over or
 * drops partitions, one operation at a time per partition, all partitions in parallel.
 *
 * - **take** p (desired here, owner key absent in the mirror): create the owner key if
 *   absent on the session; etcd decides (`CreateRevision == 0`), the mirror only hints.
 * - **hand over** p (no longer desired here): abort the ownership's signal, wait for its
 *   tasks to settle, then delete the owner key guarded by the token.
 * - **lose** p (the owner key went or changed under it): abort, wait for its tasks.
 * @internal
 * @module
 */
import type { Logger } from 'pino';
import type { CoordContext } from '../context.js';
import { CoordinationError } from '../errors.js';
import { Rendezvous } from './hashing.js';
import { createIfAbsent, deleteGuarded, type Joined, liveMembers } from './membership.js';
import { Ownership, ownerKey, ownersPrefix } from './ownership.js';
import type { PartitionSpec } from './spec.js';

interface Held {
  readonly ownership: Ownership;
  readonly controller: AbortController;
}

/** Pause before a partition whose take or handoff failed is looked at again, ms. */
const RETRY_MS = 300;

/** What the engine needs from its group. */
export interface RebalanceHost {
  readonly ctx: CoordContext;
  readonly spec: PartitionSpec;
  readonly logger: Logger;
  /** Aborted when the group stops: no take or handoff starts after it. */
  readonly stopped: AbortSignal;
  /** The owned set changed. */
  changed(): void;
  /** A partition was taken: start its tasks. */
  taken(ownership: Ownership): void;
  /** Resolves once the tasks of partition p settled. */
  settle(p: number): Promise<void>;
}

/** @internal */
export class Rebalancer {
  /** The current membership (undefined while not joined). */
  joined: Joined | undefined;
  private readonly held = new Map<number, Held>();
  private readonly busy = new Set<number>();
  /** Partitions whose create found the key held, until the owners mirror passes that revision. */
  private readonly blocked = new Map<number, bigint>();
  private readonly ops = new Set<Promise<void>>();
  private desired: (string | undefined)[] = [];
  private desiredFor = '';
  private retryTimer: NodeJS.Timeout | undefined;
  /** Partitions to look at in the next pass; all of them when `dirtyAll`. */
  private readonly dirty = new Set<number>();
  private dirtyAll = false;
  private scheduled = false;

  constructor(private readonly host: RebalanceHost) {}

  private get stopped(): boolean {
    return this.host.stopped.aborted;
  }

  /** The ownerships held now. */
  owned(): ReadonlyMap<number, Ownership> {
    return new Map([...this.held].map(([p, h]) => [p, h.ownership]));
  }

  /** The partitions held now. */
  ownedSet(): ReadonlySet<number> {
    return new Set(this.held.keys());
  }

  /** The live members as last seen (sorted), and the partitions rendezvous hashing gives this member among them. */
  view(): { members: readonly string[]; desired: ReadonlySet<number> } {
    if (!this.joined) return { members: [], desired: new Set() };
    if (this.refreshDesired(this.joined)) {
      this.dirtyAll = true;
      this.schedule();
    }
    const me = this.host.spec.member;
    const desired = new Set<number>();
    this.desired.forEach((m, p) => {
      if (m === me) desired.add(p);
    });
    return { members: this.desiredFor === '' ? [] : this.desiredFor.split('\n'), desired };
  }

  /** The session is gone: every ownership aborts at once. */
  dropAll(reason: unknown): void {
    for (const [p, h] of [...this.held]) {
      this.held.delete(p);
      h.controller.abort(reason);
    }
    this.host.changed();
  }

  /** After the group stopped: waits for operations in flight, then hands every partition over. */
  async releaseAll(): Promise<void> {
    clearTimeout(this.retryTimer);
    await Promise.all([...this.ops]);
    await Promise.all(
      [...this.held].map(([p, h]) =>
        this.handOff(p, h).catch((err) =>
          this.host.logger.warn({ err, partition: p }, `${this.host.spec.name}: could not hand partition ${p} over`),
        ),
      ),
    );
  }

  /** Looks at every partition now. */
  reconcile(): void {
    this.dirtyAll = true;
    this.flush();
  }

  /** The mirrors changed: the given owner keys, or (undefined) the member list. Looked at in the next turn. */
  changed(ownerKeys: readonly string[] | undefined): void {
    if (ownerKeys === undefined) this.dirtyAll = true;
    else {
      const prefix = ownersPrefix(this.host.ctx.namespace, this.host.spec.name);
      for (const key of ownerKeys) {
        const p = Number(key.slice(prefix.length));
        if (Number.isInteger(p) && p >= 0 && p < this.host.spec.partitions) this.dirty.add(p);
      }
    }
    this.schedule();
  }

  /** Coalesces the changes of one turn (a watch response, ops ending together) into one pass. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Compares what this member holds with what it should hold (for the dirty partitions), and starts takes and handoffs. */
  private flush(): void {
    const joined = this.joined;
    if (!joined || this.stopped || !joined.session.isAlive) return;
    const membersChanged = this.refreshDesired(joined);
    const all = this.dirtyAll || membersChanged;
    const todo = all ? undefined : [...this.dirty];
    this.dirtyAll = false;
    this.dirty.clear();
    const count = todo ? todo.length : this.host.spec.partitions;
    for (let i = 0; i < count; i++) {
      this.look(todo ? todo[i] : i, joined);
    }
  }

  /** Takes, hands over or drops partition p if needed. */
  private look(p: number, joined: Joined): void {
    if (this.busy.has(p)) return;
    const lease = joined.session.leaseIdDecimal;
    const entry = joined.owners.entries.get(ownerKey(this.host.ctx.namespace, this.host.spec.name, p));
    const held = this.held.get(p);
    const mine = this.desired[p] === this.host.spec.member;
    if (held) {
      const token = held.ownership.token;
      if (joined.owners.revision >= token && (!entry || entry.lease !== lease || entry.modRevision < token)) {
        this.track(p, this.lose(p, held));
      } else if (!mine) {
        this.track(p, this.handOff(p, held));
      }
    } else if (mine && (!entry || entry.lease === lease)) {
      const blockedAt = this.blocked.get(p);
      if (blockedAt !== undefined && joined.owners.revision < blockedAt) return;
      this.blocked.delete(p);
      this.track(p, this.take(p, joined));
    }
  }

  /** Recomputes the desired owners if the member list changed; true when it did. */
  private refreshDesired(joined: Joined): boolean {
    const ids = liveMembers(this.host.ctx, this.host.spec.name, joined);
    const fingerprint = ids.join('\n');
    if (fingerprint === this.desiredFor && this.desired.length === this.host.spec.partitions) return false;
    this.desiredFor = fingerprint;
    const ring = new Rendezvous(ids);
    this.desired = Array.from({ length: this.host.spec.partitions }, (_, p) => ring.owner(p));
    return true;
  }

  /** Runs an operation on partition p, one at a time per partition; looks again when it ends (after a pause if it failed). */
  private track(p: number, op: Promise<unknown>): void {
    this.busy.add(p);
    let failed = false;
    const done = op.then(
      () => undefined,
      (err) => {
        failed = true;
        if (!this.stopped)
          this.host.logger.warn({ err, partition: p }, `${this.host.spec.name}: partition ${p}: retrying`);
        this.later();
      },
    );
    this.ops.add(done);
    void done.finally(() => {
      this.ops.delete(done);
      this.busy.delete(p);
      if (failed) return; // the pass after the pause looks at it
      this.dirty.add(p);
      this.schedule();
    });
  }

  private later(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.reconcile();
    }, RETRY_MS);
    this.retryTimer.unref?.();
  }

  private async take(p: number, joined: Joined): Promise<void> {
    const key = ownerKey(this.host.ctx.namespace, this.host.spec.name, p);
    const { session } = joined;
    const res = await createIfAbsent(
      this.host.ctx,
      `${this.host.spec.name}: take partition ${p}`,
      key,
      Buffer.from(this.host.spec.member),
      session.leaseIdDecimal,
    );
    if (!res) return;
    if (!res.mine) {
      this.blocked.set(p, res.revision);
      return;
    }
    if (this.stopped || this.joined !== joined || !session.isAlive) {
      if (session.isAlive) await deleteGuarded(this.host.ctx, `${this.host.spec.name}: give back ${p}`, key, res.token);
      return;
    }
    const controller = new AbortController();
    const ownership = new Ownership(this.host.ctx, p, res.token, key, controller.signal);
    this.held.set(p, { ownership, controller });
    this.host.logger.debug({ partition: p, token: res.token }, `${this.host.spec.name}: took partition ${p}`);
    this.host.changed();
    this.host.taken(ownership);
  }

  /** Gives p up: abort, wait for its tasks, delete the owner key (guarded by the token). */
  private async handOff(p: number, held: Held): Promise<void> {
    this.held.delete(p);
    held.controller.abort(new CoordinationError(`${this.host.spec.name}: partition ${p} handed over`));
    this.host.changed();
    await this.host.settle(p);
    const { key, token } = held.ownership;
    await deleteGuarded(this.host.ctx, `${this.host.spec.name}: hand over ${p}`, key, token);
    this.host.logger.debug({ partition: p, token }, `${this.host.spec.name}: handed partition ${p} over`);
  }

  /** The owner key went or changed under me: abort, and take nothing for p until its tasks settled. */
  private async lose(p: number, held: Held): Promise<void> {
    this.held.delete(p);
    held.controller.abort(new CoordinationError(`${this.host.spec.name}: partition ${p} lost (its owner key went)`));
    this.host.logger.warn({ partition: p }, `${this.host.spec.name}: lost partition ${p}`);
    this.host.changed();
    await this.host.settle(p);
  }
}
