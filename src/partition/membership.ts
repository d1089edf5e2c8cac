/**
 * Membership of a partition group: joining (the member key on the session, then live
 * copies of the members and owners prefixes), and the group's etcd writes, each guarded:
 *
 * - **create if absent** (member key, owner key): `CreateRevision(key) == 0` -> put with
 *   my lease, else read the key. A key found on my own lease with my value is mine (a
 *   retried create whose first answer was lost), so the write is idempotent and retried.
 * - **delete guarded**: delete only if the key is still the one I created
 *   (`CreateRevision(key) == token`), so a key that changed hands is never deleted.
 * @internal
 * @module
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { CoordContext } from '../context.js';
import { ConflictError, CoordinationError } from '../errors.js';
import { createRevisionIs } from '../keys.js';
import type { Session } from '../lease/session.js';
import { leave } from '../queue/leave.js';
import { type MirrorChange, RangeMirror } from '../registry/mirror.js';
import { membersPrefix, ownersPrefix } from './ownership.js';
import type { PartitionSpec } from './spec.js';

/** The outcome of a create-if-absent: mine (with its create revision), or held by another lease. */
export type Created =
  | { readonly mine: true; readonly token: bigint }
  | { readonly mine: false; readonly lease: string; readonly value: Buffer; readonly revision: bigint };

/** Creates `key` with `value` on `lease` if it is absent. Retried on transient errors. */
export async function createIfAbsent(
  ctx: CoordContext,
  what: string,
  key: string,
  value: Buffer,
  lease: string,
  signal?: AbortSignal,
): Promise<Created | undefined> {
  const k = Buffer.from(key);
  const res = await ctx.resilience.run(
    what,
    () =>
      ctx.client.kv.txn({
        compare: [createRevisionIs(k, 0n)],
        success: [{ request_put: { key: k, value, lease } }],
        failure: [{ request_range: { key: k } }],
      }),
    { idempotent: true, signal },
  );
  if (res.succeeded) return { mine: true, token: BigInt(res.header.revision) };
  const kv = res.responses[0]?.response_range.kvs[0];
  if (!kv) return undefined; // deleted in between: the caller looks again
  const holder = String(kv.lease ?? '0');
  if (holder === lease && kv.value.equals(value)) return { mine: true, token: BigInt(kv.create_revision) };
  return { mine: false, lease: holder, value: kv.value, revision: BigInt(res.header.revision) };
}

/** Deletes `key` if its create revision is still `token` (the queue's guarded leave). Resolves whether it deleted. */
export const deleteGuarded = leave;

/** The value of a member key: who the member is, for `etcd-coord partitions` and `inspect`. */
export function encodeMember(member: string, partitions: number): Buffer {
  return Buffer.from(JSON.stringify({ member, partitions, host: hostname(), pid: process.pid, since: Date.now() }));
}

/** A member registered on a live session, with live copies of the members and owners prefixes. @internal */
export interface Joined {
  readonly session: Session;
  readonly memberKey: string;
  readonly memberToken: bigint;
  readonly members: RangeMirror;
  readonly owners: RangeMirror;
}

/**
 * Registers the member key on a live session (the spec's, else the shared one) and
 * starts mirroring the members and owners prefixes; `onChange` is told every change of
 * either (`keys`: the owner keys that changed; undefined: the member list changed). On failure nothing of this attempt is left in etcd.
 * @throws ConflictError when another live member has this member id.
 */
export async function joinGroup(
  ctx: CoordContext,
  spec: PartitionSpec,
  logger: Logger,
  signal: AbortSignal,
  onChange: (ownerKeys: readonly string[] | undefined) => void,
): Promise<Joined> {
  const session = spec.session ?? (await ctx.defaultSession(signal));
  session.throwIfLost();
  const key = `${membersPrefix(ctx.namespace, spec.name)}${spec.member}`;
  // No signal: a create that lands must be known, so that it can be deleted.
  const created = await createIfAbsent(
    ctx,
    `${spec.name}: register member ${spec.member}`,
    key,
    encodeMember(spec.member, spec.partitions),
    session.leaseIdDecimal,
  );
  if (!created) throw new CoordinationError(`${spec.name}: member key ${key} changed while joining`);
  if (!created.mine) throw new ConflictError(`${spec.name}: member ${spec.member} is already live in this group`);
  const mirror = (prefix: string, what: string, onChanges: (changes: MirrorChange[]) => void) =>
    new RangeMirror({ ctx, logger, what: `${spec.name}: ${what}`, key: prefix, prefix: true, onChanges });
  const members = mirror(membersPrefix(ctx.namespace, spec.name), 'members', () => onChange(undefined));
  const owners = mirror(ownersPrefix(ctx.namespace, spec.name), 'owners', (changes) =>
    onChange(changes.map((c) => c.key)),
  );
  try {
    const [m, o] = await Promise.all([members.read(signal), owners.read(signal)]);
    session.throwIfLost();
    signal.throwIfAborted();
    members.start(m);
    owners.start(o);
  } catch (err) {
    members.close();
    owners.close();
    await deleteGuarded(ctx, `${spec.name}: unregister`, key, created.token).catch(() => undefined);
    throw err;
  }
  logger.info({ lease: session.leaseId }, `${spec.name}: joined as ${spec.member}`);
  return { session, memberKey: key, memberToken: created.token, members, owners };
}

/** The ids of the live members, sorted. */
export function liveMembers(ctx: CoordContext, name: string, joined: Joined): string[] {
  const prefix = membersPrefix(ctx.namespace, name);
  return [...joined.members.entries.keys()].map((k) => k.slice(prefix.length)).sort();
}
