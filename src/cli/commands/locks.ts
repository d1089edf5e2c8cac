/**
 * `etcd-coord locks [PREFIX]`: every queue under a prefix, one line each: who is at the
 * head, for how long, how many wait behind it, and its lease TTL left.
 * @module
 */
import { type Command, JSON_OPTION } from '../command.js';
import { durationLabel, ownerLabel, summarize, ttlLabel } from '../contenders.js';
import { EXIT } from '../exit.js';
import { formatTable, toJson } from '../format.js';

/** `locks`: see the help text. */
export const locksCommand: Command = {
  name: 'locks',
  summary: 'list every lock, semaphore and election queue: holder, waiters, TTL',
  synopsis: '[PREFIX] [--json]',
  positionals: ['[PREFIX]'],
  options: JSON_OPTION,
  help: `Lists every queue under PREFIX (after the namespace; default: all of it), one
line each, from one consistent read of etcd: mutexes, semaphores, each side of a
read-write lock (NAME/read, NAME/write) and elections, whoever wrote them
(etcd-coord, Go's concurrency package, etcdctl lock/elect).

Columns: NAME; the head of the queue (the holder of a mutex, the leader of an
election): OWNER (from its owner record; an election shows its value in quotes;
'(unknown)' for the empty values of Go and etcdctl; '+N' when N more hold: a
semaphore's permits, a read side's readers), TOKEN (its fencing token), HELD FOR
(since it joined the queue, so a holder that had to wait counts its wait too);
WAITERS, OLDEST WAIT among them, and the head's lease TTL LEFT.

Options:
  --json    one JSON object: {revision, takenAt, queues: [{name, head, holders,
            waiters, heldForS, oldestWaitS}]}, head with key, leaseId, token,
            position, holds, value, owner, host, pid, since, kind, limit,
            ttlRemainingS, grantedTtlS

Examples:
  etcd-coord locks
  etcd-coord locks jobs/ --json`,
  async run(inv) {
    const prefix = inv.positionals[0] ?? '';
    const coord = await inv.connect();
    const snap = await coord.inspect(prefix, { signal: inv.interrupts.signal });
    const queues = snap.queues.map((q) => summarize(q, snap.takenAt));
    if (inv.values.json) {
      inv.io.out(toJson({ revision: snap.revision, takenAt: snap.takenAt, queues }));
      return EXIT.ok;
    }
    if (queues.length === 0) {
      inv.io.warn(`no locks or elections${prefix ? ` under ${JSON.stringify(prefix)}` : ''}`);
      return EXIT.ok;
    }
    const rows = queues.map((q) => [
      q.name,
      q.head ? `${ownerLabel(q.head)}${q.holders > 1 ? ` +${q.holders - 1}` : ''}` : '-',
      q.head ? String(q.head.token) : '-',
      durationLabel(q.heldForS ?? undefined),
      String(q.waiters),
      durationLabel(q.oldestWaitS ?? undefined),
      ttlLabel(q.head ?? undefined),
    ]);
    inv.io.out(formatTable(['NAME', 'OWNER', 'TOKEN', 'HELD FOR', 'WAITERS', 'OLDEST WAIT', 'TTL LEFT'], rows));
    return EXIT.ok;
  },
};
