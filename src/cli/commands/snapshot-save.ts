/**
 * `etcd-coord snapshot save FILE`: a backup of etcd's database, with its sha256.
 * @module
 */
import { open, rename, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { mapEtcdError } from '../../errors.js';
import { type Command, type Invocation, JSON_OPTION } from '../command.js';
import { CliError, EXIT } from '../exit.js';
import { formatBytes, toJson } from '../format.js';
import { SnapshotHasher } from '../snapshot-hash.js';
import { openSnapshotStream } from '../snapshot-stream.js';

/** `snapshot save`: see the help text. */
export const snapshotSaveCommand: Command = {
  name: 'snapshot save',
  summary: 'save a consistent backup of the whole keyspace to FILE',
  synopsis: 'FILE [--json]',
  positionals: ['FILE'],
  options: JSON_OPTION,
  help: `Streams a snapshot of etcd's database from one member (etcd's maintenance API,
like 'etcdctl snapshot save') to FILE.part, checks etcd's embedded sha256, then
renames it to FILE. Shows progress on a terminal. Prints 'SHA256  FILE' (the format
of sha256sum) at the end. Restore with 'etcdctl snapshot restore FILE'.

The snapshot holds the whole keyspace, not only --namespace.

Options:
  --json    print {file, size, sha256, revision} instead`,
  async run(inv) {
    const file = resolve(inv.positionals[0]);
    const coord = await inv.connect();
    const { signal } = inv.interrupts;
    const part = `${file}.part`;
    const out = await open(part, 'w');
    const hasher = new SnapshotHasher();
    let revision: string | undefined;
    try {
      const stream = await openSnapshotStream(coord.client);
      const cancel = () => stream.cancel();
      signal.addEventListener('abort', cancel, { once: true });
      try {
        let total = 0;
        for await (const msg of stream) {
          if (total === 0) {
            // etcd 3.4 sends no header; later versions give the snapshot's revision in the first one.
            revision = msg.header?.revision;
            total = Number(msg.remaining_bytes) + msg.blob.length;
          }
          hasher.update(msg.blob);
          await out.write(msg.blob);
          showProgress(inv, hasher, total);
        }
      } finally {
        signal.removeEventListener('abort', cancel);
      }
      const digest = hasher.digest();
      if (!digest.intact) throw new CliError('snapshot save: the stream ended without a valid etcd checksum', 1);
      await out.sync();
      await out.close();
      await rename(part, file);
      inv.io.clearStatus();
      if (inv.values.json) inv.io.out(toJson({ file, size: digest.size, sha256: digest.sha256, revision }));
      else {
        const at = revision ? ` at revision ${revision}` : '';
        inv.io.err(`saved snapshot${at} (${formatBytes(digest.size)}) to ${file}`);
        inv.io.out(`${digest.sha256}  ${file}`);
      }
      return EXIT.ok;
    } catch (err) {
      await out.close().catch(() => undefined);
      await rm(part, { force: true });
      if (signal.aborted) throw signal.reason;
      throw mapEtcdError(err, 'snapshot save');
    }
  },
};

function showProgress(inv: Invocation, hasher: SnapshotHasher, total: number): void {
  if (!inv.io.tty) return;
  const done = hasher.bytes;
  const pct = total > 0 ? ` (${Math.floor((100 * done) / total)}%)` : '';
  inv.io.status(`snapshot: ${formatBytes(done)} of ${formatBytes(total)}${pct}`);
}
