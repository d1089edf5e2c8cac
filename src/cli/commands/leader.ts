/**
 * `etcd-coord leader NAME`: who leads an election now.
 * @module
 */
import { validateName } from '../../keys.js';
import { type Command, JSON_OPTION } from '../command.js';
import { CliError, EXIT } from '../exit.js';
import { formatLeader } from '../format.js';

/** `leader`: see the help text. */
export const leaderCommand: Command = {
  name: 'leader',
  summary: 'print the current leader of the election NAME',
  synopsis: 'NAME [--json]',
  positionals: ['NAME'],
  options: JSON_OPTION,
  help: `Prints the value of the current leader of the election NAME (one read). Exits 3
when nobody leads.

Options:
  --json    print {"leader": {"value", "key", "token"}} (null when nobody leads)`,
  async run(inv) {
    const name = validateName(inv.positionals[0], 'election name');
    const coord = await inv.connect();
    const leader = await coord.election(name).leader({ signal: inv.interrupts.signal });
    if (!leader && !inv.values.json) throw new CliError(`election ${name} has no leader`, EXIT.busy);
    inv.io.out(formatLeader(leader, Boolean(inv.values.json)));
    return leader ? EXIT.ok : EXIT.busy;
  },
};
