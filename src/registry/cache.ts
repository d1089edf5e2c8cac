/**
 * ServiceCache: the live instances of one service, kept by one read and then a watch on
 * the coordinator's shared watch stream (see {@link RangeMirror}: no gap, no duplicate,
 * re-read after compaction, never silently stops). Serves the last known instances while
 * etcd is unreachable (`stale`), picks instances, and keeps instances down after errors.
 * `call()` picks, counts the call in flight (for 'least-request') and notes its outcome.
 * @module
 */
import type { Logger } from 'pino';
import { Channel } from '../channel.js';
import type { CoordContext } from '../context.js';
import { ClosedError, InvalidArgumentError } from '../errors.js';
import { servicePrefix } from '../keys.js';
import { compareById, decodeInstance } from './codec.js';
import { DownPolicy } from './down-policy.js';
import { NoInstanceError } from './errors.js';
import { type MirrorChange, RangeMirror } from './mirror.js';
import { Picker } from './pickers.js';
import type { CallOptions, DiscoverOptions, PickStrategy, ServiceChange, ServiceInstance } from './types.js';
import { validateCall, validateDownPolicy, validateStrategy } from './validate.js';

/** The calls in flight to one instance (a fresh object if the instance leaves and comes back). */
interface InFlight {
  n: number;
}

/**
 * Starts a cache: one linearizable read, then the watch from its revision + 1.
 * @internal
 */
export async function openServiceCache(
  ctx: CoordContext,
  logger: Logger,
  service: string,
  options: DiscoverOptions,
): Promise<ServiceCache> {
  const down = validateDownPolicy(options.downPolicy);
  ctx.assertOpen();
  const cache = new ServiceCache(ctx, logger, service, new DownPolicy(down.errorThreshold, down.halfOpenAfterMs));
  await cache.start(options.signal);
  return cache;
}

/** The live instances of one service. Create with `coord.registry.discover()`. */
export class ServiceCache {
  private readonly byKey = new Map<string, ServiceInstance>();
  private sorted: ServiceInstance[] | undefined;
  private readonly changeChannel = new Channel<ServiceChange>();
  private readonly picker = new Picker();
  /** Calls in flight per instance id; only instances with calls in flight, only present ones. */
  private readonly inFlightById = new Map<string, InFlight>();
  /** One controller per running call: aborted when the cache closes. */
  private readonly calls = new Set<AbortController>();
  private readonly countOf = (id: string): number => this.inFlightById.get(id)?.n ?? 0;
  private readonly mirror: RangeMirror;
  private readonly prefix: string;
  private closed = false;
  private signal: AbortSignal | undefined;
  private readonly onSignal = () => this.close();

  /** @internal use `coord.registry.discover()`. */
  constructor(
    ctx: CoordContext,
    private readonly logger: Logger,
    /** The service this cache follows. */
    readonly service: string,
    private readonly down: DownPolicy,
  ) {
    this.prefix = servicePrefix(ctx.namespace, service);
    this.mirror = new RangeMirror({
      ctx,
      logger,
      what: `discover ${service}`,
      key: this.prefix,
      prefix: true,
      onChanges: (changes) => this.onChanges(changes),
      onStale: (stale) => logger.info({ stale }, stale ? 'cache is stale' : 'cache is live again'),
    });
  }

  /** @internal */
  async start(signal?: AbortSignal): Promise<void> {
    const snap = await this.mirror.read(signal);
    signal?.throwIfAborted();
    for (const e of snap.entries) {
      const inst = decodeInstance(this.prefix, this.service, e);
      if (inst) this.byKey.set(e.key, inst);
    }
    this.mirror.start(snap);
    this.signal = signal;
    signal?.addEventListener('abort', this.onSignal, { once: true });
  }

  /** The current instances (sorted by id), including down and draining ones. Synchronous. */
  instances(): ServiceInstance[] {
    return [...this.list()];
  }

  /** The etcd revision the instances reflect (at least). */
  get revision(): bigint {
    return this.mirror.revision;
  }

  /**
   * True while the cache may be missing changes: the watch stream is disconnected (etcd
   * unreachable) or a re-read after compaction is pending. The last known instances keep
   * being served.
   */
  get stale(): boolean {
    return this.mirror.stale;
  }

  /** True once closed. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Every later change as `{ type: 'up' | 'down' | 'update', instance }`, in etcd's
   * order. After a compaction the difference found by the re-read is reported. Ends when
   * the cache is closed.
   */
  changes(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<ServiceChange> {
    return this.changeChannel.iterate(options);
  }

  /**
   * Picks an instance: 'round-robin' (default), 'random', 'weighted' (by `weight`),
   * 'sticky' (the same instance until it goes down) or 'least-request' (of two random
   * instances, the one with fewer calls in flight through {@link call}; random when
   * nothing is in flight). Skips instances marked down by {@link noteError} and
   * 'draining' ones. Returns `undefined` when no instance is available.
   * @throws InvalidArgumentError for an unknown strategy (synchronously).
   */
  pick(strategy: PickStrategy = 'round-robin'): ServiceInstance | undefined {
    return this.pickValid(validateStrategy(strategy));
  }

  /**
   * Calls one instance: picks it (`options.strategy`, default 'least-request'), counts the
   * call in flight until `fn` settles, and notes the outcome: {@link noteSuccess} when `fn`
   * resolves, {@link noteError} when it rejects (so failing instances are marked down by
   * the down policy with no manual calls), then resolves or rejects as `fn` did.
   *
   * - The signal passed to `fn` aborts when `options.signal` aborts (with its reason) or
   *   the cache closes (with a `ClosedError`); a rejection after such an abort is not
   *   counted against the instance.
   * - Nothing is called when `options.signal` is already aborted (rejects with its
   *   reason), when the cache is closed (`ClosedError`), or when no instance is available
   *   (`NoInstanceError`).
   * @throws InvalidArgumentError (as a rejection, before picking) when `fn` is not a
   *   function or an option is bad (an unknown strategy, a signal that is not an AbortSignal).
   */
  async call<T>(fn: (instance: ServiceInstance, signal: AbortSignal) => Promise<T>, options?: CallOptions): Promise<T> {
    const { strategy, signal } = validateCall(fn, options);
    signal?.throwIfAborted();
    if (this.closed) throw new ClosedError(`the cache of service ${this.service} is closed`);
    const instance = this.pickValid(strategy);
    if (!instance) throw new NoInstanceError(this.whyNoInstance());
    const counter = this.inFlightById.get(instance.id) ?? { n: 0 };
    this.inFlightById.set(instance.id, counter);
    counter.n++;
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    this.calls.add(controller);
    try {
      const result = await fn(instance, controller.signal);
      if (this.isPresent(instance)) this.down.noteSuccess(instance.id);
      return result;
    } catch (err) {
      if (!controller.signal.aborted && this.isPresent(instance)) this.down.noteError(instance.id);
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.calls.delete(controller);
      counter.n--;
      if (counter.n === 0 && this.inFlightById.get(instance.id) === counter) this.inFlightById.delete(instance.id);
    }
  }

  /**
   * The calls in flight through {@link call} to `instance` (or its id), 0 when none (or
   * when it left the registry: its count is forgotten then). Without an argument: every
   * call in flight through this cache.
   */
  inFlight(instance?: ServiceInstance | string): number {
    return instance === undefined ? this.calls.size : this.countOf(idOf(instance));
  }

  /**
   * Reports a failed call to `instance` (or its id): after `downPolicy.errorThreshold`
   * consecutive errors it is not picked for `downPolicy.halfOpenAfterMs`, then it is
   * picked again (half-open: one more error marks it down again). Returns true when it is down.
   */
  noteError(instance: ServiceInstance | string): boolean {
    return this.down.noteError(idOf(instance));
  }

  /** Reports a successful call: clears the instance's error count (closes its breaker). */
  noteSuccess(instance: ServiceInstance | string): void {
    this.down.noteSuccess(idOf(instance));
  }

  /** True while `instance` is marked down by {@link noteError}. */
  isDown(instance: ServiceInstance | string): boolean {
    return this.down.isDown(idOf(instance));
  }

  /**
   * Stops watching, ends every `changes()` iteration and aborts the signal of every
   * {@link call} in flight (with a `ClosedError`). The last instances stay readable. Safe twice.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.signal?.removeEventListener('abort', this.onSignal);
    this.mirror.close();
    this.changeChannel.end();
    const reason = new ClosedError(`the cache of service ${this.service} was closed`);
    for (const c of this.calls) c.abort(reason);
  }

  /** Same as {@link close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  private pickValid(strategy: PickStrategy): ServiceInstance | undefined {
    const candidates = this.list().filter((i) => i.status !== 'draining' && !this.down.isDown(i.id));
    return this.picker.pick(strategy, candidates, this.countOf);
  }

  /** True while this instance (by key) is in the cache. */
  private isPresent(instance: ServiceInstance): boolean {
    return this.byKey.has(instance.key);
  }

  private whyNoInstance(): string {
    const all = this.list();
    if (all.length === 0) return `no instance of service ${this.service} is registered`;
    const draining = all.filter((i) => i.status === 'draining').length;
    const down = all.filter((i) => i.status !== 'draining' && this.down.isDown(i.id)).length;
    return `no instance of service ${this.service} is available: ${down} marked down, ${draining} draining`;
  }

  private list(): ServiceInstance[] {
    this.sorted ??= [...this.byKey.values()].sort(compareById);
    return this.sorted;
  }

  private onChanges(changes: MirrorChange[]): void {
    for (const c of changes) {
      const before = this.byKey.get(c.key);
      const after = c.entry && decodeInstance(this.prefix, this.service, c.entry);
      if (c.entry && !after) this.logger.warn({ key: c.key }, 'ignoring a key that is not a valid instance');
      if (after) this.byKey.set(c.key, after);
      else this.byKey.delete(c.key);
      this.sorted = undefined;
      if (after) this.changeChannel.push({ type: before ? 'update' : 'up', instance: after });
      else if (before) {
        this.down.forget(before.id);
        this.inFlightById.delete(before.id);
        this.changeChannel.push({ type: 'down', instance: before });
      }
    }
  }
}

function idOf(instance: ServiceInstance | string): string {
  const id = typeof instance === 'string' ? instance : instance?.id;
  if (typeof id !== 'string' || id.length === 0) {
    throw new InvalidArgumentError('expected a ServiceInstance (from this cache) or its id');
  }
  return id;
}
