/**
 * `etcd-coord leader NAME` and `etcd-coord observe NAME`: who leads an election, once or
 * as it changes.
 * @module
 */
import type { LeaderInfo } from '../../index.js';
import { validateName } from '../../keys.js';
import type { Command, Invocation } from '../command.js';
import { CliError, EXIT } from '../exit.js';
import { toJson } from '../format.js';

const JSON_OPTION = { json: { type: 'boolean' } } as const;

/** One leader state as a line: the value, or JSON with `--json`. */
function formatLeader(inv: Invocation, leader: LeaderInfo | undefined): string {
  if (!inv.values.json) return leader ? leader.value : '(no leader)';
  return toJson({ leader: leader ?? null });
}

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
    inv.io.out(formatLeader(inv, leader));
    return leader ? EXIT.ok : EXIT.busy;
  },
};

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
      for await (const leader of coord.election(name).observe({ signal })) inv.io.out(formatLeader(inv, leader));
    } catch (err) {
      if (!signal.aborted) throw err;
    }
    return EXIT.ok;
  },
};
