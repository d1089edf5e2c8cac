/**
 * Checksums of an etcd snapshot: the sha256 of the whole file (what `sha256sum` prints)
 * and etcd's own integrity check, the sha256 of the database that etcd appends as the
 * snapshot stream's last 32 bytes (the one `etcdctl snapshot restore` verifies).
 * @module
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

const HASH_LENGTH = 32;

/** The two checksums of a snapshot. */
export interface SnapshotDigest {
  /** sha256 of all the bytes, hex. */
  readonly sha256: string;
  /** Bytes in all. */
  readonly size: number;
  /** True when the last 32 bytes are the sha256 of the bytes before them (etcd's check). */
  readonly intact: boolean;
}

/** Hashes a snapshot chunk by chunk. */
export class SnapshotHasher {
  private readonly whole = createHash('sha256');
  private readonly data = createHash('sha256');
  private tail = Buffer.alloc(0);
  private size = 0;

  /** Bytes added so far. */
  get bytes(): number {
    return this.size;
  }

  /** Adds the next chunk. */
  update(chunk: Buffer): void {
    this.whole.update(chunk);
    this.size += chunk.length;
    const joined = Buffer.concat([this.tail, chunk]);
    const cut = Math.max(0, joined.length - HASH_LENGTH);
    this.data.update(joined.subarray(0, cut));
    this.tail = joined.subarray(cut);
  }

  /** The checksums of everything added. */
  digest(): SnapshotDigest {
    const intact = this.tail.length === HASH_LENGTH && this.data.digest().equals(this.tail);
    return { sha256: this.whole.digest('hex'), size: this.size, intact };
  }
}

/** The checksums of a snapshot file. */
export async function digestFile(file: string): Promise<SnapshotDigest> {
  const hasher = new SnapshotHasher();
  for await (const chunk of createReadStream(file)) hasher.update(chunk as Buffer);
  return hasher.digest();
}
