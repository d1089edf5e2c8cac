/**
 * Input checks of the registry. All synchronous, all before anything is written; each
 * throws {@link InvalidArgumentError} saying what was expected.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import { validateSegment, validateTimeout, validateTtl } from '../keys.js';
import {
  type CallOptions,
  type DiscoverOptions,
  type InstancePatch,
  type InstanceStatus,
  PICK_STRATEGIES,
  type PickStrategy,
  type RegisterInput,
} from './types.js';

/** The registered fields of an instance (what goes into the JSON value). @internal */
export interface InstanceRecord {
  service: string;
  id: string;
  address: string;
  port: number;
  metadata: Record<string, string>;
  weight: number;
  status: InstanceStatus;
  registeredAt: string;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
}

function checkAddress(v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 253 || /[\s/]/.test(v)) {
    throw new InvalidArgumentError(
      `address must be a host name or IP address (1-253 characters, no whitespace or '/'), got ${show(v)}`,
    );
  }
  return v;
}

function checkPort(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
    throw new InvalidArgumentError(`port must be an integer from 1 to 65535, got ${show(v)}`);
  }
  return v;
}

function checkMetadata(v: unknown): Record<string, string> {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v) || Object.getPrototypeOf(v) !== Object.prototype) {
    throw new InvalidArgumentError(`metadata must be a plain object of string values, got ${show(v)}`);
  }
  const out: Record<string, string> = {};
  for (const [k, value] of Object.entries(v)) {
    if (typeof value !== 'string') {
      throw new InvalidArgumentError(`metadata.${k} must be a string, got ${show(value)}`);
    }
    out[k] = value;
  }
  return out;
}

function checkWeight(v: unknown): number {
  if (v === undefined) return 1;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new InvalidArgumentError(`weight must be a positive finite number, got ${show(v)}`);
  }
  return v;
}

function checkStatus(v: unknown): InstanceStatus {
  if (v === undefined) return 'serving';
  if (v !== 'serving' && v !== 'draining') {
    throw new InvalidArgumentError(`status must be 'serving' or 'draining', got ${show(v)}`);
  }
  return v;
}

/** Checks `register()` input and fills in defaults. @throws InvalidArgumentError */
export function validateRegisterInput(input: RegisterInput): InstanceRecord {
  if (input === null || typeof input !== 'object') {
    throw new InvalidArgumentError(`register() needs { service, address, port }, got ${show(input)}`);
  }
  return {
    service: validateSegment(input.service, 'service'),
    id: input.id === undefined ? randomUUID() : validateSegment(input.id, 'id'),
    address: checkAddress(input.address),
    port: checkPort(input.port),
    metadata: checkMetadata(input.metadata),
    weight: checkWeight(input.weight),
    status: checkStatus(input.status),
    registeredAt: new Date().toISOString(),
  };
}

/** Checks the register options; returns the TTL (undefined: the coordinator's). @throws InvalidArgumentError */
export function validateRegisterTtl(ttl: unknown): number | undefined {
  return ttl === undefined ? undefined : validateTtl(ttl, 'ttl');
}

/**
 * Checks `register()`'s lease options: `ttl` (a TTL of its own) or `sharedSession` (the
 * coordinator's shared session), not both.
 * @throws InvalidArgumentError
 */
export function validateRegisterLease(options: { ttl?: unknown; sharedSession?: unknown }): {
  ttl: number | undefined;
  shared: boolean;
} {
  const { sharedSession } = options;
  if (sharedSession !== undefined && typeof sharedSession !== 'boolean') {
    throw new InvalidArgumentError(`sharedSession must be a boolean, got ${show(sharedSession)}`);
  }
  const ttl = validateRegisterTtl(options.ttl);
  if (sharedSession && ttl !== undefined) {
    throw new InvalidArgumentError(
      "register(): give ttl or sharedSession, not both (the shared session has the coordinator's ttl)",
    );
  }
  return { ttl, shared: sharedSession === true };
}

/** Applies a checked patch to a record. @throws InvalidArgumentError */
export function applyPatch(record: InstanceRecord, patch: InstancePatch): InstanceRecord {
  if (patch === null || typeof patch !== 'object') {
    throw new InvalidArgumentError(`update() needs { metadata?, weight?, status? }, got ${show(patch)}`);
  }
  const unknown = Object.keys(patch).filter((k) => !['metadata', 'weight', 'status'].includes(k));
  if (unknown.length > 0) {
    throw new InvalidArgumentError(
      `update() can change metadata, weight and status only, got ${unknown.map((k) => JSON.stringify(k)).join(', ')}`,
    );
  }
  return {
    ...record,
    metadata: patch.metadata === undefined ? record.metadata : checkMetadata(patch.metadata),
    weight: patch.weight === undefined ? record.weight : checkWeight(patch.weight),
    status: patch.status === undefined ? record.status : checkStatus(patch.status),
  };
}

/** Checks a pick strategy. @throws InvalidArgumentError */
export function validateStrategy(strategy: unknown): PickStrategy {
  if (!PICK_STRATEGIES.includes(strategy as PickStrategy)) {
    throw new InvalidArgumentError(
      `pick strategy must be one of ${PICK_STRATEGIES.map((s) => `'${s}'`).join(', ')}, got ${show(strategy)}`,
    );
  }
  return strategy as PickStrategy;
}

/**
 * Checks the arguments of `call()`; returns the strategy (default 'least-request') and signal.
 * @throws InvalidArgumentError
 */
export function validateCall(
  fn: unknown,
  options: unknown,
): { strategy: PickStrategy; signal: AbortSignal | undefined } {
  if (typeof fn !== 'function') {
    throw new InvalidArgumentError(`call() needs a function (instance, signal) => Promise, got ${show(fn)}`);
  }
  if (options === undefined) return { strategy: 'least-request', signal: undefined };
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidArgumentError(`call() options must be { strategy?, signal? }, got ${show(options)}`);
  }
  const { strategy, signal } = options as CallOptions;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError(`call() options.signal must be an AbortSignal, got ${show(signal)}`);
  }
  return { strategy: strategy === undefined ? 'least-request' : validateStrategy(strategy), signal };
}

/** Checks the down policy of `discover()` and fills in defaults. @throws InvalidArgumentError */
export function validateDownPolicy(p: DiscoverOptions['downPolicy']): {
  errorThreshold: number;
  halfOpenAfterMs: number;
} {
  const threshold = p?.errorThreshold ?? 1;
  if (!Number.isInteger(threshold) || threshold < 1) {
    throw new InvalidArgumentError(`downPolicy.errorThreshold must be an integer >= 1, got ${show(threshold)}`);
  }
  return {
    errorThreshold: threshold,
    halfOpenAfterMs: validateTimeout(p?.halfOpenAfterMs, 'downPolicy.halfOpenAfterMs') ?? 10_000,
  };
}
