/**
 * Runs CMD while a lock or leadership is held: CMD gets the fencing token in its
 * environment, the signals of `etcd-coord` are forwarded to it, and when the hold is
 * lost CMD gets SIGTERM, then SIGKILL after the grace period. Without CMD, holds until
 * interrupted.
 * @module
 */
import { spawn } from 'node:child_process';
import { EXIT, exitCodeOf, signalExitCode } from './exit.js';
import type { Interrupts } from './interrupts.js';
import type { Io } from './io.js';

/** What {@link runGuarded} runs and watches. */
export interface GuardedRun {
  /** CMD and its arguments; empty: hold until interrupted. */
  readonly command: readonly string[];
  /** Added to CMD's environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Aborts when the hold is lost (it must not abort for any other reason while CMD runs). */
  readonly lost: AbortSignal;
  /** For messages, e.g. 'lock jobs/nightly'. */
  readonly what: string;
  /** How long CMD has after SIGTERM before SIGKILL, in ms. */
  readonly graceMs: number;
  readonly interrupts: Interrupts;
  readonly io: Io;
}

/**
 * Runs CMD to its end (or holds until a signal) and resolves the exit code: {@link EXIT.lost}
 * when the hold was lost, else CMD's status (128 + N when it died of signal N), 127 / 126
 * when it cannot be started; without CMD, 0 when interrupted.
 */
export function runGuarded(run: GuardedRun): Promise<number> {
  const { lost, io, what } = run;
  if (lost.aborted) return Promise.resolve(lostCode(run));
  if (run.interrupts.signal.aborted) return Promise.resolve(exitCodeOf(run.interrupts.signal.reason));
  if (run.command.length === 0) return hold(run);
  return new Promise((resolve) => {
    const [file, ...args] = run.command;
    const child = spawn(file, args, { stdio: 'inherit', env: { ...process.env, ...run.env } });
    let killTimer: NodeJS.Timeout | undefined;
    const onLost = () => {
      io.warn(`${what} lost (${reasonOf(lost)}); stopping CMD with SIGTERM`);
      child.kill('SIGTERM');
      killTimer = setTimeout(() => {
        io.warn(`CMD still running ${run.graceMs / 1000} s after SIGTERM; sending SIGKILL`);
        child.kill('SIGKILL');
      }, run.graceMs);
    };
    lost.addEventListener('abort', onLost, { once: true });
    const stopForwarding = run.interrupts.onSignal((signal) => child.kill(signal));
    const finish = (code: number) => {
      clearTimeout(killTimer);
      stopForwarding();
      lost.removeEventListener('abort', onLost);
      resolve(code);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return; // a failed kill(); 'exit' follows
      io.warn(`cannot run ${file}: ${err.message}`);
      finish(err.code === 'ENOENT' ? EXIT.notFound : EXIT.notExecutable);
    });
    child.once('exit', (code, signal) => {
      if (lost.aborted) finish(EXIT.lost);
      else finish(code ?? signalExitCode(signal ?? 'SIGTERM'));
    });
  });
}

function hold(run: GuardedRun): Promise<number> {
  return new Promise((resolve) => {
    const stop = run.interrupts.onSignal(() => finish(0));
    const onLost = () => finish(lostCode(run));
    run.lost.addEventListener('abort', onLost, { once: true });
    function finish(code: number) {
      stop();
      run.lost.removeEventListener('abort', onLost);
      resolve(code);
    }
  });
}

function lostCode(run: GuardedRun): number {
  run.io.warn(`${run.what} lost (${reasonOf(run.lost)})`);
  return EXIT.lost;
}

function reasonOf(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  return r instanceof Error ? r.message : String(r);
}
