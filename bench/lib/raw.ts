/**
 * The floor: raw etcd requests through the `etcd3` package's RPC clients, without
 * etcd-coord. The lock floor is what a lock cannot do with less: one create-if-absent
 * transaction that also reads the owner, and one delete.
 */
import { CompareResult, CompareTarget, Etcd3, SortOrder, SortTarget, type Watcher } from 'etcd3';
import { prefixEnd } from '../../src/keys.js';
import { now } from './timing.js';
import { ValueWaiter } from './waiter.js';

/** A plain etcd3 client on `endpoints` ('host:port'). */
export function etcd3Client(endpoints: readonly string[]): Etcd3 {
  return new Etcd3({ hosts: endpoints.map((e) => `http://${e}`) });
}

/** Grants a lease (long TTL: it must outlive the benchmark); its decimal id. */
export async function grantLease(client: Etcd3, ttl = 600): Promise<string> {
  return (await client.leaseClient.leaseGrant({ TTL: ttl, ID: 0 })).ID;
}

/** One put, on `lease` (decimal id) when given. */
export function rawPut(client: Etcd3, key: string, value = 'v', lease?: string): Promise<unknown> {
  return client.kv.put({ key: Buffer.from(key), value: Buffer.from(value), ...(lease ? { lease } : {}) });
}

/** One delete. */
export function rawDelete(client: Etcd3, key: string): Promise<unknown> {
  return client.kv.deleteRange({ key: Buffer.from(key) });
}

/**
 * The lock floor's transaction: if `key` does not exist, put it on `lease`; read the
 * oldest key under `prefix` (the owner) in the same round trip.
 */
export function rawAcquireTxn(client: Etcd3, prefix: string, key: string, lease: string): Promise<unknown> {
  const k = Buffer.from(key);
  const owner = {
    key: Buffer.from(prefix),
    range_end: prefixEnd(prefix),
    sort_order: SortOrder.Ascend,
    sort_target: SortTarget.Create,
    limit: 1,
    keys_only: true,
  };
  return client.kv.txn({
    compare: [{ key: k, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: 0 }],
    success: [{ request_put: { key: k, value: Buffer.alloc(0), lease } }, { request_range: owner }],
    failure: [{ request_range: { key: k } }, { request_range: owner }],
  });
}

/**
 * etcd-coord's uncontended requests, sent raw: the join transaction (put-if-absent of an
 * owner record on `lease`, and the newest two keys under `prefix` with the prefix's count)
 * and the release's delete guarded by the key's create revision. What the Mutex costs
 * etcd, without the library.
 */
export async function rawJoinAndGuardedDelete(
  client: Etcd3,
  prefix: string,
  key: string,
  lease: string,
  value: Buffer,
): Promise<void> {
  const k = Buffer.from(key);
  const res = await client.kv.txn({
    compare: [{ key: k, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: 0 }],
    success: [
      { request_put: { key: k, value, lease } },
      {
        request_range: {
          key: Buffer.from(prefix),
          range_end: prefixEnd(prefix),
          sort_order: SortOrder.Descend,
          sort_target: SortTarget.Create,
          limit: 2,
          keys_only: true,
        },
      },
    ],
    failure: [{ request_range: { key: k } }],
  });
  await client.kv.txn({
    compare: [
      { key: k, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: res.header.revision },
    ],
    success: [{ request_delete_range: { key: k } }],
    failure: [],
  });
}

/** An etcd3 watcher on a prefix that resolves a waiter when a put of its key arrives. */
export class PutWatch {
  private readonly waiter = new ValueWaiter();
  private constructor(private readonly watcher: Watcher) {
    watcher.on('put', (kv) => this.waiter.seen(kv.key.toString()));
  }

  /** Starts watching `prefix`. */
  static async open(client: Etcd3, prefix: string): Promise<PutWatch> {
    return new PutWatch(await client.watch().prefix(prefix).create());
  }

  /** Puts `key` with `put` and resolves with the ms until the watcher saw it. */
  async roundTrip(key: string, put: () => Promise<unknown>): Promise<number> {
    const seen = this.waiter.next(key);
    const t0 = now();
    await put();
    await seen;
    return now() - t0;
  }

  /** Ends the watcher. */
  async close(): Promise<void> {
    await this.watcher.cancel();
  }
}
