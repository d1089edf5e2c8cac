/**
 * Exit codes of the `etcd-coord` command, and the mapping from errors to them.
 * @module
 */
import { constants } from 'node:os';
import {
  isAuthenticationError,
  isEtcdUnavailableError,
  isInvalidArgumentError,
  isLockLostError,
  isLockTimeoutError,
  isNotLeaderError,
  isPermissionDeniedError,
  isSessionLostError,
} from '../index.js';

/** Exit codes, as `etcd-coord --help` and the README list them. */
export const EXIT = {
  /** Done; for `lock`/`elect` with a CMD: CMD's own exit status instead. */
  ok: 0,
  /** Any other failure. */
  failure: 1,
  /** Bad flags or arguments (usage printed), or bad input such as an invalid name. */
  usage: 2,
  /** `lock --try`: the lock is held by someone else; `leader`: the election has no leader. */
  busy: 3,
  /** The lock or leadership was lost while held (CMD was terminated). */
  lost: 4,
  /** `--timeout` expired before the lock or leadership was acquired. */
  timeout: 5,
  /** No etcd endpoint answered (or the circuit breaker is open). */
  unavailable: 6,
  /** etcd rejected the credentials, or the user lacks permission. */
  auth: 7,
  /** CMD could not be executed (not executable). */
  notExecutable: 126,
  /** CMD was not found. */
  notFound: 127,
} as const;

/** The exit-code table of `etcd-coord --help`. */
export const EXIT_CODES_HELP = `Exit codes:
  0    ok (lock/elect with a CMD: CMD's exit status; 128+N when CMD died of signal N)
  1    failure
  2    usage error: bad flags or arguments, invalid name (nothing was written)
  3    lock --try: the lock is held; leader: the election has no leader
  4    the lock or leadership was lost while held (CMD got SIGTERM, then SIGKILL)
  5    --timeout expired before the lock or leadership was acquired
  6    etcd unavailable: no endpoint answered
  7    authentication failed or permission denied
  126  CMD is not executable        127  CMD not found
  130  interrupted (SIGINT) while waiting; 143: SIGTERM`;

/** An error that ends the command with a given exit code and a one-line message. */
export class CliError extends Error {
  constructor(
    message: string,
    /** The exit code. */
    readonly code: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

/** A usage error: the message and the subcommand's usage go to stderr, exit code 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
    this.name = 'UsageError';
  }
}

/** The exit code for an error thrown by a command. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return err.code;
  if (isInvalidArgumentError(err)) return EXIT.usage;
  if (isLockTimeoutError(err)) return EXIT.timeout;
  if (isLockLostError(err) || isSessionLostError(err) || isNotLeaderError(err)) return EXIT.lost;
  if (isEtcdUnavailableError(err)) return EXIT.unavailable;
  if (isAuthenticationError(err) || isPermissionDeniedError(err)) return EXIT.auth;
  return EXIT.failure;
}

/** 128 + the signal's number, as shells report a process killed by a signal. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 1);
}
