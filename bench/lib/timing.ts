/** Clocks, CPU and heap measurement. */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Monotonic milliseconds. */
export const now = (): number => performance.now();

/** Milliseconds since the epoch with sub-millisecond precision, comparable across processes. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/** Resolves after `ms`. For pacing a benchmark (idle gaps), never for waiting on a result. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wall time of `fn` in ms. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = now();
  await fn();
  return now() - t0;
}

/** User + system CPU time of this process in ms. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

let gcFn: (() => void) | undefined;

/** A full GC (exposes gc() if node was started without --expose-gc). */
export function gc(): void {
  if (!gcFn) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (g) gcFn = g;
    else {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    }
  }
  gcFn();
}

/** Heap used in MB after a full GC. */
export function heapMb(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

/** Polls `cond` every `everyMs` until true; throws after `timeoutMs` naming `what`. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 60000, everyMs = 5) {
  const end = now() + timeoutMs;
  while (!(await cond())) {
    if (now() > end) throw new Error(`bench: timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** `p`, or a rejection naming `what` after `ms`: no step of a benchmark may hang the run. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`bench: ${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
