/**
 * Watches held keys for loss: my key deleted (by anyone: an admin, a lease expiry, a
 * `leave` from elsewhere) or replaced. A replacement starts with a delete, so the guard
 * needs delete events only: its watch filters puts out (`NOPUT`).
 *
 * One watch per key per coordinator, shared by the successive holds of that key (a
 * process that takes the same lock again on the same session holds the same key). A
 * delete at revision `r` ends exactly the holds whose token (create revision) is below
 * `r`: deletes of earlier incarnations of the key are older than the current token and
 * are ignored. A key held again within {@link GUARD_LINGER_MS} of its release is "hot":
 * its watch is then kept that long after each release, so the steady state of acquire
 * + release costs no watch create or cancel, only the delete event of each release. A
 * key held once is closed at release, as a hold's own watch would be, so a queue of
 * one-off holders costs one watch event per handoff, not two.
 *
 * The watch runs on the coordinator's shared stream and covers every revision from the
 * earliest hold's turn + 1, so no change after an acquisition is missed; after a
 * compaction or a cancel by etcd the key is read again and watched afresh.
 * @module
 */
import type { IKeyValue } from 'etcd3';
import type { CoordContext } from '../context.js';
import type { WatchHandle, WatchHub } from '../watch.js';

/** How long a key's guard watch stays open after its last hold ended, for the next hold of the same key. */
export const GUARD_LINGER_MS = 3000;
/** Pause before re-checking a key whose watch etcd cancelled or whose read failed, so nothing spins. */
const RECHECK_PAUSE_MS = 500;

/** Reads my key: its current state (undefined when absent) and the revision it was read at. */
export async function readKey(ctx: CoordContext, what: string, key: string) {
  const res = await ctx.resilience.run(`${what}: check my key`, () => ctx.client.kv.range({ key: Buffer.from(key) }), {
    idempotent: true,
  });
  return { kv: res.kvs[0] as IKeyValue | undefined, revision: BigInt(res.header.revision) };
}

/** Stops the guard. Safe to call more than once. */
export type StopGuard = () => void;

interface Guarded {
  readonly token: bigint;
  readonly onLost: () => void;
}

/** The guard watches of one coordinator, by full key, and when each key last had its watch closed. */
interface Guards {
  readonly byKey: Map<string, KeyGuard>;
  readonly closedAt: Map<string, number>;
}
const guardsOf = new WeakMap<WatchHub, Guards>();
/** Bound of the closed-at record: older entries are dropped past it. */
const CLOSED_AT_KEPT = 4096;

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
  let guards = guardsOf.get(ctx.watch);
  if (!guards) {
    guards = { byKey: new Map(), closedAt: new Map() };
    guardsOf.set(ctx.watch, guards);
  }
  let guard = guards.byKey.get(key);
  if (!guard) {
    const closed = guards.closedAt.get(key);
    const hot = closed !== undefined && performance.now() - closed < GUARD_LINGER_MS;
    guard = new KeyGuard(ctx, what, key, guards, hot);
    guards.byKey.set(key, guard);
  }
  return guard.add({ token, onLost }, from);
}

/** The one watch on one key, and the holds it guards. */
class KeyGuard {
  private readonly holds = new Set<Guarded>();
  private handle: WatchHandle | undefined;
  /** The first revision the current watch covers (meaningful while `handle` is set). */
  private coveredFrom = 0n;
  /** A re-check is under way (reading, or pausing before it): it vouches for every hold added meanwhile. */
  private checking = false;
  /** Runs while the key lingers; re-armed, not reset, by later releases (see {@link linger}). */
  private lingerTimer: NodeJS.Timeout | undefined;
  /** When the last hold ended (performance.now()), while no hold is left. */
  private idleSince = 0;
  private pauseTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: CoordContext,
    private readonly what: string,
    private readonly key: string,
    private readonly all: Guards,
    /** Keep the watch after a release: the key was held again soon after a release before. */
    private hot: boolean,
  ) {}

  /**
   * Guards one more hold. A re-check under way covers it: a hold whose token is at or
   * below the read's revision is checked by the read, a newer one by the watch that
   * follows from that revision + 1.
   */
  add(hold: Guarded, from: bigint): StopGuard {
    this.holds.add(hold);
    if (this.checking) return () => this.remove(hold);
    if (!this.handle) this.watchFrom(from);
    else if (from < this.coveredFrom) this.recheck();
    return () => this.remove(hold);
  }

  private remove(hold: Guarded): void {
    if (this.holds.delete(hold) && this.holds.size === 0) this.linger();
  }

  /**
   * A hot key keeps its watch a while for the next hold, then closes it; any other closes
   * now. The steady state of a hot key (hold, release, hold...) sets no timer per
   * release: one timer runs, and when it fires it closes the watch only if the key has
   * been idle {@link GUARD_LINGER_MS} by then, else it waits out the rest.
   */
  private linger(): void {
    if (!this.hot) {
      this.close();
      return;
    }
    this.idleSince = performance.now();
    if (!this.lingerTimer) this.armLinger(GUARD_LINGER_MS);
  }

  private armLinger(ms: number): void {
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = undefined;
      if (this.holds.size > 0) return; // held again: the next release arms it anew
      const left = GUARD_LINGER_MS - (performance.now() - this.idleSince);
      if (left > 1) this.armLinger(left);
      else this.close();
    }, ms);
    this.lingerTimer.unref?.();
  }

  private close(): void {
    if (this.holds.size > 0) return;
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    clearTimeout(this.pauseTimer);
    this.checking = false;
    this.handle?.cancel();
    this.handle = undefined;
    if (this.all.byKey.get(this.key) !== this) return;
    this.all.byKey.delete(this.key);
    const { closedAt } = this.all;
    closedAt.delete(this.key);
    closedAt.set(this.key, performance.now());
    if (closedAt.size > CLOSED_AT_KEPT) closedAt.delete(closedAt.keys().next().value as string);
  }

  /** The key was deleted at `revision`: every hold of an incarnation created before it is lost. */
  private deletedAt(revision: bigint): void {
    for (const hold of [...this.holds]) {
      if (hold.token >= revision) continue; // a delete of an earlier incarnation of the key
      this.holds.delete(hold);
      hold.onLost();
    }
    if (this.holds.size === 0) this.linger();
  }

  private watchFrom(from: bigint): void {
    this.coveredFrom = from;
    const handle = this.ctx.watch.watch(
      { key: this.key, startRevision: from, noPut: true },
      {
        onEvents: (events) => {
          for (const e of events) if (e.type === 'delete') this.deletedAt(e.modRevision);
        },
        onCompacted: () => this.ended(handle, () => this.recheck()),
        onCanceled: () => this.ended(handle, () => this.later()),
      },
    );
    this.handle = handle;
  }

  /** etcd ended the watch: with holds left, check the key again; else the guard is done. */
  private ended(handle: WatchHandle, next: () => void): void {
    if (this.handle !== handle) return;
    this.handle = undefined;
    if (this.holds.size > 0) next();
    else this.close();
  }

  /** Reads the key, ends the holds it no longer has, and watches on from the read. */
  private recheck(): void {
    this.handle?.cancel();
    this.handle = undefined;
    if (this.holds.size === 0) {
      this.close();
      return;
    }
    this.checking = true;
    readKey(this.ctx, this.what, this.key).then(
      ({ kv, revision }) => {
        if (!this.checking) return; // closed meanwhile
        this.checking = false;
        const token = kv ? BigInt(kv.create_revision) : undefined;
        for (const hold of [...this.holds]) {
          if (hold.token <= revision && hold.token !== token) {
            this.holds.delete(hold);
            hold.onLost();
          }
        }
        if (this.holds.size === 0) this.close();
        else this.watchFrom(revision + 1n);
      },
      (err) => {
        if (!this.checking) return;
        this.ctx.logger('lock').debug({ err, key: this.key }, 'could not re-check my key; trying again');
        this.later();
      },
    );
  }

  /** Re-checks after a pause (a watch etcd keeps cancelling, or reads that fail, must not spin). */
  private later(): void {
    if (this.holds.size === 0) {
      this.close();
      return;
    }
    this.checking = true;
    this.pauseTimer = setTimeout(() => this.recheck(), RECHECK_PAUSE_MS);
    this.pauseTimer.unref?.();
  }
}
