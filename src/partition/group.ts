/**
 * PartitionGroup: `partitions` units of work spread over the live members of a group.
 *
 * - **Membership**: the member registers `<ns><name>/members/<member>` on its session and
 *   mirrors the members prefix and the owners prefix (one read each, then a watch on the
 *   coordinator's shared watch stream).
 * - **Desired owner** of partition p: rendezvous hashing of p over the live members
 *   (hashing.ts), recomputed when the member list changes; rebalance.ts takes and hands
 *   over partitions to match.
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
import { retryUntilDone } from '../backoff.js';
import { Channel } from '../channel.js';
import type { CoordContext } from '../context.js';
import { ClosedError, isClosedError, isInvalidArgumentError } from '../errors.js';
import { type JobHost, PartitionJob, type PartitionJobOptions, type PartitionTask } from './job.js';
import { deleteGuarded, type Joined, joinGroup } from './membership.js';
import type { Ownership } from './ownership.js';
import { Rebalancer } from './rebalance.js';
import type { PartitionSpec } from './spec.js';

/** Work spread over live members. Create with `coord.partition()`. */
export class PartitionGroup implements AsyncDisposable, JobHost {
  /** The group's name. */
  readonly name: string;
  /** The number of partitions, numbered `0 .. partitions-1`. */
  readonly partitions: number;
  /** This member's id. */
  readonly member: string;
  private readonly jobs = new Set<PartitionJob>();
  private readonly channel = new Channel<ReadonlySet<number>>();
  private readonly stopper = new AbortController();
  private readonly logger: Logger;
  private readonly engine: Rebalancer;
  private joined: Joined | undefined;
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
    this.engine = new Rebalancer({
      ctx,
      spec,
      logger: this.logger,
      stopped: this.stopper.signal,
      changed: () => this.channel.push(this.engine.ownedSet()),
      taken: (o) => {
        for (const job of this.jobs) job.start(o);
      },
      settle: (p) => Promise.all([...this.jobs].map((j) => j.settled(p))).then(() => undefined),
    });
    ctx.closed.addEventListener('abort', this.onClosed, { once: true });
    this.loop = this.membershipLoop();
  }

  private readonly spec: PartitionSpec;

  /** The partitions this member owns now, then the set after every change. Ends after `leave()`. */
  assignments(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<ReadonlySet<number>> {
    return this.channel.iterate({ signal: options.signal, first: [this.engine.ownedSet()] });
  }

  /** The ownerships held now, by partition. */
  owned(): ReadonlyMap<number, Ownership> {
    return this.engine.owned();
  }

  /** The live members as this member sees them now (sorted; empty while not joined). */
  members(): readonly string[] {
    return this.engine.view().members;
  }

  /**
   * The partitions this member should own among the live members it sees now. While it
   * differs from `owned()`, handoffs are under way.
   */
  desired(): ReadonlySet<number> {
    return this.engine.view().desired;
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
    for (const o of this.engine.owned().values()) job.start(o);
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

  private async join(): Promise<Joined> {
    const joined = await joinGroup(this.ctx, this.spec, this.logger, this.stopper.signal, (keys) =>
      this.engine.changed(keys),
    );
    this.joined = joined;
    this.engine.joined = joined;
    const { session } = joined;
    session.signal.addEventListener('abort', () => this.dropJoined(session.signal.reason), { once: true });
    this.engine.reconcile();
    return joined;
  }

  /** Session gone or group halted: every ownership aborts at once, mirrors stop. */
  private dropJoined(reason: unknown): void {
    const joined = this.joined;
    if (!joined) return;
    this.joined = undefined;
    this.engine.joined = undefined;
    joined.members.close();
    joined.owners.close();
    this.engine.dropAll(reason);
  }

  private async doLeave(): Promise<void> {
    this.stopper.abort(new ClosedError(`${this.name}: left the group`));
    await this.loop;
    const joined = this.joined;
    if (joined?.session.isAlive) {
      await deleteGuarded(this.ctx, `${this.name}: leave`, joined.memberKey, joined.memberToken).catch((err) =>
        this.logger.warn({ err }, `${this.name}: could not delete the member key; it expires with the lease`),
      );
    }
    await this.engine.releaseAll();
    await Promise.all([...this.jobs].map((j) => j.stop()));
    this.finish();
  }

  /** Stops without writing (the coordinator closed, or the given session ended). */
  private halt(reason: unknown): void {
    if (!this.stopped) this.stopper.abort(reason);
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
