/**
 * The registry's own error: no instance to call.
 * @module
 */
import { CoordinationError } from '../errors.js';

/** The brand every etcd-coord error carries (see src/errors.ts): its kinds, most specific first. */
const brand = Symbol.for('etcd-coord.error');

/**
 * {@link ServiceCache.call} found no instance to call: none is registered, or every one is
 * draining or marked down. `fn` was not called. (`pick()` returns `undefined` instead.)
 */
export class NoInstanceError extends CoordinationError {
  /** {@inheritDoc CoordinationError.kind} */
  static override readonly kind = 'NoInstanceError';
}

/** True for {@link NoInstanceError} (also from another copy of the package). */
export const isNoInstanceError = (e: unknown): e is NoInstanceError =>
  typeof e === 'object' &&
  e !== null &&
  Array.isArray((e as { [brand]?: unknown })[brand]) &&
  (e as { [brand]: string[] })[brand].includes('NoInstanceError');
