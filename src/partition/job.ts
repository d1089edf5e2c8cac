/**
 * PartitionJob: a task per owned partition, like a LeaderJob per partition.
 *
 * - When the member takes a partition, `task(ownership)` starts with the ownership's
 *   signal (which also aborts when the job stops).
 * - The task is meant to run while the partition is owned (a loop until `signal`
 *   aborts). One that returns or throws is restarted after a backoff (cockatiel's
 *   exponential backoff with decorrelated jitter, starting over after a run longer
 *   than `maxDelayMs`); a throw is logged.
 * - On handoff or loss the ownership's signal aborts; the group waits for the task to
 *   settle before it deletes the owner key, so the next owner never overlaps it.
 * - `stop()` aborts every task's signal and resolves once they all settled; the member
 *   keeps its partitions (use `group.leave()` to give them up).
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ExponentialBackoff, type IBackoff } from 'cockatiel';
import type { Logger } from 'pino';
import { ClosedError, InvalidArgumentError } from '../errors.js';
import type { Ownership } from './ownership.js';

/** The work run for one owned partition. It should stop soon after `ownership.signal` aborts. */
export type PartitionTask = (ownership: Ownership) => Promise<void> | void;

/** Options of `group.run()`. */
export interface PartitionJobOptions {
  /** Stops the job (same as `stop()`). */
  signal?: AbortSignal;
  /** Delay before a task that returned or threw runs again. */
  backoff?: {
    /** First delay in ms. Default 100. */
    initialDelayMs?: number;
    /** Largest delay in ms. Default 10000. */
    maxDelayMs?: number;
  };
}

/** What a job needs from its group. @internal */
export interface JobHost {
  readonly name: string;
  /** Forgets the job (it stopped). */
  detach(job: PartitionJob): void;
}

function delayOption(v: unknown, what: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 1) {
    throw new InvalidArgumentError(`run(): backoff.${what} must be a number of milliseconds >= 1, got ${String(v)}`);
  }
  return v;
}

/** A task per owned partition. Create with `group.run()`. */
export class PartitionJob implements AsyncDisposable {
  private readonly running = new Map<number, Promise<void>>();
  private readonly stopper = new AbortController();
  private readonly backoffs: ExponentialBackoff<unknown>;
  private readonly maxDelayMs: number;
  private stopping: Promise<void> | undefined;
  private readonly onAbort = () => void this.stop();

  /** @internal use `group.run()`. */
  constructor(
    private readonly host: JobHost,
    private readonly task: PartitionTask,
    private readonly options: PartitionJobOptions,
    private readonly logger: Logger,
  ) {
    if (typeof task !== 'function') throw new InvalidArgumentError('run(task): task must be a function');
    const initialDelay = delayOption(options?.backoff?.initialDelayMs, 'initialDelayMs', 100);
    this.maxDelayMs = delayOption(options?.backoff?.maxDelayMs, 'maxDelayMs', 10_000);
    if (initialDelay > this.maxDelayMs) throw new InvalidArgumentError('run(): backoff.initialDelayMs > maxDelayMs');
    this.backoffs = new ExponentialBackoff({ initialDelay, maxDelay: this.maxDelayMs });
    if (options?.signal?.aborted) this.stopper.abort(options.signal.reason);
    options?.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** The partitions whose task is running (or waiting for its restart). */
  get partitions(): ReadonlySet<number> {
    return new Set(this.running.keys());
  }

  /** True once stopped (or stopping). */
  get stopped(): boolean {
    return this.stopper.signal.aborted;
  }

  /** Aborts every task's signal and resolves once all of them settled. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (!this.stopper.signal.aborted) this.stopper.abort(new ClosedError(`${this.host.name}: partition job stopped`));
      this.options?.signal?.removeEventListener('abort', this.onAbort);
      this.host.detach(this);
      await Promise.all([...this.running.values()]);
    })();
    return this.stopping;
  }

  /** Same as {@link stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /** Starts the task for a new ownership (after the previous one of that partition settled). @internal */
  start(ownership: Ownership): void {
    if (this.stopper.signal.aborted) return;
    const p = ownership.partition;
    const before = this.running.get(p) ?? Promise.resolve();
    const run = before.then(() => this.loop(ownership));
    this.running.set(p, run);
    void run.finally(() => {
      if (this.running.get(p) === run) this.running.delete(p);
    });
  }

  /** Resolves once the task of partition `p` (if any) settled. @internal */
  settled(p: number): Promise<void> {
    return this.running.get(p) ?? Promise.resolve();
  }

  private async loop(ownership: Ownership): Promise<void> {
    const view = ownership.narrowed(this.stopper.signal);
    let backoff: IBackoff<unknown> | undefined;
    while (!view.signal.aborted) {
      const since = performance.now();
      try {
        await this.task(view);
      } catch (err) {
        if (!view.signal.aborted) {
          this.logger.error({ err, partition: ownership.partition }, `${this.host.name}: partition task failed`);
        }
      }
      if (view.signal.aborted) break;
      const stable = performance.now() - since > this.maxDelayMs;
      backoff = (stable ? this.backoffs : (backoff ?? this.backoffs)).next(undefined);
      await sleep(backoff.duration, undefined, { signal: view.signal }).catch(() => undefined);
    }
  }
}
