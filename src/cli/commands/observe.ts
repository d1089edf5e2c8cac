/**
 * `etcd-coord observe NAME`: the leader of an election and every change.
 * @module
 */
import { validateName } from '../../keys.js';
import { type Command, JSON_OPTION } from '../command.js';
import { EXIT } from '../exit.js';
import { formatLeader } from '../format.js';

/** `observe`: see the help text. */
export const observeCommand: Command = {
  name: 'observe',
  summary: 'print the leader of the election NAME and every change',
  synopsis: 'NAME [--json]',
  positionals: ['NAME'],
  options: JSON_OPTION,
  help: `Prints the current leader of the election NAME, then a line for every change: a
new leader, a new value proclaimed by the leader, or '(no leader)'. Runs until
interrupted (exit 0). Survives etcd reconnects.

Options:
  --json    one JSON object per line: {"leader": {"value", "key", "token"} | null}`,
  async run(inv) {
    const name = validateName(inv.positionals[0], 'election name');
    const coord = await inv.connect();
    const signal = AbortSignal.any([inv.interrupts.signal, inv.io.stdoutClosed]);
    try {
      for await (const leader of coord.election(name).observe({ signal }))
        inv.io.out(formatLeader(leader, Boolean(inv.values.json)));
    } catch (err) {
      if (!signal.aborted) throw err;
    }
    return EXIT.ok;
  },
};
