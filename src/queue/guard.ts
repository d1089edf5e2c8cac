/**
 * Watches a held key for loss: my key deleted (by anyone: an admin, a lease expiry, a
 * `leave` from elsewhere) or replaced by a key with another create revision. The watch
 * runs on the coordinator's shared stream from the revision the turn was seen at + 1, so
 * no change after the acquisition is missed; after a compaction or a cancel by etcd the
 * key is read again and watched afresh.
 * @module
 */
import type { IKeyValue } from 'etcd3';
import type { CoordContext } from '../context.js';
import type { WatchHandle } from '../watch.js';

/** Reads my key: its current state (undefined when absent) and the revision it was read at. */
export async function readKey(ctx: CoordContext, what: string, key: string) {
  const res = await ctx.resilience.run(`${what}: check my key`, () => ctx.client.kv.range({ key: Buffer.from(key) }), {
    idempotent: true,
  });
  return { kv: res.kvs[0] as IKeyValue | undefined, revision: BigInt(res.header.revision) };
}

/** Stops the guard. */
export type StopGuard = () => void;

/**
 * Calls `onLost` once when `key` no longer has create revision `token`. Transient read
 * failures while re-checking are retried until the guard is stopped.
 * @param from - the first revision to look at (the turn's revision + 1).
 */
export function guardKey(
  ctx: CoordContext,
  what: string,
  key: string,
  token: bigint,
  from: bigint,
  onLost: () => void,
): StopGuard {
  let handle: WatchHandle | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    handle?.cancel();
  };
  const lost = () => {
    if (stopped) return;
    stop();
    onLost();
  };
  const watchFrom = (rev: bigint) => {
    if (stopped) return;
    handle = ctx.watch.watch(
      { key, startRevision: rev },
      {
        onEvents: (events) => {
          if (events.some((e) => e.type === 'delete' || e.createRevision !== token)) lost();
        },
        onCompacted: () => recheck(),
        onCanceled: () => later(),
      },
    );
  };
  const recheck = () => {
    if (stopped) return;
    readKey(ctx, what, key).then(
      ({ kv, revision }) => {
        if (!kv || BigInt(kv.create_revision) !== token) lost();
        else watchFrom(revision + 1n);
      },
      (err) => {
        ctx.logger('lock').debug({ err, key }, 'could not re-check my key; trying again');
        later();
      },
    );
  };
  /** Re-checks after a pause (a watch etcd keeps cancelling, or reads that fail, must not spin). */
  const later = () => {
    if (stopped) return;
    timer = setTimeout(recheck, 500);
    timer.unref?.();
  };
  watchFrom(from);
  return stop;
}
