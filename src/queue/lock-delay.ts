/**
 * Lock-delay (Consul's idea): a waiter whose predecessor's key went with its lease
 * (expired, or revoked) rather than by a release waits `lockDelayMs` more before it
 * takes its turn, so a holder that may still be running after losing its lease has time
 * to notice and stop.
 *
 * How a waiter tells the two apart: a contender's key is `<prefix><lease id in hex>`.
 * After the key is deleted, etcd is asked for that lease (`LeaseTimeToLive`). etcd
 * removes a lease and deletes its keys in one apply, before the delete is reported to
 * watchers, so a lease that no longer exists (TTL -1) means the key went with its lease;
 * a lease that still exists means the key was deleted while the lease lived (a release,
 * or an operator's delete). A revoke — including `session.close()` — counts as
 * involuntary: etcd does not say why a lease ended. A holder that releases and then
 * closes its session at once may be seen as involuntary too if the revoke lands before
 * the waiter asks; the waiter then waits needlessly, never too early.
 *
 * Cost: nothing when `lockDelayMs` is 0 (the wait step does not call in here). Otherwise
 * one `LeaseTimeToLive` request per wake-up of a waiter, sent together with the re-read
 * of the queue when the wake-up was a delete of one predecessor (so a released lock still
 * passes on in the same round trip), and one watch of my own key while delaying.
 * @module
 */
import type { QueueSpec } from './spec.js';

/** The longest lock-delay accepted: one minute (Consul's cap too). */
export const MAX_LOCK_DELAY_MS = 60_000;

const LEASE_HEX = /^[0-9a-f]{1,16}$/;

/**
 * Decides, once the next read finds the turn mine, whether to wait first. Resolves true
 * when it waited (the caller then reads the queue again, guarded by my key), false when
 * the turn may be taken at once.
 */
export type TurnCheck = (ahead: readonly string[], revision: bigint) => Promise<boolean>;

/**
 * Called when a waiter watching `watched` woke up (`outcome`). A delete of a single
 * watched key starts the lease look-up at once (it runs beside the re-read); otherwise
 * the keys found gone are looked up after the re-read, which is after their delete.
 */
export function lockDelayCheck(
  spec: QueueSpec,
  ms: number,
  watched: readonly string[],
  outcome: 'deleted' | 'late' | 'compacted',
  signal: AbortSignal,
): TurnCheck {
  const early = outcome === 'deleted' && watched.length === 1 ? leaseGone(spec, watched[0], signal) : undefined;
  early?.catch(() => {}); // awaited below when it matters; never an unhandled rejection
  return async (ahead, revision) => {
    const gone = watched.filter((k) => !ahead.includes(k));
    if (gone.length === 0) {
      return false;
    }
    const seen = performance.now();
    const expired = early ? [await early] : await Promise.all(gone.map((k) => leaseGone(spec, k, signal)));
    if (!expired.some(Boolean)) return false;
    spec.ctx.logger('queue').debug({ key: spec.key, gone, lockDelayMs: ms }, 'predecessor lost its lease; lock-delay');
    await delay(spec, seen + ms, revision + 1n, signal);
    return true;
  };
}

/**
 * Whether the lease named by `key`'s last part no longer exists. A key that names no
 * lease (not `<prefix><hex>`) counts as released. A look-up that fails counts as gone:
 * waiting is the safe side.
 */
async function leaseGone(spec: QueueSpec, key: string, signal: AbortSignal): Promise<boolean> {
  const hex = key.slice(spec.blockers.prefix.length);
  if (!LEASE_HEX.test(hex) || /^0+$/.test(hex)) return false;
  const id = BigInt(`0x${hex}`).toString();
  try {
    const res = await spec.ctx.resilience.run(
      `${spec.what}: predecessor's lease`,
      () => spec.ctx.client.leaseClient.leaseTimeToLive({ ID: id, keys: false }),
      { idempotent: true, signal },
    );
    return Number(res.TTL) < 0; // etcd answers TTL -1 for a lease it does not know (any more)
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    spec.ctx.logger('queue').debug({ err, key }, 'could not look up the lease; lock-delay applies');
    return true;
  }
}

/**
 * Waits until `until` (performance.now() time; never earlier, even if a timer fires a
 * little early), or until my own key is deleted (the caller's guarded re-read then
 * fails), or `signal` aborts (rejecting with its reason). My key stays in the queue.
 */
function delay(spec: QueueSpec, until: number, from: bigint, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const handle = spec.ctx.watch.watch(
      { key: spec.key, startRevision: from },
      {
        onEvents: (events) => {
          if (events.some((e) => e.type === 'delete')) finish();
        },
      },
    );
    const onAbort = () => finish(signal.reason);
    function finish(err?: unknown): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      handle.cancel();
      signal.removeEventListener('abort', onAbort);
      if (err === undefined) resolve();
      else reject(err);
    }
    const tick = () => {
      const left = until - performance.now();
      if (left <= 0) finish();
      else timer = setTimeout(tick, Math.ceil(left));
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    tick();
  });
}
