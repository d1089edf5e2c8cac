/**
 * Options shared by the barriers, and their synchronous checks.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { checkSessionOption } from '../lease/check.js';
import type { Session } from '../lease/session.js';

/** Options of `coord.barrier()` and `coord.doubleBarrier()`. */
export interface BarrierOptions {
  /**
   * The session whose lease the keys live on (a barrier's while held, a member's while
   * in a double barrier): they go with it when the process dies. Default: the
   * coordinator's shared session (`coord.session()`).
   */
  session?: Session;
}

/** Options of a barrier wait (`wait()`, `enter()`, `leave()`). */
export interface BarrierWaitOptions {
  /**
   * Gives up waiting: the call rejects with `signal.reason` and leaves no key of its own
   * behind. For a deadline pass `AbortSignal.timeout(ms)`.
   */
  signal?: AbortSignal;
}

/** Checks `{ session }`. @throws InvalidArgumentError @internal */
export function checkBarrierOptions(options: unknown): BarrierOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`options must be an object or undefined, got ${typeof options}`);
  }
  return { session: checkSessionOption((options as BarrierOptions).session) };
}

/** Checks `{ signal }`. @throws InvalidArgumentError @internal */
export function checkWaitOptions(options: unknown): BarrierWaitOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`options must be an object or undefined, got ${typeof options}`);
  }
  const { signal } = options as BarrierWaitOptions;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError('options.signal must be an AbortSignal');
  }
  return { signal };
}
