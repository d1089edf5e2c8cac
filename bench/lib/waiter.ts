/** Waiting for a value to be seen (a watch event, an observed leader, a cache change). */

/** Resolves waiters when a value they wait for is seen. */
export class ValueWaiter {
  private readonly waiting = new Map<string, () => void>();

  /** Call with every value observed. */
  readonly seen = (value: string): void => {
    this.waiting.get(value)?.();
    this.waiting.delete(value);
  };

  /** A promise of `value` being seen (register before causing it). */
  next(value: string): Promise<void> {
    return new Promise((resolve) => this.waiting.set(value, resolve));
  }
}
