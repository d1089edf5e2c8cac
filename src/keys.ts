/**
 * Key layout and input validation. Every check here is synchronous and runs before
 * anything is written to etcd.
 *
 * Layout (Go `concurrency` compatible):
 * - lock / election / semaphore key: `<namespace><name>/<leaseId hex>`
 * - registry key: `<namespace>services/<service>/<instanceId>`
 * @module
 */
import { type ComparatorBuilder, CompareResult, CompareTarget, type ICompare, type Namespace } from 'etcd3';
import { InvalidArgumentError } from './errors.js';

const SEGMENT = /^[A-Za-z0-9._:@=+-]+$/;
/** etcd's smallest lease TTL with default election settings (1.5 s, rounded up). */
export const MIN_TTL_SECONDS = 2;
/** The largest TTL etcd accepts. */
export const MAX_TTL_SECONDS = 9_000_000_000;

/**
 * Checks a lock, semaphore, rwlock or election name: one or more segments of
 * `A-Z a-z 0-9 . _ : @ = + -` joined by single `/`, no leading or trailing `/`.
 * @throws InvalidArgumentError
 */
export function validateName(name: unknown, what = 'name'): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidArgumentError(`${what} must be a non-empty string, got ${describe(name)}`);
  }
  if (name.length > 512) throw new InvalidArgumentError(`${what} must be at most 512 characters, got ${name.length}`);
  const parts = name.split('/');
  if (parts.some((p) => !SEGMENT.test(p))) {
    throw new InvalidArgumentError(
      `${what} ${JSON.stringify(name)} is not valid: expected segments of letters, digits and . _ : @ = + - joined by single '/', with no leading or trailing '/'`,
    );
  }
  return name;
}

/**
 * Checks a single path segment (service name, instance id): no `/`.
 * @throws InvalidArgumentError
 */
export function validateSegment(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidArgumentError(`${what} must be a non-empty string, got ${describe(value)}`);
  }
  if (value.length > 256 || !SEGMENT.test(value)) {
    throw new InvalidArgumentError(
      `${what} ${JSON.stringify(value)} is not valid: expected 1-256 letters, digits and . _ : @ = + - (no '/')`,
    );
  }
  return value;
}

/**
 * Checks a namespace: empty, or segments as in {@link validateName} ending with `/`.
 * @throws InvalidArgumentError
 */
export function validateNamespace(ns: unknown): string {
  if (ns === undefined || ns === '') return '';
  if (typeof ns !== 'string' || !ns.endsWith('/') || ns.startsWith('/')) {
    throw new InvalidArgumentError(
      `namespace must be '' or end with '/' and not start with '/' (e.g. 'myapp/'), got ${describe(ns)}`,
    );
  }
  validateName(ns.slice(0, -1), 'namespace');
  return ns;
}

/**
 * Checks a TTL in seconds: an integer of at least etcd's minimum (2).
 * @throws InvalidArgumentError
 */
export function validateTtl(ttl: unknown, what = 'ttl'): number {
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < MIN_TTL_SECONDS || ttl > MAX_TTL_SECONDS) {
    throw new InvalidArgumentError(
      `${what} must be a whole number of seconds from ${MIN_TTL_SECONDS} (etcd's minimum lease TTL) to ${MAX_TTL_SECONDS}, got ${describe(ttl)}`,
    );
  }
  return ttl;
}

/**
 * Checks an optional timeout in milliseconds: a finite number >= 0, or undefined.
 * @throws InvalidArgumentError
 */
export function validateTimeout(ms: unknown, what = 'timeoutMs'): number | undefined {
  if (ms === undefined) return undefined;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new InvalidArgumentError(`${what} must be a finite number of milliseconds >= 0, got ${describe(ms)}`);
  }
  return ms;
}

/** A parsed endpoint: the URL etcd3 wants and whether it is TLS. */
export interface Endpoint {
  readonly url: string;
  readonly secure: boolean;
}

/**
 * Parses `host:port` or `http(s)://host:port`.
 * @throws InvalidArgumentError
 */
export function parseEndpoint(raw: unknown): Endpoint {
  if (typeof raw !== 'string' || raw.trim() === '') {
    throw new InvalidArgumentError(`endpoint must be 'host:port' or 'http(s)://host:port', got ${describe(raw)}`);
  }
  const text = raw.trim();
  const withScheme = /^[a-z]+:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new InvalidArgumentError(
      `endpoint ${JSON.stringify(raw)} is malformed: expected 'host:port' or 'http(s)://host:port'`,
    );
  }
  const port = Number(url.port);
  if (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    !url.hostname ||
    !url.port ||
    !Number.isInteger(port) ||
    port < 1 ||
    port > 65535 ||
    (url.pathname !== '/' && url.pathname !== '') ||
    url.search ||
    url.username
  ) {
    throw new InvalidArgumentError(
      `endpoint ${JSON.stringify(raw)} is malformed: expected 'host:port' or 'http(s)://host:port' with a port from 1 to 65535`,
    );
  }
  return { url: `${url.protocol}//${url.host}`, secure: url.protocol === 'https:' };
}

/** The lease id as etcd keys carry it (lower-case hex, like Go's `%x`). */
export function leaseHex(id: string | bigint): string {
  return BigInt(id).toString(16);
}

/** `<namespace><name>/` — the prefix every contender's key of a lock or election shares. */
export function queuePrefix(namespace: string, name: string): string {
  return `${namespace}${name}/`;
}

/** `<namespace><name>/<leaseId hex>` — one contender's key. */
export function queueKey(namespace: string, name: string, leaseId: string): string {
  return `${queuePrefix(namespace, name)}${leaseId}`;
}

/** `<namespace>services/<service>/` */
export function servicePrefix(namespace: string, service: string): string {
  return `${namespace}services/${service}/`;
}

/** `<namespace>services/<service>/<id>` */
export function serviceKey(namespace: string, service: string, id: string): string {
  return `${servicePrefix(namespace, service)}${id}`;
}

/** The end of the range that holds every key starting with `prefix` (etcd's `WithPrefix`). */
export function prefixEnd(prefix: string | Buffer): Buffer {
  const buf = Buffer.from(prefix);
  for (let i = buf.length - 1; i >= 0; i--) {
    if (buf[i] < 0xff) {
      const end = buf.subarray(0, i + 1);
      end[i]++;
      return end;
    }
  }
  return Buffer.from([0]);
}

/**
 * `CreateRevision(key) == rev`: the ownership compare. With a contender's token it holds
 * exactly while that key is still the one created at `rev` (a lock, a leadership);
 * with `0n` it holds while the key does not exist (create-if-absent).
 */
export function createRevisionIs(key: string | Buffer, rev: bigint): ICompare {
  return {
    key: Buffer.from(key),
    target: CompareTarget.Create,
    result: CompareResult.Equal,
    create_revision: rev.toString(),
  };
}

/** `ModRevision(key) == rev`: the key was not written since it was read at `rev`. */
export function modRevisionIs(key: string | Buffer, rev: bigint | string): ICompare {
  return {
    key: Buffer.from(key),
    target: CompareTarget.Mod,
    result: CompareResult.Equal,
    mod_revision: rev.toString(),
  };
}

/** `Lease(key) == lease` (decimal lease id): the key is attached to that lease. */
export function leaseIs(key: string | Buffer, lease: string): ICompare {
  return { key: Buffer.from(key), target: CompareTarget.Lease, result: CompareResult.Equal, lease };
}

/**
 * An etcd3 transaction builder on `kv` that already carries `CreateRevision(key) == rev`
 * (`key` relative to `kv`'s namespace): the `txn()` of a hold.
 */
export function ifCreateRevisionIs(kv: Namespace, key: string, rev: bigint): ComparatorBuilder {
  return kv.if(key, 'Create', '==', rev.toString());
}

/** Adds `CreateRevision(key) == rev` to `builder` (`key` relative to its namespace); returns `builder`. */
export function andCreateRevisionIs(builder: ComparatorBuilder, key: string, rev: bigint): ComparatorBuilder {
  return builder.and(key, 'Create', '==', rev.toString());
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean') return String(v);
  return typeof v;
}
