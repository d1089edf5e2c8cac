/**
 * Election: leader election on the lock queue ("a leadership is a queue position with a
 * value"), in the key layout of Go's `concurrency.Election`: each candidate's key is
 * `<namespace><name>/<leaseId hex>` with its value, and the leader is the direct child
 * with the lowest create revision. It contends correctly with Go services and
 * `etcdctl elect`.
 * @module
 */
import type { CoordContext } from '../context.js';
import { InvalidArgumentError, isLockTimeoutError, LockTimeoutError } from '../errors.js';
import { queueKey, queuePrefix, validateName, validateTimeout } from '../keys.js';
import { checkSessionOption } from '../lease/check.js';
import type { Session } from '../lease/session.js';
import { enterLine, tryEnterLine } from '../queue/local-line.js';
import { positionOnJoin } from '../queue/position.js';
import { directChildren } from '../queue/range.js';
import { takeTurn } from '../queue/turn.js';
import { linkSignals } from '../signals.js';
import { type LeaderInfo, readLeader } from './leader.js';
import { LeaderJob, type LeaderJobOptions, type LeaderTask } from './leader-job.js';
import { Leadership } from './leadership.js';
import { type LeaderUpdate, observeLeader, observeUpdates } from './observe.js';

/** Options of `coord.election()`. */
export interface ElectionOptions {
  /** The session to campaign on. Default: the coordinator's shared session (a fresh one after loss). */
  session?: Session;
}

/** Options of {@link Election.campaign}. */
export interface CampaignOptions {
  /** Gives up the campaign: it rejects with `signal.reason` and leaves no key behind. */
  signal?: AbortSignal;
  /** Gives up after this many ms with {@link LockTimeoutError}, leaving no key behind. */
  timeoutMs?: number;
}

/** A named leader election. Create with `coord.election(name)`. */
export class Election {
  /** The election's name. */
  readonly name: string;
  /** `<namespace><name>/`: every candidate's key starts with it. */
  readonly prefix: string;
  private readonly what: string;
  private readonly session: Session | undefined;

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
    return (await this.contest('campaign', value, options, true)) as Leadership;
  }

  /**
   * Leads with `value` only if nobody leads or waits now; never waits. Resolves undefined
   * otherwise, leaving no key behind (like `Mutex.tryAcquire()`).
   * @throws InvalidArgumentError when `value` is not a string (nothing is written)
   */
  async tryCampaign(value: string, options: { signal?: AbortSignal } = {}): Promise<Leadership | undefined> {
    return this.contest('tryCampaign', value, options, false);
  }

  private async contest(
    call: string,
    value: string,
    options: CampaignOptions,
    wait: boolean,
  ): Promise<Leadership | undefined> {
    if (typeof value !== 'string') {
      throw new InvalidArgumentError(`${this.what}: ${call}(value): value must be a string, got ${typeof value}`);
    }
    const timeoutMs = validateTimeout(options.timeoutMs);
    const { ctx } = this;
    const started = performance.now();
    const link = linkSignals(
      [options.signal],
      timeoutMs !== undefined ? { ms: timeoutMs, reason: () => timedOut() } : undefined,
    );
    const { signal } = link;
    const timedOut = (cause?: unknown) =>
      new LockTimeoutError(`${this.what}: not elected within ${timeoutMs} ms; no key was left behind`, { cause });
    const span = ctx.trace('election.campaign', { name: this.name, kind: 'election', wait });
    try {
      signal.throwIfAborted();
      ctx.assertOpen();
      const session = this.session ?? (await ctx.defaultSession(signal));
      const key = queueKey(ctx.namespace, this.name, session.leaseId);
      const exitLine = wait ? await enterLine(session, key, signal) : tryEnterLine(session, key);
      if (!exitLine) {
        span?.end({ acquired: false });
        return undefined;
      }
      let leadership: Leadership;
      try {
        const remaining =
          timeoutMs === undefined ? undefined : Math.max(0, Math.ceil(timeoutMs - (performance.now() - started)));
        const blockers = { prefix: this.prefix, limit: 1, member: directChildren(this.prefix) };
        const turn = await takeTurn(
          { ctx, what: this.what, key, value: Buffer.from(value), session, blockers },
          {
            wait,
            signal: options.signal,
            timeoutMs: remaining,
            onJoin: positionOnJoin(ctx, this.what, blockers, span),
          },
        );
        if (!turn) {
          exitLine();
          span?.end({ acquired: false });
          return undefined;
        }
        const relativeKey = key.slice(ctx.namespace.length);
        leadership = new Leadership(
          { ctx, name: this.name, what: this.what, relativeKey, session, exitLine },
          turn,
          value,
        );
        if (turn.found && !turn.found.equals(Buffer.from(value))) {
          // My key was left by an earlier campaign on this session with another value.
          await leadership.proclaim(value).catch(async (err) => {
            await leadership.resign().catch(() => undefined);
            throw err;
          });
        }
      } catch (err) {
        exitLine();
        throw err;
      }
      leadership.signal.throwIfAborted();
      ctx.emit({
        type: 'leadership.acquired',
        name: this.name,
        waitMs: performance.now() - started,
        token: leadership.token,
      });
      span?.end({ acquired: true, token: `${leadership.token}`, key });
      return leadership;
    } catch (err) {
      let thrown = err;
      if (options.signal?.aborted) thrown = options.signal.reason;
      else if (link.timedOut && (isLockTimeoutError(err) || err === signal.reason)) thrown = timedOut(err);
      span?.fail(thrown);
      throw thrown;
    } finally {
      link.unlink();
    }
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
