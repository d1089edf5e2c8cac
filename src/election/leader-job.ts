/**
 * LeaderJob: a task that runs only on the leader, for leader-only cron jobs and
 * singleton workers in a fleet of replicas.
 *
 * The loop: campaign; run `task(leadership)` with `leadership.signal`; when the task
 * settles, resign; wait a backoff with jitter; campaign again.
 * - **Lost leadership** (session lost, key deleted): the task's signal aborts; the job
 *   waits for the task to settle, then campaigns again after the backoff.
 * - **The task returns (or throws) on its own**: the job resigns, so another replica may
 *   take over, and campaigns again after the backoff. A task is meant to run for as long
 *   as it leads (e.g. a loop until `signal` aborts); one that returns is restarted, like
 *   under a supervisor, and a throw is logged and reported as `backoff` with `failed`.
 *   Holding leadership while running nothing would leave the fleet without the job.
 * - **stop()**: aborts the task's signal, waits for the task to settle, and only then
 *   resigns: the next leader never overlaps a task that is still winding down.
 * The backoff grows (cockatiel's exponential backoff, decorrelated jitter) while
 * campaigns fail or leaderships end quickly, and starts over after a leadership that
 * lasted longer than `maxDelayMs`.
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ExponentialBackoff, type IBackoff } from 'cockatiel';
import type { Logger } from 'pino';
import { Channel } from '../channel.js';
import {
  ClosedError,
  InvalidArgumentError,
  isClosedError,
  isInvalidArgumentError,
  isSessionLostError,
} from '../errors.js';
import type { Leadership } from './leadership.js';

/**
 * What a {@link LeaderJob} needs from its election (an `Election` is one). Declared
 * here, so that leader-job.ts does not import election.ts, which creates the job.
 * @internal
 */
export interface Campaigner {
  /** The election's name (for messages). */
  readonly name: string;
  /** True when the election campaigns on a session given to it that is no longer alive. */
  readonly sessionLost: boolean;
  /** Campaigns with `value`; resolves once this candidate leads. */
  campaign(value: string, options: { signal?: AbortSignal }): Promise<Leadership>;
}

/** The work a {@link LeaderJob} runs while it leads. It should stop soon after `leadership.signal` aborts. */
export type LeaderTask = (leadership: Leadership) => Promise<void> | void;

/** Options of `election.run()`. */
export interface LeaderJobOptions {
  /** The value to campaign with (e.g. this replica's id). */
  value: string;
  /** Stops the job (same as `stop()`). */
  signal?: AbortSignal;
  /** Delay before campaigning again; cockatiel exponential backoff with decorrelated jitter. */
  backoff?: {
    /** First delay in ms. Default 100. */
    initialDelayMs?: number;
    /** Largest delay in ms. Default 10000. */
    maxDelayMs?: number;
  };
}

/** Why a job waits before campaigning again. */
export type BackoffReason = 'lost' | 'finished' | 'failed';

/** Where a {@link LeaderJob} stands, as `state` and `status()` report it. */
export type LeaderJobState =
  | {
      /** Campaigning for leadership. */
      readonly type: 'campaigning';
    }
  | {
      /** Leading: the task runs. */
      readonly type: 'leading';
      /** The leadership the task runs under. */
      readonly leadership: Leadership;
    }
  | {
      /** Waiting before campaigning again. */
      readonly type: 'backoff';
      /** 'lost': the leadership ended under the task; 'finished': the task returned; 'failed': the task or the campaign threw. */
      readonly reason: BackoffReason;
      /** How long the job waits before campaigning again, in ms. */
      readonly delayMs: number;
      /** What the task or campaign threw ('failed'), or why the leadership ended ('lost'). */
      readonly error?: unknown;
    }
  | {
      /** Stopped for good (the last state). */
      readonly type: 'stopped';
      /** The fatal error that stopped the job (e.g. the coordinator closed); absent after `stop()` or its signal. */
      readonly error?: unknown;
    };

function delayOption(v: unknown, what: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 1) {
    throw new InvalidArgumentError(`run(): backoff.${what} must be a number of milliseconds >= 1, got ${String(v)}`);
  }
  return v;
}

/** A task run only on the leader. Create with `election.run()`. */
export class LeaderJob implements AsyncDisposable {
  /** Resolves once the job has stopped (after `stop()`, its signal, or a fatal error). Never rejects. */
  readonly done: Promise<void>;
  private current: LeaderJobState = { type: 'campaigning' };
  private readonly channel = new Channel<LeaderJobState>();
  private readonly stopper = new AbortController();
  private leadership: Leadership | undefined;
  private readonly value: string;
  private readonly backoffs: ExponentialBackoff<unknown>;
  private readonly maxDelayMs: number;
  private readonly onAbort = () => void this.stop();

  /** @internal use `election.run()`. */
  constructor(
    private readonly election: Campaigner,
    private readonly task: LeaderTask,
    private readonly options: LeaderJobOptions,
    private readonly logger: Logger,
  ) {
    if (typeof task !== 'function') throw new InvalidArgumentError('run(task): task must be a function');
    if (typeof options?.value !== 'string') {
      throw new InvalidArgumentError(`run(): options.value must be a string, got ${typeof options?.value}`);
    }
    const initialDelay = delayOption(options.backoff?.initialDelayMs, 'initialDelayMs', 100);
    this.maxDelayMs = delayOption(options.backoff?.maxDelayMs, 'maxDelayMs', 10_000);
    if (initialDelay > this.maxDelayMs) throw new InvalidArgumentError('run(): backoff.initialDelayMs > maxDelayMs');
    this.value = options.value;
    this.backoffs = new ExponentialBackoff({ initialDelay, maxDelay: this.maxDelayMs });
    if (options.signal?.aborted) this.stopper.abort(options.signal.reason);
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.done = this.loop();
  }

  /** The current state. */
  get state(): LeaderJobState {
    return this.current;
  }

  /** The current state, then every change, until 'stopped'. For logs and metrics. */
  status(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<LeaderJobState> {
    return this.channel.iterate({ signal: options.signal, first: [this.current] });
  }

  /** Aborts the task's signal, waits for the task to settle, resigns, and resolves when stopped. Safe to call twice. */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopper.abort(new ClosedError(`${this.election.name}: leader job stopped`));
      this.leadership?.relinquish(this.stopper.signal.reason);
    }
    return this.done;
  }

  /** Same as {@link stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  private get stopping(): boolean {
    return this.stopper.signal.aborted;
  }

  private set(state: LeaderJobState): void {
    this.current = state;
    this.channel.push(state);
  }

  private async loop(): Promise<void> {
    let backoff: IBackoff<unknown> | undefined;
    let fatal: unknown;
    while (!this.stopping) {
      this.set({ type: 'campaigning' });
      let leadership: Leadership;
      try {
        leadership = await this.election.campaign(this.value, { signal: this.stopper.signal });
      } catch (err) {
        if (this.stopping) break;
        if (
          isClosedError(err) ||
          isInvalidArgumentError(err) ||
          (isSessionLostError(err) && this.election.sessionLost)
        ) {
          fatal = err;
          break;
        }
        backoff = (backoff ?? this.backoffs).next(undefined);
        await this.pause({ type: 'backoff', reason: 'failed', delayMs: backoff.duration, error: err });
        continue;
      }
      const ended = await this.lead(leadership);
      if (this.stopping) break;
      backoff = (ended.stable ? this.backoffs : (backoff ?? this.backoffs)).next(undefined);
      await this.pause({ type: 'backoff', reason: ended.reason, delayMs: backoff.duration, error: ended.error });
    }
    this.options.signal?.removeEventListener('abort', this.onAbort);
    if (fatal !== undefined) this.logger.error({ err: fatal }, `${this.election.name}: leader job stopped`);
    this.set(fatal === undefined ? { type: 'stopped' } : { type: 'stopped', error: fatal });
    this.channel.end();
  }

  /** Runs the task while leading; resigns once it settled. */
  private async lead(leadership: Leadership): Promise<{ reason: BackoffReason; error?: unknown; stable: boolean }> {
    const since = performance.now();
    let reason: BackoffReason = 'finished';
    let error: unknown;
    if (!this.stopping) {
      this.leadership = leadership;
      this.set({ type: 'leading', leadership });
      try {
        await this.task(leadership);
      } catch (err) {
        reason = 'failed';
        error = err;
      }
      this.leadership = undefined;
      if (leadership.signal.aborted && !this.stopping) {
        reason = 'lost';
        error = leadership.signal.reason;
      } else if (reason === 'failed') {
        this.logger.error({ err: error }, `${this.election.name}: leader task failed`);
      }
    }
    await leadership.resign().catch((err) => this.logger.warn({ err }, `${this.election.name}: resign failed`));
    return { reason, error, stable: performance.now() - since > this.maxDelayMs };
  }

  private async pause(state: LeaderJobState & { type: 'backoff' }): Promise<void> {
    this.set(state);
    await sleep(state.delayMs, undefined, { signal: this.stopper.signal }).catch(() => undefined);
  }
}
