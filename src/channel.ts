/**
 * A small multicast channel: every `iterate()` call gets every value pushed after it
 * started, in order, until the channel ends or the iteration is stopped (break, return,
 * or its signal). The building block of the library's AsyncIterable observations.
 * @internal
 * @module
 */
export class Channel<T> {
  private readonly subscribers = new Set<Subscriber<T>>();
  private ended = false;

  /** Delivers a value to every current iteration. */
  push(value: T): void {
    if (this.ended) return;
    for (const s of this.subscribers) s.push(value);
  }

  /** Ends every iteration after the values already pushed. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const s of this.subscribers) s.finish();
    this.subscribers.clear();
  }

  /** An async iterator over later values; `first` values are delivered before them. */
  iterate(options: { signal?: AbortSignal; first?: readonly T[] } = {}): AsyncIterableIterator<T> {
    const sub = new Subscriber<T>(() => this.subscribers.delete(sub), options.signal);
    for (const v of options.first ?? []) sub.push(v);
    if (this.ended) sub.finish();
    else this.subscribers.add(sub);
    return sub;
  }
}

class Subscriber<T> implements AsyncIterableIterator<T> {
  private readonly queue: T[] = [];
  private waiter: ((r: IteratorResult<T>) => void) | undefined;
  private rejecter: ((e: unknown) => void) | undefined;
  private done = false;
  /** The abort reason, until the next `next()` call rejects with it. */
  private failure: { reason: unknown } | undefined;
  private readonly onAbort = () => this.fail(this.signal?.reason);

  constructor(
    private readonly unsubscribe: () => void,
    private readonly signal?: AbortSignal,
  ) {
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  push(value: T): void {
    if (this.done) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = this.rejecter = undefined;
      w({ value, done: false });
    } else this.queue.push(value);
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.unsubscribe();
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = this.rejecter = undefined;
      w({ value: undefined, done: true });
    }
  }

  private fail(reason: unknown): void {
    if (this.done) return;
    const r = this.rejecter;
    this.waiter = this.rejecter = undefined;
    this.queue.length = 0;
    this.finish();
    if (r) r(reason);
    else this.failure = { reason };
  }

  next(): Promise<IteratorResult<T>> {
    if (this.queue.length > 0) return Promise.resolve({ value: this.queue.shift() as T, done: false });
    if (this.signal?.aborted && !this.done) this.fail(this.signal.reason);
    if (this.failure) {
      const { reason } = this.failure;
      this.failure = undefined;
      return Promise.reject(reason);
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.rejecter = reject;
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.queue.length = 0;
    this.finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
