/**
 * Linking abort signals without leaking. `AbortSignal.any()` leaves a dependant on each
 * source signal until that source aborts: on a long-lived signal (a session's, or an
 * application's shutdown signal) every acquire would leave one behind. A link made here
 * is undone by `unlink()` when the wait is over.
 * @internal
 * @module
 */

/** A signal that aborts when any source aborts (with its reason) or after `timeoutMs` (with `onTimeout()`). */
export interface LinkedSignal {
  readonly signal: AbortSignal;
  /** True when the timeout (not a source) aborted it. */
  readonly timedOut: boolean;
  /** Removes the listeners and the timer. Call when the wait is over. */
  unlink(): void;
}

/** Links `sources` (undefined entries are skipped) and an optional timeout. */
export function linkSignals(
  sources: ReadonlyArray<AbortSignal | undefined>,
  timeout?: { ms: number; reason: () => unknown },
): LinkedSignal {
  const controller = new AbortController();
  const list = sources.filter((s): s is AbortSignal => s !== undefined);
  let timedOut = false;
  const onAbort = function (this: AbortSignal) {
    controller.abort(this.reason);
  };
  let timer: NodeJS.Timeout | undefined;
  const unlink = () => {
    clearTimeout(timer);
    for (const s of list) s.removeEventListener('abort', onAbort);
  };
  for (const s of list) {
    if (s.aborted) {
      controller.abort(s.reason);
      break;
    }
    s.addEventListener('abort', onAbort, { once: true });
  }
  if (timeout && !controller.signal.aborted) {
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort(timeout.reason());
    }, Math.ceil(timeout.ms));
  }
  if (controller.signal.aborted) unlink();
  else controller.signal.addEventListener('abort', unlink, { once: true });
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    unlink,
  };
}
