/**
 * A gate for load loops: workers pass it before each unit of work, and a sampler can
 * close it and wait until no unit is in flight (a quiet moment to measure), then open it.
 */
export class Gate {
  private active = 0;
  private closed: { promise: Promise<void>; open: () => void } | undefined;
  private idle: Array<() => void> = [];

  /** Waits while the gate is closed, then counts the caller as in flight. */
  async enter(): Promise<void> {
    while (this.closed) await this.closed.promise;
    this.active++;
  }

  /** The caller's unit of work is over. */
  leave(): void {
    this.active--;
    if (this.active === 0) for (const resolve of this.idle.splice(0)) resolve();
  }

  /** Closes the gate; resolves once nothing is in flight. */
  async pause(): Promise<void> {
    if (!this.closed) {
      let open = () => {};
      const promise = new Promise<void>((r) => {
        open = r;
      });
      this.closed = { promise, open };
    }
    if (this.active > 0) await new Promise<void>((r) => this.idle.push(r));
  }

  /** Opens the gate. */
  resume(): void {
    const c = this.closed;
    this.closed = undefined;
    c?.open();
  }
}
