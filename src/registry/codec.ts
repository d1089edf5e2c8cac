/**
 * The JSON value of a registry key, and its decoding into a {@link ServiceInstance}.
 * Decoding is lenient about optional fields (other writers may omit them) and strict
 * about identity: the id and service must match the key.
 * @module
 */
import { leaseHex } from '../keys.js';
import type { InstanceStatus, ServiceInstance } from './types.js';
import type { InstanceRecord } from './validate.js';

/** The value stored under the instance's key. @internal */
export function encodeInstance(r: InstanceRecord): Buffer {
  return Buffer.from(
    JSON.stringify({
      service: r.service,
      id: r.id,
      address: r.address,
      port: r.port,
      metadata: r.metadata,
      weight: r.weight,
      status: r.status,
      registeredAt: r.registeredAt,
    }),
  );
}

/** A stored key as the decoder needs it. @internal */
export interface StoredKey {
  readonly key: string;
  readonly value: Buffer;
  readonly modRevision: bigint;
  /** Decimal lease id; '0' for none. */
  readonly lease: string;
}

/** The instance a record describes, once written under `key` on `lease` at `revision`. @internal */
export function toInstance(r: InstanceRecord, key: string, lease: string, revision: bigint): ServiceInstance {
  return { ...r, metadata: { ...r.metadata }, key, leaseId: leaseHex(lease), revision };
}

function stringMap(v: unknown): Record<string, string> | undefined {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const entries = Object.entries(v);
  return entries.every(([, s]) => typeof s === 'string') ? Object.fromEntries(entries) : undefined;
}

/**
 * Decodes a key under `<prefix>` (= `<namespace>services/<service>/`). Undefined when the
 * key is not a direct child or the value is not a valid instance.
 * @internal
 */
export function decodeInstance(prefix: string, service: string, kv: StoredKey): ServiceInstance | undefined {
  const id = kv.key.slice(prefix.length);
  if (!kv.key.startsWith(prefix) || id.length === 0 || id.includes('/')) return undefined;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(kv.value.toString('utf8'));
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object') return undefined;
  const metadata = stringMap(v.metadata);
  const weight = v.weight === undefined ? 1 : v.weight;
  if (
    (v.id !== undefined && v.id !== id) ||
    (v.service !== undefined && v.service !== service) ||
    typeof v.address !== 'string' ||
    typeof v.port !== 'number' ||
    !metadata ||
    typeof weight !== 'number' ||
    !(weight > 0)
  ) {
    return undefined;
  }
  const status: InstanceStatus = v.status === 'draining' ? 'draining' : 'serving';
  return {
    service,
    id,
    address: v.address,
    port: v.port,
    metadata,
    weight,
    status,
    registeredAt: typeof v.registeredAt === 'string' ? v.registeredAt : '',
    key: kv.key,
    leaseId: leaseHex(kv.lease),
    revision: kv.modRevision,
  };
}

/** Orders instances by id (code unit order, as round-robin walks them). @internal */
export function compareById(a: ServiceInstance, b: ServiceInstance): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
