/**
 * The waiting queue under every lock, semaphore, read-write lock and election.
 *
 * Each contender owns one key under the queue prefix, attached to its session's lease;
 * the order is the keys' create revisions (Go `concurrency` layout). A contender may
 * proceed while fewer than `limit` of its blockers (keys in `blockers.prefix` accepted
 * by `blockers.member`) have a lower create revision. A mutex is limit 1 over all keys;
 * a semaphore is limit N; a reader is limit 1 over the writers' keys.
 *
 * - Joining is one transaction (`join.ts`): put my key if absent and read the first
 *   `limit` blockers in the same round trip. Uncontended, that is the whole acquire.
 * - A waiter watches only the nearest blockers ahead of it and reads again (`wait.ts`):
 *   FIFO, no thundering herd; every read after a wait is guarded by my key (etcd #11456).
 * - A wait that is aborted, times out or fails deletes my key (guarded by its create
 *   revision, etcd #22082, `leave.ts`) before it rejects: no orphan stays in the queue.
 * @module
 */
import { linkSignals } from '../signals.js';
import { join, markHandedOut } from './join.js';
import { leave } from './leave.js';
import type { QueueSpec, Turn, WaitOptions } from './spec.js';
import { awaitTurn, nearestAhead } from './wait.js';

/**
 * Joins the queue and waits for the turn. Rejects with `opts.signal.reason` when it
 * aborts (the caller's abort or its deadline: the acquire pipeline links both into it),
 * the session's {@link SessionLostError} when it is lost; in each case my key is deleted
 * first. With `wait: false` resolves undefined (leaving no key) when the turn is not free
 * at once. The link of the session's signal and the caller's (an AbortController and two
 * listeners) is made only when there is a wait: an uncontended acquire allocates none.
 */
export async function takeTurn(spec: QueueSpec, opts: WaitOptions): Promise<Turn | undefined> {
  const { session } = spec;
  const reason = () => {
    if (opts.signal?.aborted) return opts.signal.reason;
    if (session.signal.aborted) return session.signal.reason;
    return undefined;
  };
  const throwIfAborted = () => {
    opts.signal?.throwIfAborted();
    session.throwIfLost();
  };
  let token: bigint | undefined;
  let link: ReturnType<typeof linkSignals> | undefined;
  try {
    throwIfAborted();
    // Not abortable mid-flight: a put that lands after we gave up would orphan the key.
    const joined = await join(spec);
    token = joined.token;
    opts.onJoin?.(joined);
    throwIfAborted();
    let revision = joined.revision;
    if (!joined.ready) {
      if (!opts.wait) {
        await leave(spec.ctx, spec.what, spec.key, token);
        return undefined;
      }
      link = linkSignals([session.signal, opts.signal]);
      const { signal } = link;
      revision = await awaitTurn(
        spec,
        token,
        signal,
        {
          ahead: joined.ahead ?? (await nearestAhead(spec, token, signal)).ahead,
          revision: joined.revision,
          sole: joined.sole,
        },
        opts.lockDelayMs,
      );
    }
    session.throwIfLost();
    markHandedOut(session, spec.key, token);
    return { key: spec.key, token, revision, found: joined.found };
  } catch (err) {
    const why = reason() ?? err;
    if (token !== undefined) {
      await leave(spec.ctx, spec.what, spec.key, token).catch((e) =>
        spec.ctx.logger('queue').warn({ err: e, key: spec.key }, 'could not delete my key; it expires with the lease'),
      );
    }
    throw why;
  } finally {
    link?.unlink();
  }
}
