/**
 * Revoking a session's lease: once (on close), or in the background until etcd confirms
 * it is gone (after a loss or a failed close). A lease outlives an outage on etcd's side:
 * after a restart etcd gives every lease its full TTL again, so the keys of a session we
 * already reported lost would linger for a TTL after etcd is back. Revoking as soon as
 * etcd answers frees them at once.
 * @module
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
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
 * Keeps revoking in the background, backing off from 250 ms to `maxDelayMs`, until etcd
 * confirms the lease is gone or the client is closed. Never rejects; timers are unref'd.
 * @internal
 */
export function revokeUntilGone(deps: RevokeDeps, id: string, name: string, logger: Logger, maxDelayMs = 5000): void {
  let delayMs = 250;
  const attempt = async (): Promise<void> => {
    try {
      await revokeLease(deps, id, name);
      logger.debug('lease revoked');
    } catch (err) {
      if (isClosedError(err)) return;
      logger.debug({ err, retryInMs: delayMs }, 'could not revoke the lease yet');
      setTimeout(() => void attempt(), delayMs).unref();
      delayMs = Math.min(maxDelayMs, delayMs * 2);
    }
  };
  void attempt();
}
