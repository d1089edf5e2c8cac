/**
 * `etcd-coord inspect NAME`: the whole queue of one lock, semaphore or election.
 * @module
 */
import { validateName } from '../../keys.js';
import { type Command, JSON_OPTION } from '../command.js';
import { ageS, durationLabel, oneLine, ownerLabel, ttlLabel } from '../contenders.js';
import { EXIT } from '../exit.js';
import { formatTable, toJson } from '../format.js';

/** `inspect`: see the help text. */
export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'show the whole queue of the lock, semaphore or election NAME',
  synopsis: 'NAME [--json]',
  positionals: ['NAME'],
  options: JSON_OPTION,
  help: `Shows everyone in the queue of NAME, from one consistent read of etcd, in queue
order: position 0 holds the mutex or leads the election (a semaphore's first LIMIT
hold). For a read-write lock, inspect NAME/read and NAME/write.

Columns: POS; OWNER (from its owner record; an election candidate shows its value
in quotes; '(unknown)' for the empty values of Go and etcdctl), HOST and PID of its
process, TOKEN (fencing token: its key's create revision), LEASE (hex), TTL LEFT of
the lease and GRANTED TTL, FOR (time since it joined the queue) and SINCE.
Prints nothing to stdout (a note on stderr) when nobody holds or waits.

Options:
  --json    one JSON object: {revision, takenAt, name, contenders: [{key, leaseId,
            token, position, value, owner, host, pid, since, ttlRemainingS,
            grantedTtlS}]}

Example:
  etcd-coord inspect jobs/nightly`,
  async run(inv) {
    const name = validateName(inv.positionals[0], 'name');
    const coord = await inv.connect();
    const snap = await coord.inspect(`${name}/`, { signal: inv.interrupts.signal });
    const contenders = snap.queues.find((q) => q.name === name)?.contenders ?? [];
    if (inv.values.json) {
      inv.io.out(toJson({ revision: snap.revision, takenAt: snap.takenAt, name, contenders }));
      return EXIT.ok;
    }
    if (contenders.length === 0) {
      inv.io.warn(`nobody holds or waits for ${name}`);
      return EXIT.ok;
    }
    const rows = contenders.map((c) => [
      String(c.position),
      ownerLabel(c),
      c.host === undefined ? '-' : oneLine(c.host),
      c.pid === undefined ? '-' : String(c.pid),
      String(c.token),
      c.leaseId,
      ttlLabel(c),
      c.grantedTtlS === undefined ? '-' : `${c.grantedTtlS}s`,
      durationLabel(ageS(c, snap.takenAt)),
      c.since?.toISOString() ?? '-',
    ]);
    const headers = ['POS', 'OWNER', 'HOST', 'PID', 'TOKEN', 'LEASE', 'TTL LEFT', 'GRANTED TTL', 'FOR', 'SINCE'];
    inv.io.out(formatTable(headers, rows));
    return EXIT.ok;
  },
};
