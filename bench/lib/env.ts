/**
 * What every scenario gets from the runner: the etcd it runs against, the run mode, and
 * small helpers for iteration counts, namespaces and progress output.
 */
import type { EtcdCluster, EtcdMember } from '../../test/harness/etcd.js';

/** The benchmark environment. */
export interface BenchEnv {
  /** BENCH_QUICK=1: fewer iterations, for development. */
  readonly quick: boolean;
  /** A single-node etcd. */
  readonly single: EtcdMember;
  /** A 3-node cluster, for the cluster rows (undefined with BENCH_CLUSTER=0). */
  readonly cluster: EtcdCluster | undefined;
  /** Where the rows run: the single node, and the cluster unless disabled. */
  targets(): [where: string, endpoints: string[]][];
  /** `full` iterations, or `quick` in quick mode. */
  n(full: number, quick: number): number;
  /** A namespace no other scenario uses, e.g. 'bench-lock-3/'. */
  ns(prefix: string): string;
  /** Progress, to stderr (stdout carries only the markdown). */
  log(msg: string): void;
}

let seq = 0;

/** Builds the environment. */
export function makeEnv(single: EtcdMember, cluster: EtcdCluster | undefined, quick: boolean): BenchEnv {
  const started = performance.now();
  return {
    quick,
    single,
    cluster,
    targets: () => [
      ['single node', [single.endpoint]],
      ...(cluster ? [['3-node cluster', cluster.endpoints] as [string, string[]]] : []),
    ],
    n: (full, q) => (quick ? q : full),
    ns: (prefix) => `bench-${prefix}-${++seq}/`,
    log: (msg) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(1)}s] ${msg}\n`),
  };
}
