/**
 * The options of `coord.partition()`, checked synchronously before anything is written.
 * @module
 */

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { InvalidArgumentError } from '../errors.js';
import { validateName, validateSegment } from '../keys.js';
import { checkSessionOption } from '../lease/check.js';
import type { Session } from '../lease/session.js';

/** The largest number of partitions a group may have. */
export const MAX_PARTITIONS = 65_536;

/** Options of `coord.partition()`. */
export interface PartitionOptions {
  /** How many partitions (numbered `0 .. partitions-1`): a whole number from 1 to 65536. Every member must agree on it. */
  partitions: number;
  /** This member's id, unique in the group (a path segment: letters, digits, `. _ : @ = + -`). Default: `<hostname>:<pid>`. */
  member?: string;
  /** The session the member key and owner keys live on. Default: the coordinator's shared session. */
  session?: Session;
}

/** Checked options. @internal */
export interface PartitionSpec {
  readonly name: string;
  readonly partitions: number;
  readonly member: string;
  /** Undefined: the coordinator's shared session (a fresh one after loss). */
  readonly session: Session | undefined;
}

/** Default member ids handed out in this process, per group key: a second group gets a suffix. */
const defaultsUsed = new Map<string, number>();

function defaultMember(groupKey: string): string {
  const n = (defaultsUsed.get(groupKey) ?? 0) + 1;
  defaultsUsed.set(groupKey, n);
  const base = `${hostname()}:${process.pid}${n > 1 ? `-${n}` : ''}`;
  try {
    return validateSegment(base, 'member');
  } catch {
    return `member-${randomBytes(6).toString('hex')}`;
  }
}

/**
 * Checks the name and options of `coord.partition()`.
 * @throws InvalidArgumentError
 * @internal
 */
export function partitionSpec(namespace: string, name: unknown, options: unknown): PartitionSpec {
  const n = validateName(name, 'partition group name');
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('partition(): options must be an object with partitions');
  }
  const o = options as Partial<PartitionOptions>;
  const partitions = o.partitions;
  if (
    typeof partitions !== 'number' ||
    !Number.isInteger(partitions) ||
    partitions < 1 ||
    partitions > MAX_PARTITIONS
  ) {
    throw new InvalidArgumentError(
      `partition(): partitions must be a whole number from 1 to ${MAX_PARTITIONS}, got ${String(partitions)}`,
    );
  }
  checkSessionOption(o.session);
  const member = o.member === undefined ? defaultMember(`${namespace}${n}`) : validateSegment(o.member, 'member');
  return { name: n, partitions, member, session: o.session };
}
