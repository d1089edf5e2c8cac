/**
 * One consistent read of every key under a prefix: pages of the range, the first one
 * linearizable, every later one pinned to the first page's revision, so the whole read
 * is the state at ONE revision however many pages it takes. Uncontended namespaces of
 * up to {@link PAGE_KEYS} keys are one request.
 * @internal
 * @module
 */
import * as etcd3 from 'etcd3';
import type { CoordContext } from '../context.js';
import { prefixEnd } from '../keys.js';

/** Keys per page; halved while gRPC rejects a page as too large (big application values). */
export const PAGE_KEYS = 5000;
const MIN_PAGE_KEYS = 16;
/** Restarts of the whole read when the pinned revision is compacted between pages. */
const MAX_RESTARTS = 3;

/** A key as the snapshot needs it. */
export interface ReadKey {
  readonly key: string;
  readonly value: Buffer;
  readonly createRevision: bigint;
  readonly modRevision: bigint;
  /** Decimal lease id; '0' for none. */
  readonly lease: string;
}

/** Every key under a prefix at one revision. */
export interface ConsistentRead {
  readonly kvs: ReadKey[];
  readonly revision: bigint;
  /** When the first page was answered. */
  readonly at: Date;
  /** Range requests it took. */
  readonly requests: number;
}

function causeOf(err: unknown): unknown {
  return err instanceof Error && err.cause !== undefined ? err.cause : err;
}

const tooLarge = (err: unknown) => causeOf(err) instanceof etcd3.GRPCResourceExhastedError;
const compacted = (err: unknown) => /compacted/i.test(String((causeOf(err) as Error)?.message ?? err));

/**
 * Reads every key starting with `prefix` (the whole key space for '') at one revision.
 * @param what - names the operation in error messages.
 */
export async function readConsistent(
  ctx: CoordContext,
  what: string,
  prefix: string,
  signal?: AbortSignal,
): Promise<ConsistentRead> {
  for (let restart = 0; ; restart++) {
    try {
      return await readPages(ctx, what, prefix, signal);
    } catch (err) {
      if (restart >= MAX_RESTARTS || !compacted(err) || signal?.aborted) throw err;
    }
  }
}

async function readPages(ctx: CoordContext, what: string, prefix: string, signal?: AbortSignal) {
  // etcd rejects an empty key; '\0' is the smallest key, so '\0'..'\0' (prefixEnd('')) is everything.
  const end = prefixEnd(prefix);
  let from = prefix === '' ? Buffer.from([0]) : Buffer.from(prefix);
  let pageKeys = PAGE_KEYS;
  let revision: bigint | undefined;
  let at = new Date();
  let requests = 0;
  const kvs: ReadKey[] = [];
  for (;;) {
    const request: etcd3.IRangeRequest = {
      key: from,
      range_end: end,
      limit: pageKeys,
      ...(revision !== undefined ? { revision: revision.toString() } : {}),
    };
    let res: etcd3.IRangeResponse;
    try {
      requests++;
      res = await ctx.resilience.run(`${what}: read`, () => ctx.client.kv.range(request), {
        idempotent: true,
        signal,
      });
    } catch (err) {
      if (!tooLarge(err) || pageKeys <= MIN_PAGE_KEYS) throw err;
      pageKeys = Math.max(MIN_PAGE_KEYS, Math.floor(pageKeys / 2));
      continue;
    }
    if (revision === undefined) {
      revision = BigInt(res.header.revision);
      at = new Date();
    }
    for (const kv of res.kvs) {
      kvs.push({
        key: kv.key.toString(),
        value: kv.value,
        createRevision: BigInt(kv.create_revision),
        modRevision: BigInt(kv.mod_revision),
        lease: kv.lease,
      });
    }
    const last = res.kvs[res.kvs.length - 1];
    if (!res.more || !last) return { kvs, revision, at, requests };
    from = Buffer.concat([last.key, Buffer.from([0])]);
  }
}
