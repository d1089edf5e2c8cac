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
order. For a read-write lock, inspect NAME/read and NAME/write.

Columns: POS; HOLDS (yes: holds the lock or a permit, or leads the election; no:
waits): the head of a mutex's queue or an election's, a semaphore's first LIMIT
(from their owner records), a reader with no older writer, a writer with no older
key; OWNER (from its owner record; an election candidate shows its value
in quotes; '(unknown)' for the empty values of Go and etcdctl), HOST and PID of its
process, TOKEN (fencing token: its key's create revision), LEASE (hex), TTL LEFT of
the lease and GRANTED TTL, FOR (time since it joined the queue) and SINCE.
Prints nothing to stdout (a note on stderr) when nobody holds or waits.

Options:
  --json    one JSON object: {revision, takenAt, name, contenders: [{key, leaseId,
            token, position, holds, value, owner, host, pid, since, kind, limit,
            ttlRemainingS, grantedTtlS}]}

Example:
  etcd-coord inspect jobs/nightly`,
  async run(inv) {
    const name = validateName(inv.positionals[0], 'name');
    const coord = await inv.connect();
    // A read-write lock's side is read with its other side: a reader's turn depends on the writers.
    const side = /\/(read|write)$/.exec(name);
    const prefix = side ? name.slice(0, side.index + 1) : `${name}/`;
    const snap = await coord.inspect(prefix, { signal: inv.interrupts.signal });
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
      c.holds === undefined ? '?' : c.holds ? 'yes' : 'no',
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
    const headers = [
      'POS',
      'HOLDS',
      'OWNER',
      'HOST',
      'PID',
      'TOKEN',
      'LEASE',
      'TTL LEFT',
      'GRANTED TTL',
      'FOR',
      'SINCE',
    ];
    inv.io.out(formatTable(headers, rows));
    return EXIT.ok;
  },
};
