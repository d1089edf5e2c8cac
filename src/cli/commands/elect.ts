/**
 * `etcd-coord elect NAME [-- CMD...]`: runs CMD only while leader (leader-only cron jobs,
 * singleton workers).
 * @module
 */
import { hostname } from 'node:os';
import { validateName } from '../../keys.js';
import { stringOption } from '../args.js';
import type { Command } from '../command.js';
import { EXIT } from '../exit.js';
import { DEFAULT_GRACE_SECONDS, holdOptions, openHoldSession, runHolding, waitInQueue } from '../hold.js';

/** `elect`: see the help text. */
export const electCommand: Command = {
  name: 'elect',
  summary: 'run CMD only while leader of the election NAME',
  synopsis: 'NAME [--value V] [--once | --timeout S] [--ttl S] [--grace S] [-- CMD [ARG...]]',
  positionals: ['NAME'],
  runsCommand: true,
  options: {
    value: { type: 'string' },
    once: { type: 'boolean' },
    timeout: { type: 'string' },
    ttl: { type: 'string' },
    grace: { type: 'string' },
  },
  help: `Campaigns in the election NAME with VALUE, waits until elected, runs CMD while
leader, and resigns when CMD ends. Exits with CMD's exit status. Without CMD, leads
until interrupted, printing the leader key and fencing token.

CMD's environment has ETCD_COORD_TOKEN (the leadership's fencing token),
ETCD_COORD_LEADER_KEY and ETCD_COORD_LEASE_ID. SIGINT, SIGTERM and SIGHUP are
forwarded to CMD. If the leadership is lost, CMD gets SIGTERM, then SIGKILL after
--grace seconds, and the exit code is 4.

Same key layout as 'etcdctl elect NAME VALUE'.

Options:
  --value V      the value to proclaim (default: HOSTNAME:PID)
  --once         do not wait: when another candidate leads right now, exit 0
                 without running CMD (leader-only cron: run it on every host)
  --timeout S    give up waiting after S seconds (exit 5)
  --ttl S        lease TTL in seconds, at least 2 (default 10)
  --grace S      seconds between SIGTERM and SIGKILL after a loss (default ${DEFAULT_GRACE_SECONDS})

Examples:
  # crontab on every host: exactly one host runs the report
  0 3 * * *  etcd-coord elect reports --once -- ./send-report.sh
  # a singleton worker with hot standbys
  etcd-coord elect billing-worker --value "$(hostname)" -- ./worker`,

  async run(inv) {
    const name = validateName(inv.positionals[0], 'election name');
    const value = stringOption(inv.values, 'value') ?? `${hostname()}:${process.pid}`;
    const options = holdOptions(inv, 'once');
    const [coord, session] = await openHoldSession(inv, options);
    const election = coord.election(name, { session });
    const { signal } = inv.interrupts;
    const label = `waiting for leadership of ${name}`;
    const describeFirst = (v: string) => `leader: ${v}`;
    const leadership = options.noWait
      ? await election.tryCampaign(value, { signal })
      : await waitInQueue(inv, { coord, session, name, label, describeFirst }, () =>
          election.campaign(value, { signal, timeoutMs: options.timeoutMs }),
        );
    if (!leadership) {
      const leader = await election.leader();
      inv.io.warn(`not the leader of ${name}${leader ? ` (leader: ${leader.value})` : ''}; not running CMD`);
      return EXIT.ok;
    }
    const what = `leadership of ${name}`;
    const end = () => leadership.resign();
    return runHolding(inv, leadership, {
      what,
      keyEnv: 'ETCD_COORD_LEADER_KEY',
      session,
      graceMs: options.graceMs,
      end,
    });
  },
};
