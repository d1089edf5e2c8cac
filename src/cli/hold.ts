/**
 * What `lock` and `elect` share: their options, the session they hold on, the wait with
 * its status line, and running CMD while the lock or leadership is held.
 * @module
 */
import type { Coordinator, Session } from '../index.js';
import { secondsOption, ttlOption } from './args.js';
import type { Invocation } from './command.js';
import { UsageError } from './exit.js';
import { showQueueStatus } from './queue-status.js';
import { runGuarded } from './run-guarded.js';

/** The `--grace` default: seconds CMD has between SIGTERM and SIGKILL after a loss. */
export const DEFAULT_GRACE_SECONDS = 10;

/** The parsed `--ttl`, `--timeout`, `--grace` and the no-wait flag (`--try` / `--once`). */
export interface HoldOptions {
  readonly ttl: number | undefined;
  readonly timeoutMs: number | undefined;
  readonly graceMs: number;
  /** `--try` or `--once` was given. */
  readonly noWait: boolean;
}

/**
 * Parses the options of `lock` / `elect`.
 * @param noWaitFlag - 'try' or 'once'
 * @throws UsageError
 */
export function holdOptions(inv: Invocation, noWaitFlag: string): HoldOptions {
  const timeout = secondsOption(inv.values, 'timeout');
  const noWait = Boolean(inv.values[noWaitFlag]);
  if (noWait && timeout !== undefined) throw new UsageError(`--${noWaitFlag} and --timeout do not go together`);
  return {
    ttl: ttlOption(inv.values),
    timeoutMs: timeout === undefined ? undefined : timeout * 1000,
    graceMs: (secondsOption(inv.values, 'grace') ?? DEFAULT_GRACE_SECONDS) * 1000,
    noWait,
  };
}

/** Connects and opens the session to hold on (its lease id names my key in the queue). */
export async function openHoldSession(inv: Invocation, options: HoldOptions): Promise<[Coordinator, Session]> {
  const coord = await inv.connect();
  return [coord, await coord.newSession({ ttl: options.ttl, signal: inv.interrupts.signal })];
}

/** Runs `wait` while the status line tells how many are ahead of my key in `name`'s queue. */
export async function waitInQueue<T>(
  inv: Invocation,
  queue: { coord: Coordinator; session: Session; name: string; label: string; describeFirst?: (v: string) => string },
  wait: () => Promise<T>,
): Promise<T> {
  const stop = showQueueStatus({ ...queue, leaseId: queue.session.leaseId }, inv.io);
  try {
    return await wait();
  } finally {
    stop();
  }
}

/** A held lock or leadership. */
export interface Held {
  readonly key: string;
  readonly token: bigint;
  /** Aborts on loss (and on release / resign). */
  readonly signal: AbortSignal;
}

/**
 * Runs CMD (or holds until interrupted, printing key and token) while `held` is held,
 * then `end()` (release or resign). Resolves the exit code.
 * @param keyEnv - the environment variable that gets the key (ETCD_COORD_LOCK_KEY, ETCD_COORD_LEADER_KEY)
 */
export async function runHolding(
  inv: Invocation,
  held: Held,
  run: { what: string; keyEnv: string; session: Session; graceMs: number; end: () => Promise<void> },
): Promise<number> {
  const { io, interrupts } = inv;
  try {
    if (inv.command.length === 0) io.out(`${held.key} ${held.token}`);
    return await runGuarded({
      command: inv.command,
      env: { ETCD_COORD_TOKEN: String(held.token), [run.keyEnv]: held.key, ETCD_COORD_LEASE_ID: run.session.leaseId },
      lost: held.signal,
      what: run.what,
      graceMs: run.graceMs,
      interrupts,
      io,
    });
  } finally {
    await run.end().catch((err: Error) => io.warn(`${run.what}: ${err.message}`));
  }
}
