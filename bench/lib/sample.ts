/**
 * Interleaved sampling: each round runs every peer's operation once, in a rotating
 * order, so that load from the shared machine falls on all peers alike.
 */
import { now } from './timing.js';

/** One peer's operation: an untimed `setup` (optional) and the timed `run`. */
export interface Op {
  setup?(): Promise<unknown>;
  run(): Promise<unknown>;
}

/**
 * Runs `warmup` untimed rounds, then `rounds` timed ones; returns the ms samples per peer.
 * 100 warm-up rounds by default: the JIT tiers of every peer's code path (and of the
 * gRPC stack under it) settle within them, so the samples measure the steady state.
 */
export async function interleave(
  ops: Record<string, Op | (() => Promise<unknown>)>,
  rounds: number,
  warmup = 100,
): Promise<Record<string, number[]>> {
  const names = Object.keys(ops);
  const norm = Object.fromEntries(names.map((k) => [k, typeof ops[k] === 'function' ? { run: ops[k] } : ops[k]]));
  const out: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  for (let i = 0; i < warmup + rounds; i++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(i + j) % names.length];
      const op = norm[name] as Op;
      await op.setup?.();
      const t0 = now();
      await op.run();
      const ms = now() - t0;
      if (i >= warmup) out[name].push(ms);
    }
  }
  return out;
}
