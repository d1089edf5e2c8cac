/**
 * Registration: one service instance announced under `<namespace>services/<service>/<id>`,
 * its JSON value attached to the registration's own session lease.
 *
 * It stays registered while its process lives and wants it: when its lease is lost
 * (etcd outage past the TTL, partition, the process paused) or its key vanishes, it
 * reports 'lost' and registers again under the same key with a fresh lease as soon as
 * etcd answers, retrying with exponential backoff and jitter. It never overwrites a live
 * instance of someone else: a key on a lease it did not use itself is a conflict, and
 * it waits for that key to go.
 * @module
 */
import type { Logger } from 'pino';
import { retryUntilDone } from '../backoff.js';
import { Channel } from '../channel.js';
import type { CoordContext } from '../context.js';
import {
  ClosedError,
  CoordinationError,
  isClosedError,
  isConflictError,
  isSessionLostError,
  withoutStack,
} from '../errors.js';
import { serviceKey } from '../keys.js';
import type { Session } from '../lease/session.js';
import { claimKey, deleteOnLease, releaseOwnedKey, rewriteKey, type Written } from './claim.js';
import { encodeInstance, toInstance } from './codec.js';
import { RangeMirror } from './mirror.js';
import type { InstancePatch, RegistrationState, RegistrationStatus, ServiceInstance } from './types.js';
import { applyPatch, type InstanceRecord } from './validate.js';

/** How many of its past leases a registration remembers as its own. */
const OWN_LEASES_KEPT = 16;

/** What a registration needs. @internal */
export interface RegistrationDeps {
  readonly ctx: CoordContext;
  readonly logger: Logger;
  /** TTL of its sessions; undefined: the coordinator's. */
  readonly ttl: number | undefined;
  /** On the coordinator's shared session (`sharedSession: true`) rather than sessions of its own. */
  readonly shared: boolean;
}

/** The session a registration (re-)claims its key on: the shared one, or a new one of its own. */
function sessionFor(deps: RegistrationDeps, signal?: AbortSignal): Promise<Session> | Session {
  const { ctx } = deps;
  if (!deps.shared) return ctx.newSession(deps.ttl, signal);
  return ctx.sharedSessionNow() ?? ctx.defaultSession(signal);
}

/**
 * Registers `record`: grants the registration's own session (or takes the shared one) and claims the key.
 * @throws ConflictError when another live instance holds the key.
 * @internal
 */
export async function openRegistration(
  deps: RegistrationDeps,
  record: InstanceRecord,
  signal?: AbortSignal,
): Promise<Registration> {
  const { ctx } = deps;
  ctx.assertOpen();
  const key = serviceKey(ctx.namespace, record.service, record.id);
  const span = ctx.trace('registry.register', { service: record.service, instance_id: record.id, key });
  let session: Session | undefined;
  const what = `register ${record.service}/${record.id}`;
  try {
    session = await sessionFor(deps, signal);
    const lease = session.leaseIdDecimal;
    const written = await claimKey(ctx, what, key, encodeInstance(record), lease, new Set(), signal);
    signal?.throwIfAborted();
    session.throwIfLost();
    const registration = new Registration(deps, record, key, session, written, signal);
    span?.end({ lease: session.leaseId });
    return registration;
  } catch (err) {
    span?.fail(err);
    // Own session: revoking the lease removes a key the claim may have written. Shared: delete that key only.
    if (!deps.shared) await session?.close();
    else if (session?.isAlive) await deleteOnLease(ctx, what, key, session.leaseIdDecimal).catch(() => undefined);
    throw err;
  }
}

/** A registered service instance. Create with `coord.registry.register()`. */
export class Registration {
  private record: InstanceRecord;
  private session: Session;
  private lastWrite: bigint;
  private stateValue: RegistrationState = 'registered';
  private lostError: Error | undefined;
  private readonly ownLeases = new Set<string>();
  private readonly stop = new AbortController();
  private readonly statusChannel = new Channel<RegistrationStatus>();
  private readonly mirror: RangeMirror;
  private readonly logger: Logger;
  private readonly what: string;
  private queue: Promise<unknown> = Promise.resolve();
  private deregistering: Promise<void> | undefined;
  private readonly onSignal = () => void this.deregister();
  /** Stops listening to the current session's end (a shared session outlives the registration). */
  private unadopt: (() => void) | undefined;

  /** @internal use `coord.registry.register()`. */
  constructor(
    private readonly deps: RegistrationDeps,
    record: InstanceRecord,
    /** The full etcd key of this instance. */
    readonly key: string,
    session: Session,
    written: Written,
    private readonly signal?: AbortSignal,
  ) {
    this.record = record;
    this.what = `registration ${record.service}/${record.id}`;
    this.logger = deps.logger.child({ service: record.service, id: record.id });
    this.session = session;
    this.lastWrite = written.revision;
    this.adopt(session);
    this.mirror = new RangeMirror({
      ctx: deps.ctx,
      logger: this.logger,
      what: this.what,
      key,
      prefix: false,
      onChanges: () => this.checkKey(),
    });
    const value = encodeInstance(record);
    const entry = { key, value, modRevision: written.revision, lease: session.leaseIdDecimal };
    // The watch of my key starts at the write's revision + 1 whenever it is created, so it
    // is created after register() resolves rather than on its path (a closed mirror makes none).
    setImmediate(() => {
      if (!this.coordinatorClosed()) this.mirror.start({ entries: [entry], revision: written.revision });
    });
    signal?.addEventListener('abort', this.onSignal, { once: true });
    this.logger.info({ lease: session.leaseId }, 'registered');
    deps.ctx.emit({ type: 'registry.registered', service: this.record.service, id: this.record.id });
  }

  /** The instance as this process wants it registered (after `update()`), with its current lease. */
  get instance(): ServiceInstance {
    return toInstance(this.record, this.key, this.session.leaseIdDecimal, this.lastWrite);
  }

  /** 'registered', 'lost' (re-registering) or 'deregistered'. */
  get state(): RegistrationState {
    return this.stateValue;
  }

  /**
   * The current state first ('registered', 'lost' or 'deregistered'), then every change
   * ('lost', 're-registered', 'deregistered'), as an AsyncIterable of a discriminated
   * union. Ends after 'deregistered'.
   */
  status(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<RegistrationStatus> {
    const first: RegistrationStatus =
      this.stateValue === 'registered'
        ? { type: 'registered', leaseId: this.session.leaseId }
        : this.stateValue === 'lost'
          ? { type: 'lost', error: this.lostError as Error }
          : { type: 'deregistered' };
    return this.statusChannel.iterate({ signal: options.signal, first: [first] });
  }

  /**
   * Changes metadata, weight or status (e.g. `{ status: 'draining' }`). Resolves once etcd
   * has the new value; while the registration is 'lost' it resolves at once and the value
   * is written when it registers again. Updates are applied in call order.
   * @throws InvalidArgumentError for a bad patch (nothing written); ClosedError after deregister().
   */
  async update(patch: InstancePatch): Promise<ServiceInstance> {
    const next = applyPatch(this.record, patch);
    if (this.stop.signal.aborted) throw new ClosedError(`${this.what} was deregistered`);
    return this.serial(async () => {
      this.record = next;
      if (this.stateValue !== 'registered') return this.instance;
      const session = this.session;
      const w = await rewriteKey(this.deps.ctx, this.what, this.key, encodeInstance(next), session.leaseIdDecimal);
      if (w) this.lastWrite = w.revision;
      else this.lose(new CoordinationError(`${this.what}: the key was deleted or taken over`));
      return this.instance;
    });
  }

  /**
   * Removes the instance from etcd at once (revokes its lease) and stops re-registering.
   * Idempotent; never rejects (if etcd cannot be reached the key expires with its TTL).
   */
  deregister(): Promise<void> {
    this.deregistering ??= this.doDeregister();
    return this.deregistering;
  }

  /** Same as {@link deregister}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.deregister();
  }

  private async doDeregister(): Promise<void> {
    this.halt();
    await this.queue.catch(() => undefined);
    const session = this.session;
    if (session.isAlive && this.deps.shared) {
      await deleteOnLease(this.deps.ctx, this.what, this.key, session.leaseIdDecimal).catch((err) =>
        this.logger.warn({ err }, 'could not delete the key; it goes with the shared session'),
      );
    } else if (session.isAlive) await session.close();
    else if (!this.coordinatorClosed()) {
      await releaseOwnedKey(this.deps.ctx, this.what, this.key, this.ownLeases).catch((err) =>
        this.logger.warn({ err }, 'could not delete the key; it expires with its lease'),
      );
    }
    this.logger.info('deregistered');
    this.finish();
  }

  private halt(): void {
    this.stop.abort(withoutStack(() => new ClosedError(`${this.what} was deregistered`)));
    this.unadopt?.();
    this.mirror.close();
    this.signal?.removeEventListener('abort', this.onSignal);
  }

  private finish(): void {
    this.stateValue = 'deregistered';
    this.statusChannel.push({ type: 'deregistered' });
    this.deps.ctx.emit({ type: 'registry.deregistered', service: this.record.service, id: this.record.id });
    this.statusChannel.end();
  }

  private coordinatorClosed(): boolean {
    try {
      this.deps.ctx.assertOpen();
      return false;
    } catch {
      return true;
    }
  }

  /** Runs writes one at a time, in call order. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private adopt(session: Session): void {
    this.session = session;
    this.ownLeases.add(session.leaseIdDecimal);
    if (this.ownLeases.size > OWN_LEASES_KEPT) this.ownLeases.delete(this.ownLeases.values().next().value as string);
    this.unadopt?.();
    const onEnded = () => this.onSessionEnded(session);
    session.signal.addEventListener('abort', onEnded, { once: true });
    this.unadopt = () => session.signal.removeEventListener('abort', onEnded);
  }

  private onSessionEnded(session: Session): void {
    if (session !== this.session || this.stop.signal.aborted) return;
    if (this.coordinatorClosed()) {
      this.halt();
      this.finish();
      return;
    }
    this.lose(session.signal.reason as Error);
  }

  /** The watch of my own key saw a change: is the key still mine? */
  private checkKey(): void {
    if (this.stateValue !== 'registered' || this.mirror.revision <= this.lastWrite) return;
    const entry = this.mirror.entries.get(this.key);
    if (entry?.lease === this.session.leaseIdDecimal) return;
    this.lose(new CoordinationError(`${this.what}: the key was ${entry ? 'overwritten' : 'deleted'}`));
  }

  private lose(error: Error): void {
    if (this.stateValue !== 'registered' || this.stop.signal.aborted) return;
    this.stateValue = 'lost';
    this.lostError = error;
    this.logger.warn({ err: error.message }, 'registration lost; registering again');
    this.statusChannel.push({ type: 'lost', error });
    this.deps.ctx.emit({ type: 'registry.lost', service: this.record.service, id: this.record.id });
    void this.recover();
  }

  private async recover(): Promise<void> {
    let conflictReported = false;
    const done = await retryUntilDone(
      () => this.serial(() => this.reclaim()),
      this.stop.signal,
      (err, attempts) => {
        if (isClosedError(err) || this.coordinatorClosed()) return 'stop';
        if (isConflictError(err) && !conflictReported) {
          conflictReported = true;
          this.logger.warn({ err: err.message }, 'another instance holds the key; waiting for it to go');
        } else {
          const level = attempts === 1 || attempts % 20 === 0 ? 'warn' : 'debug';
          this.logger[level]({ err: (err as Error).message, attempts }, 're-registration attempt failed; retrying');
        }
        return 'retry';
      },
    );
    if (this.stop.signal.aborted) return;
    if (!done) {
      this.halt(); // the coordinator was closed
      this.finish();
      return;
    }
    this.stateValue = 'registered';
    this.logger.info({ lease: done.value, attempts: done.attempts }, 're-registered');
    this.statusChannel.push({ type: 're-registered', leaseId: done.value, attempts: done.attempts });
    this.deps.ctx.emit({ type: 'registry.reregistered', service: this.record.service, id: this.record.id });
  }

  /** One re-registration attempt: a live session (fresh if needed), then the claim. */
  private async reclaim(): Promise<string> {
    const { ctx } = this.deps;
    let session = this.session;
    ctx.assertOpen();
    if (!session.isAlive) {
      session = await sessionFor(this.deps, this.stop.signal);
      session.throwIfLost();
      this.adopt(session);
    }
    const value = encodeInstance(this.record);
    try {
      const w = await claimKey(
        ctx,
        this.what,
        this.key,
        value,
        session.leaseIdDecimal,
        this.ownLeases,
        this.stop.signal,
      );
      session.throwIfLost();
      if (w.tookOver) this.logger.info({ lease: session.leaseId }, 'took the key over from an earlier lease of mine');
      this.lastWrite = w.revision;
      return session.leaseId;
    } catch (err) {
      if (isSessionLostError(err) && !this.deps.shared) void session.close();
      throw err;
    }
  }
}
