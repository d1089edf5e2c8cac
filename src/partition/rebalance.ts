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
import { Ownership, ownerKey } from './ownership.js';
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
    this.refreshDesired(this.joined);
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

  /** Compares what this member holds with what it should hold, and starts takes and handoffs. */
  reconcile(): void {
    const joined = this.joined;
    if (!joined || this.stopped || !joined.session.isAlive) return;
    this.refreshDesired(joined);
    const lease = joined.session.leaseIdDecimal;
    for (let p = 0; p < this.host.spec.partitions; p++) {
      if (this.busy.has(p)) continue;
      const key = ownerKey(this.host.ctx.namespace, this.host.spec.name, p);
      const entry = joined.owners.entries.get(key);
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
        if (blockedAt !== undefined && joined.owners.revision < blockedAt) continue;
        this.blocked.delete(p);
        this.track(p, this.take(p, joined));
      }
    }
  }

  private refreshDesired(joined: Joined): void {
    const ids = liveMembers(this.host.ctx, this.host.spec.name, joined);
    const fingerprint = ids.join('\n');
    if (fingerprint === this.desiredFor && this.desired.length === this.host.spec.partitions) return;
    this.desiredFor = fingerprint;
    const ring = new Rendezvous(ids);
    this.desired = Array.from({ length: this.host.spec.partitions }, (_, p) => ring.owner(p));
  }

  /** Runs an operation on partition p, one at a time per partition; looks again when it ends. */
  private track(p: number, op: Promise<unknown>): void {
    this.busy.add(p);
    const done = op.then(
      () => undefined,
      (err) => {
        if (!this.stopped)
          this.host.logger.warn({ err, partition: p }, `${this.host.spec.name}: partition ${p}: retrying`);
        this.later();
      },
    );
    this.ops.add(done);
    void done.finally(() => {
      this.ops.delete(done);
      this.busy.delete(p);
      this.reconcile();
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
