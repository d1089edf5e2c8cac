/**
 * The pick strategies of a ServiceCache, over the candidates it passes in (sorted by id,
 * down and draining instances already left out):
 *
 * - 'round-robin': the next instance by id after the last one picked, wrapping around;
 *   every instance is visited in turn, also while instances come and go.
 * - 'random': uniform.
 * - 'weighted': random, proportional to `weight`.
 * - 'sticky': the same instance as last time while it is a candidate; otherwise a new
 *   one chosen as 'weighted' does.
 * - 'least-request': power of two choices: two distinct candidates at random, the one
 *   with fewer calls in flight (a tie is broken at random); with one candidate, that one.
 * @internal
 * @module
 */
import type { PickStrategy, ServiceInstance } from './types.js';

/** Strategy state of one cache. @internal */
export class Picker {
  private lastRoundRobin: string | undefined;
  private stuck: string | undefined;

  /**
   * Picks from `candidates` (sorted by id); undefined when there are none. `inFlight`
   * gives an instance's calls in flight (for 'least-request').
   */
  pick(
    strategy: PickStrategy,
    candidates: readonly ServiceInstance[],
    inFlight: (id: string) => number,
  ): ServiceInstance | undefined {
    if (candidates.length === 0) return undefined;
    switch (strategy) {
      case 'round-robin':
        return this.roundRobin(candidates);
      case 'random':
        return candidates[Math.floor(Math.random() * candidates.length)];
      case 'weighted':
        return weighted(candidates);
      case 'sticky':
        return this.sticky(candidates);
      case 'least-request':
        return leastRequest(candidates, inFlight);
    }
  }

  private roundRobin(candidates: readonly ServiceInstance[]): ServiceInstance {
    const last = this.lastRoundRobin;
    const next = (last !== undefined && candidates.find((c) => c.id > last)) || candidates[0];
    this.lastRoundRobin = next.id;
    return next;
  }

  private sticky(candidates: readonly ServiceInstance[]): ServiceInstance {
    const current = candidates.find((c) => c.id === this.stuck);
    if (current) return current;
    const chosen = weighted(candidates);
    this.stuck = chosen.id;
    return chosen;
  }
}

function leastRequest(candidates: readonly ServiceInstance[], inFlight: (id: string) => number): ServiceInstance {
  if (candidates.length === 1) return candidates[0];
  const i = Math.floor(Math.random() * candidates.length);
  let j = Math.floor(Math.random() * (candidates.length - 1));
  if (j >= i) j++; // distinct from i, uniform over the others
  const a = candidates[i];
  const b = candidates[j];
  const na = inFlight(a.id);
  const nb = inFlight(b.id);
  if (na !== nb) return na < nb ? a : b;
  return Math.random() < 0.5 ? a : b;
}

function weighted(candidates: readonly ServiceInstance[]): ServiceInstance {
  const total = candidates.reduce((sum, c) => sum + c.weight, 0);
  let r = Math.random() * total;
  for (const c of candidates) {
    r -= c.weight;
    if (r < 0) return c;
  }
  return candidates[candidates.length - 1];
}
