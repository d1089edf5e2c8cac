/**
 * `Election.observe()`: the leader now, then every change, in order.
 *
 * It keeps every candidate (direct children of the prefix) in memory, from one read and
 * then from a prefix watch that starts at the read's revision + 1, and after each
 * revision's events reports the lowest create revision if leader, token or value changed.
 * Keeping all candidates (not only the leader's key) is what makes it right where the
 * etcd3 package's observer is not: two candidates that campaign in quick succession
 * while nobody leads, a new leader with the same value, and hex lease ids.
 *
 * Reconnects are the shared watch stream's business (it resumes from the last revision
 * + 1). When that revision was compacted, the candidates are read again and the
 * difference is reported; the iteration carries on.
 *
 * `observeStatus()` also says when the leader it reported can no longer be vouched for:
 * 'stale' when the watch stream broke or stopped answering (etcd frozen, connection
 * hung, token refused) or a re-read is pending, 'fresh' when etcd answered again. Changes
 * missed meanwhile follow as 'leader' updates.
 * @module
 */
import { Channel } from '../channel.js';
import type { CoordContext } from '../context.js';
import { persist } from '../persist.js';
import { directChildren } from '../queue/range.js';
import { linkSignals } from '../signals.js';
import type { WatchEvent, WatchHandle } from '../watch.js';
import { type LeaderInfo, readCandidates, sameLeader } from './leader.js';

/** One update of `Election.observeStatus()`. */
export type LeaderUpdate =
  | {
      /** The leader now (undefined: nobody leads). The first update is always one of these. */
      readonly type: 'leader';
      readonly leader: LeaderInfo | undefined;
    }
  | {
      /** The watch cannot vouch for the last reported leader: it may have changed meanwhile. */
      readonly type: 'stale';
    }
  | {
      /** etcd answered again; what changed meanwhile follows as 'leader' updates. */
      readonly type: 'fresh';
    };

type Update = LeaderUpdate | { readonly type: 'error'; readonly error: unknown };

/** Keeps the candidates of one election and reports leader changes. */
class LeaderTracker {
  private readonly candidates = new Map<string, LeaderInfo>();
  private last: LeaderInfo | undefined;
  private reported = false;
  private stale = false;
  private handle: WatchHandle | undefined;
  private readonly logger;
  private readonly member: (key: string) => boolean;

  constructor(
    private readonly ctx: CoordContext,
    private readonly what: string,
    private readonly prefix: string,
    private readonly out: Channel<Update>,
    private readonly signal: AbortSignal,
  ) {
    this.logger = ctx.logger('election');
    this.member = directChildren(prefix);
    signal.addEventListener('abort', () => this.handle?.cancel(), { once: true });
  }

  /** Reads every candidate (retrying while etcd is unavailable), reports, and watches from there. */
  async resync(): Promise<void> {
    this.handle = undefined;
    if (this.reported) this.setStale(true);
    try {
      const read = await persist(this.signal, this.logger, `${this.what}: observe`, () =>
        readCandidates(this.ctx, this.what, this.prefix, this.signal),
      );
      if (!read) return;
      this.candidates.clear();
      for (const c of read.kvs) this.candidates.set(c.key, c);
      this.report();
      this.watch(read.revision + 1n);
    } catch (err) {
      if (!this.signal.aborted) this.out.push({ type: 'error', error: err });
    }
  }

  private setStale(stale: boolean): void {
    if (this.stale === stale || this.signal.aborted) return;
    this.stale = stale;
    this.out.push({ type: stale ? 'stale' : 'fresh' });
  }

  private watch(from: bigint): void {
    if (this.signal.aborted) return;
    this.handle = this.ctx.watch.watch(
      { key: this.prefix, prefix: true, startRevision: from },
      {
        onEvents: (events) => this.apply(events),
        onCompacted: (rev) => {
          this.logger.info({ compactRevision: rev.toString() }, `${this.what}: observe: compacted, reading again`);
          void this.resync();
        },
        onCanceled: () => void this.resync(),
        onDisconnected: () => this.setStale(true),
        onConnected: () => this.setStale(false),
      },
    );
  }

  private apply(events: WatchEvent[]): void {
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      if (this.member(e.key)) {
        if (e.type === 'delete') this.candidates.delete(e.key);
        else this.candidates.set(e.key, { key: e.key, value: e.value.toString(), token: e.createRevision });
      }
      // One revision's events (one transaction) are one change.
      if (events[i + 1]?.modRevision !== e.modRevision) this.report();
    }
  }

  private report(): void {
    let leader: LeaderInfo | undefined;
    for (const c of this.candidates.values()) if (!leader || c.token < leader.token) leader = c;
    if (this.reported && sameLeader(leader, this.last)) return;
    this.reported = true;
    this.last = leader;
    this.out.push({ type: 'leader', leader });
  }
}

/** The iterator behind `Election.observe()`: leader updates only. @internal */
export async function* observeLeader(
  ctx: CoordContext,
  what: string,
  prefix: string,
  signal?: AbortSignal,
): AsyncGenerator<LeaderInfo | undefined, void, undefined> {
  for await (const u of observeUpdates(ctx, what, prefix, signal)) if (u.type === 'leader') yield u.leader;
}

/** The iterator behind `Election.observeStatus()`. @internal */
export async function* observeUpdates(
  ctx: CoordContext,
  what: string,
  prefix: string,
  signal?: AbortSignal,
): AsyncGenerator<LeaderUpdate, void, undefined> {
  const stop = new AbortController();
  const link = linkSignals([signal, stop.signal]);
  const inner = link.signal;
  const channel = new Channel<Update>();
  const updates = channel.iterate({ signal });
  // When the coordinator closes, the iteration ends (after what was already reported).
  const onClose = () => {
    stop.abort();
    channel.end();
  };
  if (ctx.closed.aborted) onClose();
  else ctx.closed.addEventListener('abort', onClose, { once: true });
  const tracker = new LeaderTracker(ctx, what, prefix, channel, inner);
  if (!ctx.closed.aborted) void tracker.resync();
  try {
    for await (const u of updates) {
      if (u.type === 'error') throw u.error;
      yield u;
    }
  } finally {
    ctx.closed.removeEventListener('abort', onClose);
    link.unlink();
    stop.abort();
    channel.end();
  }
}
