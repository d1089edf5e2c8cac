/**
 * SIGINT, SIGTERM and SIGHUP of the `etcd-coord` process: an AbortSignal for waits, and
 * listeners (to forward them to CMD).
 * @module
 */
import { CliError, signalExitCode } from './exit.js';

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** The reason of an interrupted wait; its exit code is 128 + the signal's number. */
export class InterruptedError extends CliError {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`, signalExitCode(signal));
    this.name = 'InterruptedError';
  }
}

/** Listens for the process's termination signals until {@link Interrupts.dispose}. */
export class Interrupts {
  private readonly controller = new AbortController();
  private readonly listeners = new Set<(signal: NodeJS.Signals) => void>();
  /** Aborted with an {@link InterruptedError} at the first signal. */
  readonly signal: AbortSignal = this.controller.signal;

  constructor(
    /** Called for a signal nobody listens to after the first one (the user insists): exits. */
    private readonly onRepeat: (signal: NodeJS.Signals) => void,
  ) {
    for (const s of SIGNALS) process.on(s, this.handle);
  }

  private readonly handle = (signal: NodeJS.Signals): void => {
    if (this.controller.signal.aborted && this.listeners.size === 0) {
      this.onRepeat(signal);
      return;
    }
    this.controller.abort(new InterruptedError(signal));
    for (const l of [...this.listeners]) l(signal);
  };

  /** Calls `fn` for every signal from now on; returns the function that stops it. */
  onSignal(fn: (signal: NodeJS.Signals) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Stops listening: the signals get their default behaviour again. */
  dispose(): void {
    for (const s of SIGNALS) process.off(s, this.handle);
  }
}
