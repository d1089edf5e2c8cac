/**
 * Runs a TypeScript script (test/fixtures/*.ts) in its own Node process with IPC, so a
 * test can talk to a lock holder, SIGSTOP it, or SIGKILL it.
 *
 * In the child: `process.send({ type, ... })` to report, `process.on('message')` to listen.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { resolve } from 'node:path';

export interface ChildMessage {
  type: string;
  [k: string]: unknown;
}

const children = new Set<ChildHandle>();

export class ChildHandle {
  readonly messages: ChildMessage[] = [];
  private readonly waiters: { pred: (m: ChildMessage) => boolean; resolve: (m: ChildMessage) => void }[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr = '';

  constructor(readonly proc: ChildProcess) {
    children.add(this);
    proc.on('message', (m: ChildMessage) => {
      this.messages.push(m);
      for (const w of [...this.waiters]) {
        if (w.pred(m)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    });
    proc.stderr?.on('data', (d) => {
      this.stderr = (this.stderr + d).slice(-8000);
    });
    this.exited = new Promise((r) =>
      proc.once('exit', (code, signal) => {
        children.delete(this);
        r({ code, signal });
      }),
    );
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  send(msg: ChildMessage): void {
    this.proc.send(msg);
  }

  /** The first message (already received or later) of this type that matches. */
  next(type: string, pred: (m: ChildMessage) => boolean = () => true, timeoutMs = 30000): Promise<ChildMessage> {
    const match = (m: ChildMessage) => m.type === type && pred(m);
    const seen = this.messages.find(match);
    if (seen) {
      this.messages.splice(this.messages.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return new Promise((resolvePromise, reject) => {
      const t = setTimeout(
        () => reject(new Error(`child ${this.pid}: no '${type}' message in ${timeoutMs} ms\n${this.stderr}`)),
        timeoutMs,
      );
      const w = {
        pred: match,
        resolve: (m: ChildMessage) => {
          clearTimeout(t);
          this.messages.splice(this.messages.indexOf(m), 1);
          resolvePromise(m);
        },
      };
      this.waiters.push(w);
      this.exited.then(() => {
        if (this.waiters.includes(w)) {
          clearTimeout(t);
          reject(new Error(`child ${this.pid} exited before sending '${type}'\n${this.stderr}`));
        }
      });
    });
  }

  pause(): void {
    this.proc.kill('SIGSTOP');
  }
  resume(): void {
    this.proc.kill('SIGCONT');
  }
  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGCONT');
      this.proc.kill(signal);
    }
    return this.exited;
  }
}

/** Starts `script` (a path relative to the repo root, e.g. 'test/fixtures/holder.ts'). */
export function spawnChild(script: string, env: Record<string, string> = {}, args: string[] = []): ChildHandle {
  const proc = fork(resolve(script), args, {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  return new ChildHandle(proc);
}

/** Kills every child still running. */
export async function killAllChildren(): Promise<void> {
  await Promise.all([...children].map((c) => c.kill()));
}
