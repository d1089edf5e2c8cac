/**
 * The one check of a `{ session }` option, shared by every primitive that takes one.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { Session } from './session.js';

/**
 * Checks a `{ session }` option: undefined (the coordinator's shared session), or a
 * {@link Session} from `coord.newSession()` / `coord.session()`.
 * @param what - the option as error messages name it, e.g. 'options.session'.
 * @throws InvalidArgumentError
 * @internal
 */
export function checkSessionOption(session: unknown, what = 'options.session'): Session | undefined {
  if (session !== undefined && !(session instanceof Session)) {
    throw new InvalidArgumentError(`${what} must be a Session from coord.newSession() or coord.session()`);
  }
  return session;
}
