/**
 * Revoking a session's lease: once (on close), or in the background until etcd confirms
 * it is gone (after a loss or a failed close). A lease outlives an outage on etcd's side:
 * after a restart etcd gives every lease its full TTL again, so the keys of a session we
 * already reported lost would linger for a TTL after etcd is back. Revoking as soon as
 * etcd answers frees them at once.
 * @module
 */
import { ExponentialBackoff, noJitterGenerator } from 'cockatiel';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { retryWithBackoff } from '../backoff.js';
import { isClosedError, isSessionLostError } from '../errors.js';
import type { Resilience } from '../resilience.js';

/** What revoking needs. @internal */
export interface RevokeDeps {
  readonly client: Etcd3;
  readonly resilience: Resilience;
}

/**
 * Revokes the lease (`id` in decimal), retrying transient errors until `signal` aborts.
 * Resolves once etcd no longer has it (revoked now, or already unknown); rejects with the
 * mapped error (or the signal's reason) otherwise.
 * @internal
 */
export async function revokeLease(deps: RevokeDeps, id: string, name: string, signal?: AbortSignal): Promise<void> {
  try {
    await deps.resilience.run(`revoke lease ${name}`, () => deps.client.leaseClient.leaseRevoke({ ID: id }), {
      idempotent: true,
      signal,
    });
  } catch (err) {
    if (isSessionLostError(err)) return; // etcd no longer knows it: gone already
    throw err;
  }
}

/**
 * Keeps revoking in the background, backing off from 250 ms to `maxDelayMs` (doubling),
 * until etcd confirms the lease is gone or the client is closed. Never rejects; a pending
 * retry does not keep the process alive.
 * @internal
 */
export function revokeUntilGone(deps: RevokeDeps, id: string, name: string, logger: Logger, maxDelayMs = 5000): void {
  void retryWithBackoff(() => revokeLease(deps, id, name), {
    backoff: new ExponentialBackoff({ initialDelay: 250, maxDelay: maxDelayMs, generator: noJitterGenerator }),
    unref: true,
    onError: (err, _attempts, retryInMs) => {
      if (isClosedError(err)) return 'stop';
      logger.debug({ err, retryInMs }, 'could not revoke the lease yet');
      return 'retry';
    },
  }).then((done) => {
    if (done) logger.debug('lease revoked');
  });
}
