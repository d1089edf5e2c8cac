/**
 * PartitionGroup: `partitions` units of work spread over the live members of a group.
 *
 * - **Membership**: the member registers `<ns><name>/members/<member>` on its session and
 *   mirrors the members prefix and the owners prefix (one read each, then a watch on the
 *   coordinator's shared watch stream).
 * - **Desired owner** of partition p: rendezvous hashing of p over the live members
 *   (hashing.ts), recomputed when the member list changes.
 * - **Ownership**: a member owns p only while it holds `<ns><name>/owners/<p>`, created
 *   if absent on its session; the token is that key's create revision. It takes p only
 *   when p is its desired partition and the mirror shows the owner key gone (etcd checks
 *   again: the create is guarded by `CreateRevision == 0`).
 * - **Handoff**: a member that should no longer own p aborts the ownership's signal,
 *   waits for its tasks to settle, then deletes the owner key guarded by its token. The
 *   new owner sees the delete (or the old lease's expiry) and creates the key.
 * - **Loss**: the session lost aborts every ownership at once; an owner key deleted or
 *   replaced under it aborts that one. On the shared default session the member joins
 *   again with a fresh session; on a session given to it, the group ends.
 * @module
 */
import type { Logger } from 'pino';
import { Channel } from '../channel.js';
import type { CoordContext } from '../context.js';
import { ClosedError, ConflictError, CoordinationError, isClosedError, isInvalidArgumentError } from '../errors.js';
import type { Session } from '../lease/session.js';
import { retryUntilDone } from '../registry/backoff.js';
import { RangeMirror } from '../registry/mirror.js';
import { desiredOwner } from './hashing.js';
import { type JobHost, PartitionJob, type PartitionJobOptions, type PartitionTask } from './job.js';
import { createIfAbsent, deleteGuarded, encodeMember } from './membership.js';
import { membersPrefix, Ownership, ownerKey, ownersPrefix } from './ownership.js';
import type { PartitionSpec } from './spec.js';

interface Held {
  readonly ownership: Ownership;
  readonly controller: AbortController;
}

interface Joined {
  readonly session: Session;
  readonly memberToken: bigint;
  readonly members: RangeMirror;
  readonly owners: RangeMirror;
}

/** Pause before a partition whose take or handoff failed is looked at again, ms. */
const RETRY_MS = 300;

/** Work spread over live members. Create with `coord.partition()`. */
export class PartitionGroup implements AsyncDisposable, JobHost {
  /** The group's name. */
  readonly name: string;
  /** The number of partitions, numbered `0 .. partitions-1`. */
  readonly partitions: number;
  /** This member's id. */
  readonly member: string;
  private readonly held = new Map<number, Held>();
  private readonly busy = new Set<number>();
  /** Partitions whose create found the key held, until the owners mirror passes that revision. */
  private readonly blocked = new Map<number, bigint>();
  private readonly jobs = new Set<PartitionJob>();
  private readonly channel = new Channel<ReadonlySet<number>>();
  private readonly stopper = new AbortController();
  private readonly ops = new Set<Promise<void>>();
  private readonly logger: Logger;
  private joined: Joined | undefined;
  private desired: (string | undefined)[] = [];
  private desiredFor = '';
  private retryTimer: NodeJS.Timeout | undefined;
  private leaving: Promise<void> | undefined;
  private readonly loop: Promise<void>;
  private readonly onClosed = () => this.halt(new ClosedError('the coordinator was closed'));

  /** @internal use `coord.partition()`. */
  constructor(
    private readonly ctx: CoordContext,
    spec: PartitionSpec,
  ) {
    this.name = spec.name;
    this.partitions = spec.partitions;
    this.member = spec.member;
    this.spec = spec;
    this.logger = ctx.logger('partition').child({ group: spec.name, member: spec.member });
    ctx.closed.addEventListener('abort', this.onClosed, { once: true });
    this.loop = this.membershipLoop();
  }

  private readonly spec: PartitionSpec;

  /** The partitions this member owns now, then the set after every change. Ends after `leave()`. */
  assignments(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<ReadonlySet<number>> {
    return this.channel.iterate({ signal: options.signal, first: [new Set(this.held.keys())] });
  }

  /** The ownerships held now, by partition. */
  owned(): ReadonlyMap<number, Ownership> {
    return new Map([...this.held].map(([p, h]) => [p, h.ownership]));
  }

  /**
   * Runs `task(ownership)` for every partition this member owns, now and later; restarts
   * a task that returned or threw after a backoff; aborts it on handoff or loss.
   * @throws InvalidArgumentError for a task that is not a function or bad backoff options.
   */
  run(task: PartitionTask, options: PartitionJobOptions = {}): PartitionJob {
    const job = new PartitionJob(this, task, options, this.logger);
    if (job.stopped || this.stopper.signal.aborted) {
      void job.stop();
      return job;
    }
    this.jobs.add(job);
    for (const h of this.held.values()) job.start(h.ownership);
    return job;
  }

  /**
   * Leaves the group: deletes the member key, hands every partition over (aborts its
   * signal, waits for its tasks, deletes its owner key) and stops every job. Resolves
   * once that is done (if etcd cannot be reached, the keys expire with the lease). Safe
   * to call twice; never rejects.
   */
  leave(): Promise<void> {
    this.leaving ??= this.doLeave();
    return this.leaving;
  }

  /** Same as {@link leave}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.leave();
  }

  /** @internal */
  detach(job: PartitionJob): void {
    this.jobs.delete(job);
  }

  private get stopped(): boolean {
    return this.stopper.signal.aborted;
  }

  private emit(): void {
    this.channel.push(new Set(this.held.keys()));
  }

  private async membershipLoop(): Promise<void> {
    while (!this.stopped) {
      const done = await retryUntilDone(
        () => this.join(),
        this.stopper.signal,
        (err, attempts) => {
          if (isClosedError(err) || isInvalidArgumentError(err) || this.spec.session?.isAlive === false) return 'stop';
          this.logger[attempts === 1 ? 'warn' : 'debug']({ err, attempts }, `${this.name}: join failed; retrying`);
          return 'retry';
        },
      );
      if (!done || this.stopped) break;
      const { session } = done.value;
      await new Promise<void>((resolve) => {
        const signals = [session.signal, this.stopper.signal];
        if (signals.some((s) => s.aborted)) resolve();
        else for (const s of signals) s.addEventListener('abort', () => resolve(), { once: true });
      });
      if (this.stopped) break;
      this.logger.warn(`${this.name}: session lost; every partition is given up`);
      this.dropJoined(session.signal.reason);
      if (this.spec.session) break;
    }
    if (!this.stopped) this.halt(this.spec.session?.signal.reason ?? new ClosedError('the group ended'));
  }

  /** Registers the member key on a live session and starts both mirrors. */
  private async join(): Promise<Joined> {
    const session = this.spec.session ?? (await this.ctx.defaultSession(this.stopper.signal));
    session.throwIfLost();
    const key = `${membersPrefix(this.ctx.namespace, this.name)}${this.member}`;
    const created = await createIfAbsent(
      this.ctx,
      `${this.name}: register member ${this.member}`,
      key,
      encodeMember(this.member, this.partitions),
      session.leaseIdDecimal,
    );
    if (!created) throw new CoordinationError(`${this.name}: member key ${key} changed while joining`);
    if (!created.mine) throw new ConflictError(`${this.name}: member ${this.member} is already live in this group`);
    const mirror = (prefix: string, what: string) =>
      new RangeMirror({
        ctx: this.ctx,
        logger: this.logger,
        what: `${this.name}: ${what}`,
        key: prefix,
        prefix: true,
        onChanges: () => this.reconcile(),
      });
    const members = mirror(membersPrefix(this.ctx.namespace, this.name), 'members');
    const owners = mirror(ownersPrefix(this.ctx.namespace, this.name), 'owners');
    try {
      const [m, o] = await Promise.all([members.read(this.stopper.signal), owners.read(this.stopper.signal)]);
      session.throwIfLost();
      this.stopper.signal.throwIfAborted();
      members.start(m);
      owners.start(o);
    } catch (err) {
      members.close();
      owners.close();
      await deleteGuarded(this.ctx, `${this.name}: unregister`, key, created.token).catch(() => undefined);
      throw err;
    }
    const joined: Joined = { session, memberToken: created.token, members, owners };
    this.joined = joined;
    session.signal.addEventListener('abort', () => this.dropJoined(session.signal.reason), { once: true });
    this.logger.info({ lease: session.leaseId }, `${this.name}: joined as ${this.member}`);
    this.reconcile();
    return joined;
  }

  /** Session gone or group halted: every ownership aborts at once, mirrors stop. */
  private dropJoined(reason: unknown): void {
    const joined = this.joined;
    if (!joined) return;
    this.joined = undefined;
    joined.members.close();
    joined.owners.close();
    for (const [p, h] of [...this.held]) {
      this.held.delete(p);
      h.controller.abort(reason);
    }
    this.emit();
  }

  /** Compares what this member holds with what it should hold, and starts takes and handoffs. */
  private reconcile(): void {
    const joined = this.joined;
    if (!joined || this.stopped || !joined.session.isAlive) return;
    this.refreshDesired(joined.members);
    const lease = joined.session.leaseIdDecimal;
    for (let p = 0; p < this.partitions; p++) {
      if (this.busy.has(p)) continue;
      const key = ownerKey(this.ctx.namespace, this.name, p);
      const entry = joined.owners.entries.get(key);
      const held = this.held.get(p);
      const mine = this.desired[p] === this.member;
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

  private refreshDesired(members: RangeMirror): void {
    const prefix = membersPrefix(this.ctx.namespace, this.name);
    const ids = [...members.entries.keys()].map((k) => k.slice(prefix.length)).sort();
    const fingerprint = ids.join('\n');
    if (fingerprint === this.desiredFor && this.desired.length === this.partitions) return;
    this.desiredFor = fingerprint;
    this.desired = Array.from({ length: this.partitions }, (_, p) => desiredOwner(p, ids));
  }

  /** Runs an operation on partition p, one at a time per partition; looks again when it ends. */
  private track(p: number, op: Promise<unknown>): void {
    this.busy.add(p);
    const done = op.then(
      () => undefined,
      (err) => {
        if (!this.stopped) this.logger.warn({ err, partition: p }, `${this.name}: partition ${p}: retrying`);
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
    const key = ownerKey(this.ctx.namespace, this.name, p);
    const { session } = joined;
    const res = await createIfAbsent(
      this.ctx,
      `${this.name}: take partition ${p}`,
      key,
      Buffer.from(this.member),
      session.leaseIdDecimal,
    );
    if (!res) return;
    if (!res.mine) {
      this.blocked.set(p, res.revision);
      return;
    }
    if (this.stopped || this.joined !== joined || !session.isAlive) {
      if (session.isAlive) await deleteGuarded(this.ctx, `${this.name}: give back ${p}`, key, res.token);
      return;
    }
    const controller = new AbortController();
    const ownership = new Ownership(this.ctx, p, res.token, key, controller.signal);
    this.held.set(p, { ownership, controller });
    this.logger.debug({ partition: p, token: res.token }, `${this.name}: took partition ${p}`);
    this.emit();
    for (const job of this.jobs) job.start(ownership);
  }

  private async settle(p: number): Promise<void> {
    await Promise.all([...this.jobs].map((j) => j.settled(p)));
  }

  /** Gives p up: abort, wait for its tasks, delete the owner key (guarded by the token). */
  private async handOff(p: number, held: Held): Promise<void> {
    this.held.delete(p);
    held.controller.abort(new CoordinationError(`${this.name}: partition ${p} handed over`));
    this.emit();
    await this.settle(p);
    const { key, token } = held.ownership;
    await deleteGuarded(this.ctx, `${this.name}: hand over ${p}`, key, token);
    this.logger.debug({ partition: p, token }, `${this.name}: handed partition ${p} over`);
  }

  /** The owner key went or changed under me: abort, and take nothing for p until its tasks settled. */
  private async lose(p: number, held: Held): Promise<void> {
    this.held.delete(p);
    held.controller.abort(new CoordinationError(`${this.name}: partition ${p} lost (its owner key went)`));
    this.logger.warn({ partition: p }, `${this.name}: lost partition ${p}`);
    this.emit();
    await this.settle(p);
  }

  private async doLeave(): Promise<void> {
    this.stopper.abort(new ClosedError(`${this.name}: left the group`));
    clearTimeout(this.retryTimer);
    await this.loop;
    const joined = this.joined;
    if (joined?.session.isAlive) {
      const memberKey = `${membersPrefix(this.ctx.namespace, this.name)}${this.member}`;
      await deleteGuarded(this.ctx, `${this.name}: leave`, memberKey, joined.memberToken).catch((err) =>
        this.logger.warn({ err }, `${this.name}: could not delete the member key; it expires with the lease`),
      );
    }
    await Promise.all([...this.ops]);
    await Promise.all(
      [...this.held].map(([p, h]) =>
        this.handOff(p, h).catch((err) =>
          this.logger.warn({ err, partition: p }, `${this.name}: could not hand partition ${p} over`),
        ),
      ),
    );
    await Promise.all([...this.jobs].map((j) => j.stop()));
    this.finish();
  }

  /** Stops without writing (the coordinator closed, or the given session ended). */
  private halt(reason: unknown): void {
    if (!this.stopped) this.stopper.abort(reason);
    clearTimeout(this.retryTimer);
    this.dropJoined(reason);
    for (const j of [...this.jobs]) void j.stop();
    this.finish();
  }

  private finish(): void {
    this.ctx.closed.removeEventListener('abort', this.onClosed);
    this.joined?.members.close();
    this.joined?.owners.close();
    this.joined = undefined;
    this.channel.end();
  }
}
