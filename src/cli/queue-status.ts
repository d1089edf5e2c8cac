/**
 * The status line of a waiting `lock` or `elect`: "waiting for lock jobs/nightly, 3 ahead".
 * Shown only when stderr is a terminal; refreshed every second from one read of the queue.
 * @module
 */
import type { Coordinator } from '../index.js';
import type { Io } from './io.js';

/** What is waited for. */
export interface QueueWait {
  readonly coord: Coordinator;
  /** The lock or election name (the queue is `<namespace><name>/`). */
  readonly name: string;
  /** My lease id (hex): my key is `<name>/<leaseId>`. */
  readonly leaseId: string;
  /** The text before ", N ahead", e.g. 'waiting for lock jobs/nightly'. */
  readonly label: string;
  /** Adds to the line what the first key's value says (e.g. the leader's value). */
  readonly describeFirst?: (value: string) => string;
}

/** Starts showing the status line; returns the function that stops and clears it. */
export function showQueueStatus(wait: QueueWait, io: Io): () => void {
  if (!io.tty) return () => {};
  let stopped = false;
  io.status(`${wait.label}...`);
  const refresh = async () => {
    const text = await describeQueue(wait).catch(() => undefined);
    if (!stopped && text) io.status(text);
  };
  const timer = setInterval(refresh, 1000);
  void refresh();
  return () => {
    stopped = true;
    clearInterval(timer);
    io.clearStatus();
  };
}

async function describeQueue(wait: QueueWait): Promise<string> {
  const prefix = `${wait.coord.namespace}${wait.name}/`;
  const res = await wait.coord.client.getAll().prefix(prefix).sort('Create', 'Ascend').exec();
  const kvs = res.kvs.filter((kv) => !kv.key.toString().slice(prefix.length).includes('/'));
  const mine = kvs.findIndex((kv) => kv.key.toString() === `${prefix}${wait.leaseId}`);
  const ahead = mine >= 0 ? mine : kvs.length;
  const first = kvs.length > 0 && mine !== 0 ? wait.describeFirst?.(kvs[0].value.toString()) : undefined;
  return `${wait.label}, ${ahead} ahead${first ? ` (${first})` : ''}`;
}
