/**
 * Election: leader election on the lock queue ("a leadership is a queue position with a
 * value"), in the key layout of Go's `concurrency.Election`: each candidate's key is
 * `<namespace><name>/<leaseId hex>` with its value, and the leader is the direct child
 * with the lowest create revision. It contends correctly with Go services and
 * `etcdctl elect`.
 * @module
 */
import type { CoordContext } from '../context.js';
import { InvalidArgumentError, LockTimeoutError } from '../errors.js';
import { queueKey, queuePrefix, validateName } from '../keys.js';
import { checkSessionOption } from '../lease/check.js';
import type { Session } from '../lease/session.js';
import { type AcquireOptions, type AcquirePlan, acquire } from '../queue/acquire.js';
import { directChildren } from '../queue/range.js';
import type { Blockers } from '../queue/spec.js';
import { type LeaderInfo, readLeader } from './leader.js';
import { LeaderJob, type LeaderJobOptions, type LeaderTask } from './leader-job.js';
import { Leadership } from './leadership.js';
import { type LeaderUpdate, observeLeader, observeUpdates } from './observe.js';

/** Options of `coord.election()`. */
export interface ElectionOptions {
  /** The session to campaign on. Default: the coordinator's shared session (a fresh one after loss). */
  session?: Session;
}

/** Options of {@link Election.campaign}: `signal` gives up the campaign (rejecting with its reason), `timeoutMs` gives up with {@link LockTimeoutError}; neither leaves a key behind. */
export type CampaignOptions = AcquireOptions;

/** A named leader election. Create with `coord.election(name)`. */
export class Election {
  /** The election's name. */
  readonly name: string;
  /** `<namespace><name>/`: every candidate's key starts with it. */
  readonly prefix: string;
  private readonly what: string;
  private readonly session: Session | undefined;
  private readonly blockers: Blockers;

  /** @internal use `coord.election()`. */
  constructor(
    private readonly ctx: CoordContext,
    name: string,
    options: ElectionOptions = {},
  ) {
    this.name = validateName(name, 'election name');
    this.session = checkSessionOption(options.session, 'election options.session');
    this.prefix = queuePrefix(ctx.namespace, this.name);
    this.what = `election ${this.name}`;
    this.blockers = { prefix: this.prefix, limit: 1, member: directChildren(this.prefix) };
  }

  /**
   * Campaigns with `value` and resolves once this candidate leads. Waits in line behind
   * the candidates before it, watching only its predecessor, and checks after the wait
   * that its key still exists. An aborted or timed-out campaign deletes its key first.
   * @throws InvalidArgumentError when `value` is not a string (nothing is written)
   * @throws LockTimeoutError after `timeoutMs`
   * @throws SessionLostError when the session is lost while waiting
   */
  async campaign(value: string, options: CampaignOptions = {}): Promise<Leadership> {
    return acquire(this.plan('campaign', value), true, options);
  }

  /**
   * Leads with `value` only if nobody leads or waits now; never waits. Resolves undefined
   * otherwise, leaving no key behind (like `Mutex.tryAcquire()`).
   * @throws InvalidArgumentError when `value` is not a string (nothing is written)
   */
  async tryCampaign(value: string, options: { signal?: AbortSignal } = {}): Promise<Leadership | undefined> {
    return acquire(this.plan('tryCampaign', value), false, options);
  }

  /** The acquire pipeline's plan for one campaign with `value`. @throws InvalidArgumentError */
  private plan(call: string, value: string): AcquirePlan<Leadership> {
    if (typeof value !== 'string') {
      throw new InvalidArgumentError(`${this.what}: ${call}(value): value must be a string, got ${typeof value}`);
    }
    const { ctx, name, what } = this;
    return {
      ctx,
      what,
      spanName: 'election.campaign',
      spanAttributes: { name, kind: 'election' },
      session: this.session,
      keyOf: (session) => queueKey(ctx.namespace, name, session.leaseId),
      value: () => Buffer.from(value),
      blockers: this.blockers,
      timeoutError: (ms) => new LockTimeoutError(`${what}: not elected within ${ms} ms; no key was left behind`),
      hold: async (turn, session, exitLine) => {
        const leadership = new Leadership({ ctx, name, what, session, exitLine }, turn, value);
        if (turn.found && !turn.found.equals(Buffer.from(value))) {
          // My key was left by an earlier campaign on this session with another value.
          await leadership.proclaim(value).catch(async (err) => {
            await leadership.resign().catch(() => undefined);
            throw err;
          });
        }
        // Ended already (its session was lost): its key went with the lease and the line was exited.
        leadership.signal.throwIfAborted();
        return leadership;
      },
      acquired: (token, waitMs) => ctx.emit({ type: 'leadership.acquired', name, waitMs, token }),
      holdBeforeReport: true,
    };
  }

  /** The current leader, in one read, or undefined when nobody leads. */
  leader(options: { signal?: AbortSignal } = {}): Promise<LeaderInfo | undefined> {
    return readLeader(this.ctx, this.what, this.prefix, options.signal);
  }

  /**
   * The leader now, then every change in order: a new leader, a new proclaimed value of
   * the same leader, or undefined when nobody leads. Survives reconnects (the watch resumes
   * where it stopped) and compactions (it reads the election again and reports the
   * difference; states in between that etcd compacted away are skipped). Ends only when
   * `signal` aborts (rejecting with its reason) or the iteration is stopped.
   */
  observe(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<LeaderInfo | undefined> {
    return observeLeader(this.ctx, this.what, this.prefix, options.signal);
  }

  /**
   * Like {@link Election.observe}, and also says when the reported leader cannot be
   * vouched for: `{ type: 'stale' }` when the watch stream broke or etcd stopped
   * answering it (within about 2.25 s of etcd freezing), `{ type: 'fresh' }` when etcd
   * answered again. Leader changes come as `{ type: 'leader', leader }`, the first one
   * at once.
   */
  observeStatus(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<LeaderUpdate> {
    return observeUpdates(this.ctx, this.what, this.prefix, options.signal);
  }

  /**
   * Runs `task` only while this process leads, for leader-only cron jobs and singleton
   * workers: campaigns, runs `task(leadership)`, and campaigns again (after a backoff with
   * jitter) when the leadership is lost or the task returns. See {@link LeaderJob}.
   * @throws InvalidArgumentError (synchronously) for a bad task, value or backoff
   */
  run(task: LeaderTask, options: LeaderJobOptions): LeaderJob {
    return new LeaderJob(this, task, options, this.ctx.logger('leader-job'));
  }

  /** True when this election campaigns on a session given to it that is no longer alive. @internal */
  get sessionLost(): boolean {
    return this.session !== undefined && !this.session.isAlive;
  }
}
