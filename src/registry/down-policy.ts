/**
 * Marks instances down after errors, per instance, like a circuit breaker (and like
 * Curator's DownInstancePolicy):
 *
 * - closed: `errorThreshold` consecutive `noteError()` calls open it;
 * - open (down): the instance is not picked for `halfOpenAfterMs`;
 * - half-open: afterwards it is picked again; one more error opens it again at once,
 *   a `noteSuccess()` closes it.
 *
 * Time is checked when asked (no timers), so a down instance costs nothing.
 * @internal
 * @module
 */

interface Breaker {
  errors: number;
  /** performance.now() until which the instance is down; 0 when it never was. */
  downUntil: number;
}

/** @internal */
export class DownPolicy {
  private readonly breakers = new Map<string, Breaker>();

  constructor(
    private readonly errorThreshold: number,
    private readonly halfOpenAfterMs: number,
  ) {}

  /** True while the instance is down (open). */
  isDown(id: string): boolean {
    const b = this.breakers.get(id);
    return b !== undefined && b.downUntil > performance.now();
  }

  /** Records a failed call. Returns true when the instance is (now) down. */
  noteError(id: string): boolean {
    const now = performance.now();
    const b = this.breakers.get(id) ?? { errors: 0, downUntil: 0 };
    this.breakers.set(id, b);
    if (b.downUntil > now) return true;
    const halfOpen = b.downUntil > 0;
    b.errors++;
    if (halfOpen || b.errors >= this.errorThreshold) {
      b.errors = 0;
      b.downUntil = now + this.halfOpenAfterMs;
      return true;
    }
    return false;
  }

  /** Records a successful call: the instance's breaker closes. */
  noteSuccess(id: string): void {
    this.breakers.delete(id);
  }

  /** Forgets an instance (it left the registry). */
  forget(id: string): void {
    this.breakers.delete(id);
  }
}
