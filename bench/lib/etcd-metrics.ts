/**
 * Request and event counts from etcd's own /metrics, so every peer (etcd-coord, the
 * etcd3 package, the server-side services behind the gateway) is counted the same way.
 */
import { type EtcdMember, getText } from '../../test/harness/etcd.js';

/** Counters summed over a set of members. */
export interface EtcdCounters {
  /** gRPC messages received by etcd (unary requests and stream messages), per method. */
  readonly byMethod: Readonly<Record<string, number>>;
  /** All gRPC messages except LeaseKeepAlive (which runs in the background at a fixed rate). */
  readonly requests: number;
  /** LeaseKeepAlive messages. */
  readonly keepAlives: number;
  /** LeaseKeepAlive streams opened. */
  readonly keepAliveStreams: number;
  /** Watch events etcd sent to watchers (etcd_debugging_mvcc_events_total). */
  readonly watchEvents: number;
  /** MVCC operations (range, put, delete, txn), including those the server-side services make. */
  readonly mvccOps: number;
}

const METHOD = /^grpc_server_msg_received_total\{grpc_method="([^"]+)".*\}\s+(\S+)$/;
const KEEPALIVE_STREAMS = /^grpc_server_started_total\{grpc_method="LeaseKeepAlive".*\}\s+(\S+)$/;

function parse(text: string): EtcdCounters {
  const byMethod: Record<string, number> = {};
  let watchEvents = 0;
  let mvccOps = 0;
  let keepAliveStreams = 0;
  for (const line of text.split('\n')) {
    const m = METHOD.exec(line);
    const k = KEEPALIVE_STREAMS.exec(line);
    if (m) byMethod[m[1]] = (byMethod[m[1]] ?? 0) + Number(m[2]);
    else if (k) keepAliveStreams += Number(k[1]);
    else if (line.startsWith('etcd_debugging_mvcc_events_total ')) watchEvents += Number(line.split(' ')[1]);
    else if (/^etcd_mvcc_(range|put|delete|txn)_total /.test(line)) mvccOps += Number(line.split(' ')[1]);
  }
  const keepAlives = byMethod.LeaseKeepAlive ?? 0;
  const all = Object.values(byMethod).reduce((s, v) => s + v, 0);
  return { byMethod, requests: all - keepAlives, keepAlives, keepAliveStreams, watchEvents, mvccOps };
}

/** Reads the counters of every member (all of them must be running). */
export async function readCounters(members: readonly EtcdMember[]): Promise<EtcdCounters> {
  const parts = await Promise.all(members.map(async (m) => parse(await getText(m.config.clientPort, '/metrics'))));
  const byMethod: Record<string, number> = {};
  for (const p of parts) for (const [k, v] of Object.entries(p.byMethod)) byMethod[k] = (byMethod[k] ?? 0) + v;
  const sum = (f: (c: EtcdCounters) => number) => parts.reduce((s, p) => s + f(p), 0);
  return {
    byMethod,
    requests: sum((c) => c.requests),
    keepAlives: sum((c) => c.keepAlives),
    keepAliveStreams: sum((c) => c.keepAliveStreams),
    watchEvents: sum((c) => c.watchEvents),
    mvccOps: sum((c) => c.mvccOps),
  };
}

/** `after - before`, per counter. */
export function delta(before: EtcdCounters, after: EtcdCounters): EtcdCounters {
  const byMethod: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.byMethod)) {
    const d = v - (before.byMethod[k] ?? 0);
    if (d !== 0) byMethod[k] = d;
  }
  return {
    byMethod,
    requests: after.requests - before.requests,
    keepAlives: after.keepAlives - before.keepAlives,
    keepAliveStreams: after.keepAliveStreams - before.keepAliveStreams,
    watchEvents: after.watchEvents - before.watchEvents,
    mvccOps: after.mvccOps - before.mvccOps,
  };
}

/** Counts what etcd sees while `fn` runs. */
export async function counting<T>(
  members: readonly EtcdMember[],
  fn: () => Promise<T>,
): Promise<{ result: T; counts: EtcdCounters }> {
  const before = await readCounters(members);
  const result = await fn();
  return { result, counts: delta(before, await readCounters(members)) };
}
