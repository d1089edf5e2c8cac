/**
 * One wait on the shared watch stream: watchers that stay until one of their callbacks
 * settles the wait, or `signal` aborts it (rejecting with `signal.reason`). Settling
 * cancels every watcher of the wait and removes the abort listener, once.
 * @internal
 * @module
 */
import type { WatchHandle, WatchHandlers, WatchHub, WatchSpec } from './watch.js';

/** Ends a {@link settleOnWatch} wait, with a value or an error. Later calls do nothing. */
export interface Settle<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
}

/**
 * Watches every spec with the handlers `handlers(spec, settle)` makes, until one of them
 * calls `settle` or `signal` aborts.
 */
export function settleOnWatch<T>(
  hub: WatchHub,
  specs: readonly WatchSpec[],
  signal: AbortSignal,
  handlers: (spec: WatchSpec, settle: Settle<T>) => WatchHandlers,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const handles: WatchHandle[] = [];
    const finish = (end: () => void) => {
      if (settled) return;
      settled = true;
      for (const h of handles) h.cancel();
      signal.removeEventListener('abort', onAbort);
      end();
    };
    const onAbort = () => finish(() => reject(signal.reason));
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    const settle: Settle<T> = {
      resolve: (value) => finish(() => resolve(value)),
      reject: (err) => finish(() => reject(err)),
    };
    for (const spec of specs) {
      const handle = hub.watch(spec, handlers(spec, settle));
      if (settled) handle.cancel();
      else handles.push(handle);
    }
  });
}
