/**
 * Runs the real `etcd-coord` command (src/cli/main.ts under tsx, in its own Node process)
 * for the CLI tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { sharedEndpoints } from './harness/index.js';

/** How a run ended and what it printed. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running `etcd-coord`. */
export interface CliRun {
  readonly proc: ChildProcess;
  /** Output so far. */
  readonly out: { stdout: string; stderr: string };
  readonly done: Promise<CliResult>;
}

const MAIN = resolve('src/cli/main.ts');
const running = new Set<ChildProcess>();

/** Starts `etcd-coord ARGS` against the shared etcd (ETCD_ENDPOINTS) with extra environment. */
export function startCli(args: readonly string[], env: Record<string, string> = {}): CliRun {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    env: { ...process.env, ETCD_ENDPOINTS: sharedEndpoints().join(','), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  const out = { stdout: '', stderr: '' };
  proc.stdout?.on('data', (d) => {
    out.stdout += d;
  });
  proc.stderr?.on('data', (d) => {
    out.stderr += d;
  });
  const done = new Promise<CliResult>((r) =>
    proc.once('close', (code, signal) => {
      running.delete(proc);
      r({ code, signal, ...out });
    }),
  );
  return { proc, out, done };
}

/** Runs `etcd-coord ARGS` to its end. */
export function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return startCli(args, env).done;
}

/** Kills every run still going (afterEach). */
export function killAllCli(): void {
  for (const p of running) p.kill('SIGKILL');
}
