/**
 * `etcd-coord snapshot save FILE` and `etcd-coord snapshot status FILE`.
 * @module
 */
import { execFile } from 'node:child_process';
import { open, rename, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { mapEtcdError } from '../../errors.js';
import type { Command, Invocation } from '../command.js';
import { CliError, EXIT } from '../exit.js';
import { formatBytes, formatTable, toJson } from '../format.js';
import { digestFile, SnapshotHasher } from '../snapshot-hash.js';
import { openSnapshotStream } from '../snapshot-stream.js';

/** `snapshot save`: see the help text. */
export const snapshotSaveCommand: Command = {
  name: 'snapshot save',
  summary: 'save a consistent backup of the whole keyspace to FILE',
  synopsis: 'FILE [--json]',
  positionals: ['FILE'],
  options: { json: { type: 'boolean' } },
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

/** What `etcdutl`/`etcdctl snapshot status -w json` reports. */
interface EtcdSnapshotStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
}

/** Runs `etcdutl snapshot status` (etcd 3.5+), else `etcdctl snapshot status`; undefined when neither works. */
async function etcdSnapshotStatus(file: string): Promise<(EtcdSnapshotStatus & { tool: string }) | undefined> {
  for (const tool of ['etcdutl', 'etcdctl']) {
    const stdout = await new Promise<string | undefined>((done) => {
      execFile(
        tool,
        ['snapshot', 'status', file, '-w', 'json'],
        { env: { ...process.env, ETCDCTL_API: '3' } },
        (err, out) => done(err ? undefined : out),
      );
    });
    if (stdout === undefined) continue;
    try {
      return { ...(JSON.parse(stdout) as EtcdSnapshotStatus), tool };
    } catch {}
  }
  return undefined;
}

/** `snapshot status`: see the help text. */
export const snapshotStatusCommand: Command = {
  name: 'snapshot status',
  summary: 'check a snapshot FILE: size, sha256, revision, keys',
  synopsis: 'FILE [--json]',
  positionals: ['FILE'],
  options: { json: { type: 'boolean' } },
  help: `Checks a snapshot file without etcd: its size, its sha256, and etcd's embedded
checksum (exit 1 when it does not match: the file is truncated or corrupt). When
'etcdutl' or 'etcdctl' is installed, also shows what 'snapshot status' reports:
revision, number of keys, database size and hash.

Options:
  --json    one JSON object: {file, size, sha256, intact, revision?, totalKey?, totalSize?, hash?}`,
  async run(inv) {
    const file = resolve(inv.positionals[0]);
    const digest = await digestFile(file).catch((err: NodeJS.ErrnoException) => {
      throw new CliError(`snapshot status: cannot read ${file}: ${err.message}`, EXIT.failure, { cause: err });
    });
    const etcd = digest.intact ? await etcdSnapshotStatus(file) : undefined;
    if (inv.values.json) {
      inv.io.out(toJson({ file, ...digest, ...etcd }));
    } else {
      const rows = [
        ['file', file],
        ['size', `${formatBytes(digest.size)} (${digest.size} bytes)`],
        ['sha256', digest.sha256],
        ['etcd checksum', digest.intact ? 'ok' : 'MISMATCH (truncated or corrupt)'],
      ];
      if (etcd) {
        rows.push(['revision', String(etcd.revision)], ['keys', String(etcd.totalKey)]);
        rows.push(['db size', formatBytes(etcd.totalSize)], [`hash (${etcd.tool})`, etcd.hash.toString(16)]);
      }
      inv.io.out(formatTable(['FIELD', 'VALUE'], rows));
    }
    return digest.intact ? EXIT.ok : EXIT.failure;
  },
};
