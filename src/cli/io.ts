/**
 * Output of the `etcd-coord` command: result lines on stdout, messages on stderr, and a
 * transient status line ("waiting for lock jobs/nightly, 3 ahead") only when stderr is
 * a terminal.
 * @module
 */

/** Where a subcommand writes. */
export interface Io {
  /** True when stderr is a terminal (status lines and progress are shown). */
  readonly tty: boolean;
  /** Aborts when the reader of stdout went away (EPIPE): endless output should stop. */
  readonly stdoutClosed: AbortSignal;
  /** Writes a line to stdout. */
  out(line: string): void;
  /** Writes `etcd-coord: <message>` to stderr. */
  warn(message: string): void;
  /** Writes raw text to stderr (usage, help). */
  err(text: string): void;
  /** Replaces the status line (terminal only; nothing when piped). */
  status(text: string): void;
  /** Removes the status line. */
  clearStatus(): void;
  /** Resolves once everything written to stdout and stderr is flushed. */
  flush(): Promise<void>;
}

/** An {@link Io} on the given streams (default: the process's). */
export function streamIo(stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr): Io {
  const tty = Boolean(stderr.isTTY);
  let shown = false;
  // A reader that went away (`etcd-coord observe x | head -1`) is not an error: stop writing to it.
  const closed = new AbortController();
  stdout.on('error', (err) => closed.abort(err));
  const clearStatus = () => {
    if (shown) stderr.write('\r\x1b[K');
    shown = false;
  };
  const drained = (s: NodeJS.WriteStream) =>
    new Promise<void>((r) => (s.destroyed || s.writableEnded ? r() : s.write('', () => r())));
  return {
    tty,
    stdoutClosed: closed.signal,
    out(line) {
      clearStatus();
      if (!closed.signal.aborted) stdout.write(`${line}\n`);
    },
    warn(message) {
      clearStatus();
      stderr.write(`etcd-coord: ${message}\n`);
    },
    err(text) {
      clearStatus();
      stderr.write(text.endsWith('\n') ? text : `${text}\n`);
    },
    status(text) {
      if (!tty) return;
      const width = stderr.columns ? stderr.columns - 1 : 200;
      stderr.write(`\r\x1b[K${text.slice(0, width)}`);
      shown = true;
    },
    clearStatus,
    flush: async () => {
      await Promise.all([drained(stdout), drained(stderr)]);
    },
  };
}
