/**
 * The live side of the dashboard: watches every key under the prefix, re-reads the
 * snapshot shortly after changes (coalesced), re-reads it every few seconds anyway (lease
 * TTLs move without key events), checks cluster health every few seconds, and says
 * whether what it shows is live or stale, and why.
 *
 * Live means: the last read succeeded and the watch is registered on an open stream.
 * A broken stream, a watch cancelled by etcd, a compaction (until the re-read) or a
 * failed read make it stale; it recovers by itself.
 * @module
 */
import type { WatchHandle, WatchHub } from '../watch.js';
import type { ClusterHealth } from './health.js';
import { type History, HistoryTracker } from './history.js';
import type { Snapshot, SnapshotSource } from './snapshot.js';

/** Whether the dashboard's view is current. */
export interface FeedStatus {
  /** True while the read works and the watch is connected. */
  readonly live: boolean;
  /** Why it is not live. */
  readonly reason?: string;
  /** Since when this status holds. */
  readonly since: Date;
}

/** A snapshot with what the dashboard remembers around it. */
export interface SnapshotMessage extends History {
  /** The snapshot. */
  readonly snapshot: Snapshot;
  /** The server's clock when it was sent (the page counts TTLs down from it). */
  readonly serverTime: Date;
}

/** What the feed tells its listener. */
export interface FeedListener {
  /** A new snapshot. */
  snapshot(message: SnapshotMessage): void;
  /** A new cluster health check. */
  health(health: ClusterHealth): void;
  /** The status changed. */
  status(status: FeedStatus): void;
}

/** What a {@link LiveFeed} reads from. */
export interface FeedSources {
  /** Snapshots (the coordinator). */
  readonly source: SnapshotSource;
  /** The prefix to inspect, relative to the namespace. */
  readonly prefix: string;
  /** The watch stream. */
  readonly watch: WatchHub;
  /** The full key prefix to watch (namespace + prefix). */
  readonly watchPrefix: string;
  /** One cluster health check (never rejects). */
  checkHealth(): Promise<ClusterHealth>;
}

/** Timing of a {@link LiveFeed}, in ms. */
export interface FeedTiming {
  /** How long after a change the snapshot is re-read (changes meanwhile are coalesced). Default 100. */
  readonly coalesceMs?: number;
  /** How often the snapshot is re-read without changes (lease TTLs). Default 2000. */
  readonly refreshMs?: number;
  /** How often cluster health is checked. Default 5000. */
  readonly healthMs?: number;
}

/** Keeps a listener up to date with the snapshot, health and status. Start with {@link LiveFeed.start}. */
export class LiveFeed {
  private readonly history = new HistoryTracker();
  private readonly coalesceMs: number;
  private readonly refreshMs: number;
  private readonly healthMs: number;
  private watchHandle: WatchHandle | undefined;
  private watchConnected = false;
  private watchProblem: string | undefined = 'starting the watch';
  private readProblem: string | undefined = 'reading etcd';
  private status: FeedStatus = { live: false, reason: 'connecting to etcd', since: new Date() };
  private reading: Promise<void> | undefined;
  private readAgain = false;
  private changeTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly stopping = new AbortController();

  constructor(
    private readonly sources: FeedSources,
    private readonly listener: FeedListener,
    timing: FeedTiming = {},
  ) {
    this.coalesceMs = timing.coalesceMs ?? 100;
    this.refreshMs = timing.refreshMs ?? 2000;
    this.healthMs = timing.healthMs ?? 5000;
  }

  /** Reads the first snapshot and health (without waiting for them), then keeps them current. */
  start(): void {
    this.listener.status(this.status);
    void this.read();
    void this.checkHealth();
  }

  /** Stops the watch and every timer. Results still under way are dropped. */
  stop(): void {
    this.stopped = true;
    this.stopping.abort(new Error('the dashboard stopped'));
    this.watchHandle?.cancel();
    this.watchHandle = undefined;
    clearTimeout(this.changeTimer);
    clearTimeout(this.refreshTimer);
    clearTimeout(this.healthTimer);
  }

  /** Re-reads the snapshot; one read at a time, a request meanwhile reads once more after it. */
  private read(): Promise<void> {
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    clearTimeout(this.refreshTimer);
    this.reading = this.readOnce().finally(() => {
      this.reading = undefined;
      if (this.stopped) return;
      if (this.readAgain) {
        this.readAgain = false;
        void this.read();
      } else {
        this.refreshTimer = setTimeout(() => void this.read(), this.refreshMs);
      }
    });
    return this.reading;
  }

  private async readOnce(): Promise<void> {
    let snapshot: Snapshot;
    try {
      snapshot = await this.sources.source.inspect(this.sources.prefix, { signal: this.stopping.signal });
    } catch (err) {
      if (this.stopped) return;
      this.readProblem = `cannot read etcd: ${messageOf(err)}`;
      this.updateStatus();
      return;
    }
    if (this.stopped) return;
    this.readProblem = undefined;
    if (!this.watchHandle) this.startWatch(snapshot.revision + 1n);
    this.updateStatus();
    this.listener.snapshot({ snapshot, ...this.history.note(snapshot), serverTime: new Date() });
  }

  private startWatch(startRevision: bigint): void {
    this.watchConnected = false;
    this.watchProblem = 'starting the watch';
    const handle = this.sources.watch.watch(
      { key: this.sources.watchPrefix, prefix: true, startRevision },
      {
        onEvents: () => this.changed(),
        onConnected: () => {
          if (this.watchHandle !== handle) return;
          this.watchConnected = true;
          this.watchProblem = undefined;
          this.updateStatus();
          this.changed(); // what happened while it was away
        },
        onDisconnected: (err) => {
          if (this.watchHandle !== handle) return;
          this.watchConnected = false;
          this.watchProblem = `watch stream broken: ${err.message}`;
          this.updateStatus();
        },
        onCanceled: (reason) => this.watchEnded(handle, `watch cancelled by etcd: ${reason}`, false),
        onCompacted: (revision) =>
          this.watchEnded(handle, `watch revision compacted (at ${revision}); re-reading`, true),
      },
    );
    this.watchHandle = handle;
  }

  /** The watch has ended: stale until the next read starts a new one (now, or at the next refresh). */
  private watchEnded(handle: WatchHandle, reason: string, readNow: boolean): void {
    if (this.watchHandle !== handle) return;
    this.watchHandle = undefined;
    this.watchConnected = false;
    this.watchProblem = reason;
    this.updateStatus();
    if (readNow && !this.stopped) void this.read();
  }

  /** Keys changed: re-read soon, once for every change in the next `coalesceMs`. */
  private changed(): void {
    if (this.stopped || this.changeTimer) return;
    this.changeTimer = setTimeout(() => {
      this.changeTimer = undefined;
      if (!this.stopped) void this.read();
    }, this.coalesceMs);
  }

  private async checkHealth(): Promise<void> {
    const health = await this.sources.checkHealth().catch(() => undefined);
    if (this.stopped) return;
    if (health) this.listener.health(health);
    this.healthTimer = setTimeout(() => void this.checkHealth(), this.healthMs);
  }

  private updateStatus(): void {
    const reason = this.readProblem ?? (this.watchConnected ? undefined : this.watchProblem);
    if (this.status.live === (reason === undefined) && this.status.reason === reason) return;
    this.status = { live: reason === undefined, ...(reason === undefined ? {} : { reason }), since: new Date() };
    if (!this.stopped) this.listener.status(this.status);
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
