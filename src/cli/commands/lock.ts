/**
 * `etcd-coord lock NAME [-- CMD...]`: runs CMD while holding the mutex NAME, like flock(1).
 * @module
 */
import { validateName } from '../../keys.js';
import { secondsOption, ttlOption } from '../args.js';
import type { Command, Invocation } from '../command.js';
import { CliError, EXIT, UsageError } from '../exit.js';
import { showQueueStatus } from '../queue-status.js';
import { runGuarded } from '../run-guarded.js';

/** The `--grace` default: seconds CMD has between SIGTERM and SIGKILL after a loss. */
export const DEFAULT_GRACE_SECONDS = 10;

/** `--grace S` in ms. */
export function graceMs(inv: Invocation): number {
  return (secondsOption(inv.values, 'grace') ?? DEFAULT_GRACE_SECONDS) * 1000;
}

/** `lock`: see the help text. */
export const lockCommand: Command = {
  name: 'lock',
  summary: 'run CMD while holding the lock NAME (like flock)',
  synopsis: 'NAME [--try | --timeout S] [--ttl S] [--grace S] [-- CMD [ARG...]]',
  positionals: ['NAME'],
  runsCommand: true,
  options: {
    try: { type: 'boolean' },
    timeout: { type: 'string' },
    ttl: { type: 'string' },
    grace: { type: 'string' },
  },
  help: `Waits for the lock NAME (first come, first served), runs CMD while holding it, and
releases it when CMD ends. Exits with CMD's exit status. Without CMD, holds the lock
until interrupted (SIGINT/SIGTERM), printing its key and fencing token.

CMD's environment has ETCD_COORD_TOKEN (the fencing token: it increases with every
new holder), ETCD_COORD_LOCK_KEY (the lock's etcd key) and ETCD_COORD_LEASE_ID.
SIGINT, SIGTERM and SIGHUP are forwarded to CMD. If the lock is lost (the lease
expired, etcd unreachable past the TTL, the key deleted), CMD gets SIGTERM, then
SIGKILL after --grace seconds, and the exit code is 4.

Same key layout as 'etcdctl lock NAME': the two exclude each other.

Options:
  --try          do not wait: exit 3 at once when the lock is held
  --timeout S    give up waiting after S seconds (exit 5)
  --ttl S        lease TTL in seconds, at least 2 (default 10): how long the lock
                 outlives a crashed etcd-coord
  --grace S      seconds between SIGTERM and SIGKILL after a loss (default ${DEFAULT_GRACE_SECONDS})

Examples:
  etcd-coord lock jobs/nightly -- ./nightly.sh
  etcd-coord lock --try deploy -- make deploy || echo "a deploy is running"`,

  async run(inv) {
    const name = validateName(inv.positionals[0], 'lock name');
    const ttl = ttlOption(inv.values);
    const timeout = secondsOption(inv.values, 'timeout');
    const grace = graceMs(inv);
    const tryOnly = Boolean(inv.values.try);
    if (tryOnly && timeout !== undefined) throw new UsageError('--try and --timeout do not go together');
    const { interrupts, io } = inv;
    const coord = await inv.connect();
    const session = await coord.newSession({ ttl, signal: interrupts.signal });
    const mutex = coord.mutex(name, { session });
    let lock: Awaited<ReturnType<typeof mutex.acquire>> | undefined;
    if (tryOnly) {
      lock = await mutex.tryAcquire();
      if (!lock) {
        const holder = await mutex.holder();
        throw new CliError(`lock ${name} is held${holder ? ` (holder lease ${holder.leaseId})` : ''}`, EXIT.busy);
      }
    } else {
      const label = `waiting for lock ${name}`;
      const stopStatus = showQueueStatus({ coord, name, leaseId: session.leaseId, label }, io);
      try {
        lock = await mutex.acquire({ signal: interrupts.signal, timeoutMs: timeout && timeout * 1000 });
      } finally {
        stopStatus();
      }
    }
    try {
      if (inv.command.length === 0) io.out(`${lock.key} ${lock.token}`);
      return await runGuarded({
        command: inv.command,
        env: {
          ETCD_COORD_TOKEN: String(lock.token),
          ETCD_COORD_LOCK_KEY: lock.key,
          ETCD_COORD_LEASE_ID: session.leaseId,
        },
        lost: lock.signal,
        what: `lock ${name}`,
        graceMs: grace,
        interrupts,
        io,
      });
    } finally {
      await lock.release().catch((err: Error) => io.warn(`release lock ${name}: ${err.message}`));
    }
  },
};
