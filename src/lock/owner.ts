/**
 * Owner records: the value of a lock, semaphore or read-write lock key, so that anyone
 * can tell who holds and who waits. A small JSON object,
 * `{"owner": string, "host": string, "pid": number, "since": ISO-8601}`, written in the
 * join transaction (no extra round trip). A semaphore's keys add `"kind": "semaphore"`
 * and its `"limit"`, a read-write lock's `"kind": "read"` or `"write"`, so that a reader
 * of the keys alone can tell which contenders hold (a mutex's record stays as above: its
 * holder is the head of the queue). Go's `concurrency` package, `etcdctl lock` and
 * etcd's Lock service write empty values; those (and any value that is not a record)
 * decode to an unknown owner, never to an error. Election keys keep the caller's value.
 * @module
 */
import { hostname } from 'node:os';
import { InvalidArgumentError } from '../errors.js';
import type { LockKind } from '../events.js';

/** The longest `owner` accepted, in characters. */
export const MAX_OWNER_LENGTH = 256;

/** What a contender's key says about who put it there (every field optional: other writers). */
export interface OwnerInfo {
  /** Who holds or waits: `connect({ owner })`, `mutex(name, { owner })`, default `<hostname>:<pid>`. */
  readonly owner?: string;
  /** The host name of the process that wrote the key. */
  readonly host?: string;
  /** The process id of that process. */
  readonly pid?: number;
  /** When the key joined the queue. */
  readonly since?: Date;
  /** What the key is, written by semaphores and read-write locks (a mutex writes none). */
  readonly kind?: RecordKind;
  /** A semaphore's limit: how many of the queue's first keys hold. */
  readonly limit?: number;
}

/** The kinds of lock whose owner records say what they are: the holders of these are not just the head of the queue. */
export type RecordKind = Exclude<LockKind, 'mutex'>;
const RECORD_KINDS: readonly string[] = ['semaphore', 'read', 'write'] satisfies RecordKind[];

/** What a semaphore's or read-write lock's owner record says it is. */
export interface RecordShape {
  readonly kind: RecordKind;
  /** A semaphore's limit. */
  readonly limit?: number;
}

/** This host's name, read once (`os.hostname()` is a system call). */
const HOST = hostname();

/** `<hostname>:<pid>`: the owner when none is given. */
export function defaultOwner(): string {
  return `${HOST}:${process.pid}`;
}

/** Control characters would break the one-line-per-contender output of the CLI. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/**
 * Checks an `owner` option: a non-empty string of at most {@link MAX_OWNER_LENGTH}
 * characters without control characters; undefined passes (the default applies).
 * @throws InvalidArgumentError
 */
export function validateOwner(owner: unknown, what = 'owner'): string | undefined {
  if (owner === undefined) return undefined;
  if (typeof owner !== 'string' || owner.length === 0) {
    throw new InvalidArgumentError(
      `${what} must be a non-empty string, got ${typeof owner === 'string' ? '""' : typeof owner}`,
    );
  }
  if (owner.length > MAX_OWNER_LENGTH) {
    throw new InvalidArgumentError(`${what} must be at most ${MAX_OWNER_LENGTH} characters, got ${owner.length}`);
  }
  if (hasControl(owner)) {
    throw new InvalidArgumentError(`${what} must not contain control characters (newlines, tabs...)`);
  }
  return owner;
}

/** The value a contender's key is put with: this process's owner record, stamped now (`shape`: a semaphore's or read-write lock's). */
export function encodeOwner(owner: string, now: Date = new Date(), shape?: RecordShape): Buffer {
  // Owners have no control characters, so NUL separates the parts of the cache key.
  const cacheKey = shape ? `${owner}\u0000${shape.kind}\u0000${shape.limit ?? ''}` : owner;
  let head = recordHeads.get(cacheKey);
  if (head === undefined) {
    const record = { owner, host: HOST, pid: process.pid, ...shape };
    head = JSON.stringify(record).slice(0, -1);
    if (recordHeads.size >= MAX_RECORD_HEADS) recordHeads.clear();
    recordHeads.set(cacheKey, head);
  }
  return Buffer.from(`${head},"since":"${now.toISOString()}"}`);
}

/** The JSON of a record up to `since`, per owner and shape: the same for every acquire of an owner. */
const recordHeads = new Map<string, string>();
/** Owners are few (one per process or per lock, by configuration); the cache is bounded all the same. */
const MAX_RECORD_HEADS = 1024;

/**
 * Reads an owner record from a key's value. Empty values (Go, etcdctl), values that are
 * not JSON, and JSON without a string `owner` give `{}` (an unknown owner); fields of
 * the wrong type are left out.
 */
export function decodeOwner(value: Buffer | string): OwnerInfo {
  const text = typeof value === 'string' ? value : value.toString('utf8');
  if (!text.startsWith('{')) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return {};
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return {};
  const r = v as Record<string, unknown>;
  if (typeof r.owner !== 'string') return {};
  const since = typeof r.since === 'string' ? new Date(r.since) : undefined;
  return {
    owner: r.owner,
    ...(typeof r.host === 'string' ? { host: r.host } : {}),
    ...(typeof r.pid === 'number' && Number.isInteger(r.pid) ? { pid: r.pid } : {}),
    ...(since && !Number.isNaN(since.getTime()) ? { since } : {}),
    ...(typeof r.kind === 'string' && RECORD_KINDS.includes(r.kind) ? { kind: r.kind as RecordKind } : {}),
    ...(typeof r.limit === 'number' && Number.isInteger(r.limit) && r.limit >= 1 ? { limit: r.limit } : {}),
  };
}
