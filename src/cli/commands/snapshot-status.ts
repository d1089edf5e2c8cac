/**
 * `etcd-coord snapshot status FILE`: checks a snapshot file without etcd.
 * @module
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { type Command, JSON_OPTION } from '../command.js';
import { CliError, EXIT } from '../exit.js';
import { formatBytes, formatTable, toJson } from '../format.js';
import { digestFile } from '../snapshot-hash.js';

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
  options: JSON_OPTION,
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
