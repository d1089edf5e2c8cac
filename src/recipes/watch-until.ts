/**
 * The wait under every barrier: read, and until the read says done, watch from the
 * read's revision + 1 on the coordinator's shared watch stream; an event either ends the
 * wait or asks for a fresh read. A compacted watch reads again (nothing is missed), a
 * watch etcd cancels rejects, an abort rejects with `signal.reason`.
 * @internal
 * @module
 */
import type { CoordContext } from '../context.js';
import { CoordinationError } from '../errors.js';
import type { WatchEvent } from '../watch.js';
import { settleOnWatch } from '../watch-settle.js';

/** What one read saw: whether the wait is over, and the revision it was read at. */
export interface Seen {
  readonly done: boolean;
  readonly revision: bigint;
}

/** What an event means to the waiter: 'done', 'reread' (read again), or nothing. */
export type Verdict = 'done' | 'reread' | undefined;

/** How to wait. */
export interface WatchUntil {
  /** The key watched, or with `prefix` the prefix of the keys. */
  readonly key: string;
  readonly prefix?: boolean;
  /** Reads the current state. Called first (unless `first` is given) and after each 'reread'. */
  read(signal: AbortSignal): Promise<Seen>;
  /** What was already read (skips the first read). */
  readonly first?: Seen;
  /** Judges a batch of events (one revision's worth or more, in order). */
  onEvents(events: WatchEvent[]): Verdict;
  /** For messages. */
  readonly what: string;
}

/** Resolves once a read or an event says done; rejects with `signal.reason` when aborted. */
export async function watchUntil(ctx: CoordContext, spec: WatchUntil, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  let seen = spec.first ?? (await spec.read(signal));
  while (!seen.done) {
    if ((await watchOnce(ctx, spec, seen.revision + 1n, signal)) === 'done') return;
    seen = await spec.read(signal);
  }
}

function watchOnce(ctx: CoordContext, spec: WatchUntil, from: bigint, signal: AbortSignal): Promise<'done' | 'reread'> {
  const watched = { key: spec.key, prefix: spec.prefix, startRevision: from };
  return settleOnWatch<'done' | 'reread'>(ctx.watch, [watched], signal, (_, settle) => ({
    onEvents: (events) => {
      const verdict = spec.onEvents(events);
      if (verdict) settle.resolve(verdict);
    },
    onCompacted: () => settle.resolve('reread'),
    onCanceled: (reason) => settle.reject(new CoordinationError(`${spec.what}: watch cancelled by etcd: ${reason}`)),
  }));
}
