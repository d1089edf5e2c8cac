/**
 * A live local copy of one key or one prefix: a single read, then a watch on the shared
 * WatchHub from that read's header revision + 1 (no gap, no duplicate).
 *
 * - When the watch cannot resume (its next revision was compacted) or etcd cancels it,
 *   the mirror reads again (retrying with backoff and jitter until it succeeds), reports
 *   the difference as changes, and watches again from the new read's revision + 1. It
 *   never silently stops.
 * - `stale` is true while the watch stream is disconnected or a re-read is pending; the
 *   last known entries stay in place.
 * @internal
 * @module
 */
import type { Logger } from 'pino';
import { retryUntilDone } from '../backoff.js';
import type { CoordContext } from '../context.js';
import { ClosedError, withoutStack } from '../errors.js';
import { prefixEnd } from '../keys.js';
import type { WatchEvent, WatchHandle } from '../watch.js';
import type { StoredKey } from './codec.js';

/** One key as the mirror holds it. */
export type MirrorEntry = StoredKey;

/** One change of the mirrored range: the key's new state (undefined: deleted) and its previous one. */
export interface MirrorChange {
  readonly key: string;
  readonly entry: MirrorEntry | undefined;
  readonly prev: MirrorEntry | undefined;
}

/** What to mirror and whom to tell. */
export interface MirrorSpec {
  readonly ctx: CoordContext;
  readonly logger: Logger;
  /** For messages, e.g. 'discover payments'. */
  readonly what: string;
  readonly key: string;
  readonly prefix: boolean;
  /** Changes in revision order (after the state was applied). Must not throw. */
  onChanges(changes: MirrorChange[]): void;
  /** `stale` flipped. Must not throw. */
  onStale?(stale: boolean): void;
}

/** A snapshot: entries at a revision. */
export interface MirrorSnapshot {
  readonly entries: MirrorEntry[];
  readonly revision: bigint;
}

/** @internal */
export class RangeMirror {
  /** Current entries by full key. */
  readonly entries = new Map<string, MirrorEntry>();
  private revisionValue = 0n;
  private staleValue = false;
  private handle: WatchHandle | undefined;
  private readonly stop = new AbortController();

  constructor(private readonly spec: MirrorSpec) {}

  /** The newest revision the entries reflect. */
  get revision(): bigint {
    return this.revisionValue;
  }

  /** True while changes may be missing (stream down, re-read pending). */
  get stale(): boolean {
    return this.staleValue;
  }

  /** Reads the range once (linearizable). */
  async read(signal?: AbortSignal): Promise<MirrorSnapshot> {
    const { ctx, key, prefix, what } = this.spec;
    const k = Buffer.from(key);
    const res = await ctx.resilience.run(
      `${what}: read`,
      () => ctx.client.kv.range({ key: k, range_end: prefix ? prefixEnd(k) : undefined }),
      { idempotent: true, signal },
    );
    return {
      revision: BigInt(res.header.revision),
      entries: res.kvs.map((kv) => ({
        key: kv.key.toString(),
        value: kv.value,
        modRevision: BigInt(kv.mod_revision),
        lease: String(kv.lease ?? '0'),
      })),
    };
  }

  /** Takes `snapshot` as the current state (no changes reported) and watches from its revision + 1. */
  start(snapshot: MirrorSnapshot): void {
    this.entries.clear();
    for (const e of snapshot.entries) this.entries.set(e.key, e);
    this.revisionValue = snapshot.revision;
    this.watchFrom(snapshot.revision + 1n);
  }

  /** Stops watching. Safe twice. */
  close(): void {
    this.stop.abort(withoutStack(() => new ClosedError(`${this.spec.what}: closed`)));
    this.handle?.cancel();
    this.handle = undefined;
  }

  private setStale(stale: boolean): void {
    if (this.staleValue === stale || this.stop.signal.aborted) return;
    this.staleValue = stale;
    this.spec.onStale?.(stale);
  }

  private watchFrom(startRevision: bigint): void {
    if (this.stop.signal.aborted) return;
    this.handle = this.spec.ctx.watch.watch(
      { key: this.spec.key, prefix: this.spec.prefix, startRevision },
      {
        onEvents: (events) => this.apply(events),
        onCompacted: (rev) => void this.resync(`revision compacted (compact revision ${rev})`),
        onCanceled: (reason) => void this.resync(`watch cancelled by etcd: ${reason}`),
        onDisconnected: () => this.setStale(true),
        onConnected: () => this.setStale(false),
      },
    );
  }

  private apply(events: WatchEvent[]): void {
    if (this.stop.signal.aborted) return;
    const changes: MirrorChange[] = [];
    for (const ev of events) {
      const prev = this.entries.get(ev.key);
      if (ev.type === 'delete') {
        if (prev) {
          this.entries.delete(ev.key);
          changes.push({ key: ev.key, entry: undefined, prev });
        }
      } else {
        const entry: MirrorEntry = {
          key: ev.key,
          value: ev.value,
          modRevision: ev.modRevision,
          lease: ev.lease,
        };
        this.entries.set(ev.key, entry);
        changes.push({ key: ev.key, entry, prev });
      }
      if (ev.modRevision > this.revisionValue) this.revisionValue = ev.modRevision;
    }
    if (changes.length > 0) this.spec.onChanges(changes);
  }

  /** Reads again until it succeeds, reports the difference, and watches from there. */
  private async resync(why: string): Promise<void> {
    this.handle = undefined;
    if (this.stop.signal.aborted) return;
    this.setStale(true);
    this.spec.logger.info({ why }, `${this.spec.what}: re-reading after the watch ended`);
    const signal = this.stop.signal;
    const snap = await retryUntilDone(
      () => this.read(signal),
      signal,
      (err) => {
        this.spec.logger.warn({ err }, `${this.spec.what}: re-read failed; retrying`);
        return 'retry';
      },
    );
    if (!snap || signal.aborted) return;
    this.replace(snap.value);
    this.watchFrom(snap.value.revision + 1n);
  }

  private replace(snap: MirrorSnapshot): void {
    const changes: MirrorChange[] = [];
    const seen = new Set<string>();
    for (const entry of snap.entries) {
      seen.add(entry.key);
      const prev = this.entries.get(entry.key);
      if (prev?.modRevision === entry.modRevision) continue;
      this.entries.set(entry.key, entry);
      changes.push({ key: entry.key, entry, prev });
    }
    for (const [key, prev] of [...this.entries]) {
      if (seen.has(key)) continue;
      this.entries.delete(key);
      changes.push({ key, entry: undefined, prev });
    }
    this.revisionValue = snap.revision;
    if (changes.length > 0) this.spec.onChanges(changes);
  }
}
