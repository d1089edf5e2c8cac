/**
 * One error hierarchy for etcd-coord. Every error the library rejects with is a
 * {@link CoordinationError} (except `signal.reason` of a caller's own abort), has a
 * `name`, may carry a `cause`, and has a brand-based guard (`isX(err)`) that works
 * across copies of the package.
 *
 * gRPC / etcd3 errors are mapped to this hierarchy in one place: {@link mapEtcdError}.
 * @module
 */
import { isBrokenCircuitError, isTaskCancelledError } from 'cockatiel';
import * as etcd3 from 'etcd3';

const brand = Symbol.for('etcd-coord.error');

/**
 * Base class of every error etcd-coord produces.
 *
 * Each class carries its name as a string literal ({@link CoordinationError.kind}), so
 * `name` and the `isX()` guards survive minifiers that rename classes. A subclass of your
 * own keeps the kinds of the library class it extends (`isLockTimeoutError()` stays true);
 * give it its own `static override readonly kind = 'MyError'` to fix its `name` as well.
 */
export class CoordinationError extends Error {
  /**
   * The error's name as a literal: what `name` is set to and what the `isX()` guards look
   * for. Every class declares its own; a class without one takes its parent's kinds.
   */
  static readonly kind: string = 'CoordinationError';

  /** @internal brand shared by all copies of the package: the kinds, most specific first. */
  readonly [brand]: string[];

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    const kinds = kindsOf(new.target);
    this.name = Object.hasOwn(new.target, 'kind') ? new.target.kind : new.target.name || kinds[0];
    this[brand] = kinds;
  }
}

/** The kinds of each class, most specific first, collected once per class. */
const kindsByClass = new WeakMap<typeof CoordinationError, string[]>();

function kindsOf(cls: typeof CoordinationError): string[] {
  let kinds = kindsByClass.get(cls);
  if (kinds) return kinds;
  kinds = [];
  for (let c: typeof CoordinationError = cls; ; c = Object.getPrototypeOf(c)) {
    if (Object.hasOwn(c, 'kind')) kinds.push(c.kind);
    if (c === CoordinationError) break;
  }
  kindsByClass.set(cls, kinds);
  return kinds;
}

/**
 * Makes an error without capturing a stack trace. For the reasons of voluntary ends (a
 * release, a resign): made on every release, never thrown from a failure, and a stack
 * would only show the library's own release path.
 * @internal
 */
export function withoutStack<E extends Error>(make: () => E): E {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Bad input: a name, TTL, endpoint, strategy or option that does not fit. Nothing was written. */
export class InvalidArgumentError extends CoordinationError {
  /** {@inheritDoc CoordinationError.kind} */
  static override readonly kind = 'InvalidArgumentError';
}
/** etcd could not be reached (dial timeout, all endpoints down, or the circuit breaker is open). */
export class EtcdUnavailableError extends CoordinationError {
  /** {@inheritDoc CoordinationError.kind} */
  static override readonly kind = 'EtcdUnavailableError';
}
/** etcd rejected the credentials (wrong user/password, bad or missing client certificate). */
export class AuthenticationError extends CoordinationError {
  /** {@inheritDoc CoordinationError.kind} */
  static override readonly kind = 'AuthenticationError';
}
/** The authenticated user lacks permission for the key range. */
export class PermissionDeniedError extends CoordinationError {
  /** {@inheritDoc CoordinationError.kind} */
  static override readonly kind = 'PermissionDeniedError';
}
/** The session (its lease) is lost or closed; whatever was held on it may no longer be held. */
export class SessionLostError extends CoordinationError {
  /** {@inheritDoc CoordinationError.kind} */
  static override readonly kind = 'SessionLostError';
}
/** An acquire or campaign did not succeed within `timeoutMs`. Nothing was left in the queue. */
export class LockTimeoutError extends CoordinationError {
  /** {@inheritDoc CoordinationError.kind} */
  static override readonly kind = 'LockTimeoutError';
}
/** A lock or permit is no longer held (released, lost with its session, or its key was deleted). */
export class LockLostError extends CoordinationError {
  /** {@inheritDoc CoordinationError.kind} */
  static override readonly kind = 'LockLostError';
}
/** The caller is not (or no longer) the leader. */
export class NotLeaderError extends CoordinationError {
  /** {@inheritDoc CoordinationError.kind} */
  static override readonly kind = 'NotLeaderError';
}
/** The coordinator (or the object) was closed. */
export class ClosedError extends CoordinationError {
  /** {@inheritDoc CoordinationError.kind} */
  static override readonly kind = 'ClosedError';
}
/** A registration would overwrite a live instance owned by another process. */
export class ConflictError extends CoordinationError {
  /** {@inheritDoc CoordinationError.kind} */
  static override readonly kind = 'ConflictError';
}

function hasKind(err: unknown, kind: string): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    Array.isArray((err as { [brand]?: unknown })[brand]) &&
    (err as { [brand]: string[] })[brand].includes(kind)
  );
}

/** True for any etcd-coord error. */
export const isCoordinationError = (e: unknown): e is CoordinationError => hasKind(e, 'CoordinationError');
/** True for {@link InvalidArgumentError}. */
export const isInvalidArgumentError = (e: unknown): e is InvalidArgumentError => hasKind(e, 'InvalidArgumentError');
/** True for {@link EtcdUnavailableError}. */
export const isEtcdUnavailableError = (e: unknown): e is EtcdUnavailableError => hasKind(e, 'EtcdUnavailableError');
/** True for {@link AuthenticationError}. */
export const isAuthenticationError = (e: unknown): e is AuthenticationError => hasKind(e, 'AuthenticationError');
/** True for {@link PermissionDeniedError}. */
export const isPermissionDeniedError = (e: unknown): e is PermissionDeniedError => hasKind(e, 'PermissionDeniedError');
/** True for {@link SessionLostError}. */
export const isSessionLostError = (e: unknown): e is SessionLostError => hasKind(e, 'SessionLostError');
/** True for {@link LockTimeoutError}. */
export const isLockTimeoutError = (e: unknown): e is LockTimeoutError => hasKind(e, 'LockTimeoutError');
/** True for {@link LockLostError}. */
export const isLockLostError = (e: unknown): e is LockLostError => hasKind(e, 'LockLostError');
/** True for {@link NotLeaderError}. */
export const isNotLeaderError = (e: unknown): e is NotLeaderError => hasKind(e, 'NotLeaderError');
/** True for {@link ClosedError}. */
export const isClosedError = (e: unknown): e is ClosedError => hasKind(e, 'ClosedError');
/** True for {@link ConflictError}. */
export const isConflictError = (e: unknown): e is ConflictError => hasKind(e, 'ConflictError');

/**
 * True when an error from etcd3/gRPC is transient: the same idempotent request may
 * succeed when sent again (unavailable, deadline exceeded, leader changing, timeout).
 * @internal
 */
export function isTransientEtcdError(err: unknown): boolean {
  if (err instanceof Error) {
    if (tlsFailure(err)) return false; // gRPC reports it as UNAVAILABLE, but retrying cannot help
    if (isTaskCancelledError(err)) return true;
    if (err instanceof etcd3.GRPCUnavailableError || err instanceof etcd3.GRPCDeadlineExceededError) return true;
    if (err instanceof etcd3.GRPCInternalError || err instanceof etcd3.GRPCAbortedError) return true;
    if (err instanceof etcd3.GRPCUnknownError && /leader|timeout|no route|unavailable/i.test(err.message)) return true;
    if (/leader changed|no leader|timed out|too many requests/i.test(err.message)) return true;
  }
  return false;
}

/**
 * True when gRPC failed a request without sending it (no connection to the endpoint it
 * picked): sending it again, to another endpoint, is safe even when it is not idempotent.
 * @internal
 */
export function isUnsentEtcdError(err: unknown): boolean {
  return (
    err instanceof etcd3.GRPCUnavailableError && /No connection established/i.test(err.message) && !tlsFailure(err)
  );
}

/**
 * What went wrong in a failed TLS handshake, or undefined when `err` is not one. gRPC
 * reports these as UNAVAILABLE ("No connection established. Last error: ... SSL ...").
 */
const CLIENT_CERT_REJECTED =
  /alert (bad certificate|certificate required|unknown ca|certificate unknown|handshake failure)|peer did not return a certificate/i;
const SERVER_CERT_UNTRUSTED =
  /unable to verify|self[- ]signed certificate|certificate has expired|Hostname\/IP does not match|unable to get (local )?issuer certificate/i;
const OTHER_TLS_FAILURE = /SSL routines|wrong version number|TLS handshake/i;

function tlsFailure(err: Error): string | undefined {
  const m = err.message;
  if (CLIENT_CERT_REJECTED.test(m)) {
    return 'etcd rejected the client certificate (missing, or not signed by a CA etcd trusts): set tls.cert and tls.key';
  }
  if (SERVER_CERT_UNTRUSTED.test(m))
    return "etcd's server certificate is not trusted: set tls.ca to the CA that signed it";
  if (OTHER_TLS_FAILURE.test(m)) return 'the TLS handshake with etcd failed';
  return undefined;
}

/**
 * Maps an error from etcd3, gRPC or cockatiel to the etcd-coord hierarchy. The original
 * error is kept as `cause`. Errors that already belong to the hierarchy pass through.
 * @param what - the operation, for the message (e.g. "acquire jobs/nightly").
 * @internal
 */
export function mapEtcdError(err: unknown, what: string, endpoints?: readonly string[]): Error {
  if (isCoordinationError(err)) return err;
  const where = endpoints?.length ? ` (endpoints: ${endpoints.join(', ')})` : '';
  if (isBrokenCircuitError(err)) {
    return new EtcdUnavailableError(
      `${what}: etcd is unavailable, failing fast while the circuit breaker is open${where}`,
      { cause: err },
    );
  }
  if (
    err instanceof etcd3.EtcdAuthenticationFailedError ||
    err instanceof etcd3.GRPCUnauthenticatedError ||
    err instanceof etcd3.EtcdUserNotFoundError
  ) {
    return new AuthenticationError(`${what}: etcd rejected the credentials: ${err.message}`, { cause: err });
  }
  if (err instanceof Error && /(etcdserver|auth): user name is empty/.test(err.message)) {
    return new AuthenticationError(`${what}: etcd requires authentication: pass auth: { username, password }`, {
      cause: err,
    });
  }
  const tls = err instanceof Error ? tlsFailure(err) : undefined;
  if (tls) {
    return new AuthenticationError(`${what}: ${tls}${where}`, { cause: err });
  }
  if (err instanceof etcd3.EtcdPermissionDeniedError) {
    return new PermissionDeniedError(`${what}: permission denied by etcd: ${err.message}`, { cause: err });
  }
  if (err instanceof etcd3.EtcdLeaseInvalidError) {
    return new SessionLostError(`${what}: the lease no longer exists`, { cause: err });
  }
  if (err instanceof etcd3.ClientClosedError) {
    return new ClosedError(`${what}: the coordinator is closed`, { cause: err });
  }
  if (isTransientEtcdError(err)) {
    const reason = err instanceof Error ? err.message : String(err);
    return new EtcdUnavailableError(`${what}: etcd did not answer: ${reason}${where}`, { cause: err });
  }
  const reason = err instanceof Error ? err.message : String(err);
  return new CoordinationError(`${what}: ${reason}`, { cause: err });
}
