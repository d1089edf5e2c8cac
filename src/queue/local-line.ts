/**
 * A session holds at most one key per queue at a time. Acquirers of the same key on the
 * same session (e.g. two concurrent `acquire()` calls in one process) therefore line up
 * here, in process, first come first served; each gets a freshly created key, and so a
 * larger fencing token, after the one before it has left.
 * @module
 */
import type { Session } from '../lease/session.js';

const lines = new WeakMap<Session, Map<string, Array<() => void>>>();

function lineOf(session: Session, key: string): { line: Array<() => void>; exit: () => void } {
  let byKey = lines.get(session);
  if (!byKey) {
    byKey = new Map();
    lines.set(session, byKey);
  }
  const line = byKey.get(key) ?? [];
  byKey.set(key, line);
  let exited = false;
  const exit = () => {
    if (exited) return;
    exited = true;
    line.shift();
    if (line.length > 0) line[0]();
    else byKey.delete(key);
  };
  return { line, exit };
}

/**
 * Waits until no earlier acquirer of `key` on `session` is in line, then resolves with
 * the function that lets the next one in (call it exactly once, after leaving the queue).
 * Rejects with `signal.reason` (and gives up its place) when aborted first.
 */
export function enterLine(session: Session, key: string, signal?: AbortSignal): Promise<() => void> {
  const { line, exit } = lineOf(session, key);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      const i = line.indexOf(admit);
      if (i > 0) line.splice(i, 1);
      reject(signal?.reason);
    };
    const admit = () => {
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) {
        exit();
        reject(signal.reason);
      } else resolve(exit);
    };
    line.push(admit);
    if (line.length === 1) admit();
    else if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Enters the line only if nobody is in it: returns the exit function, or undefined (and
 * takes no place) when an acquirer of `key` on `session` is already holding or waiting.
 */
export function tryEnterLine(session: Session, key: string): (() => void) | undefined {
  if (lines.get(session)?.get(key)?.length) return undefined;
  const { line, exit } = lineOf(session, key);
  line.push(() => {});
  return exit;
}
