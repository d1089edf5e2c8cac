/**
 * `etcd-coord lock NAME [-- CMD...]`: runs CMD while holding the mutex NAME, like flock(1).
 * @module
 */
import { validateName } from '../../keys.js';
import type { Command } from '../command.js';
import { CliError, EXIT } from '../exit.js';
import { DEFAULT_GRACE_SECONDS, holdOptions, openHoldSession, runHolding, waitInQueue } from '../hold.js';

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
    const options = holdOptions(inv, 'try');
    const [coord, session] = await openHoldSession(inv, options);
    const mutex = coord.mutex(name, { session });
    const lock = options.noWait
      ? await mutex.tryAcquire()
      : await waitInQueue(inv, { coord, session, name, label: `waiting for lock ${name}` }, () =>
          mutex.acquire({ signal: inv.interrupts.signal, timeoutMs: options.timeoutMs }),
        );
    if (!lock) {
      const holder = await mutex.holder();
      throw new CliError(`lock ${name} is held${holder ? ` (holder lease ${holder.leaseId})` : ''}`, EXIT.busy);
    }
    const what = `lock ${name}`;
    const end = () => lock.release();
    return runHolding(inv, lock, { what, keyEnv: 'ETCD_COORD_LOCK_KEY', session, graceMs: options.graceMs, end });
  },
};
