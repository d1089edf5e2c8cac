/**
 * ServiceCache: the live instances of one service, kept by one read and then a watch on
 * the coordinator's shared watch stream (see {@link RangeMirror}: no gap, no duplicate,
 * re-read after compaction, never silently stops). Serves the last known instances while
 * etcd is unreachable (`stale`), picks instances, and keeps instances down after errors.
 * @module
 */
import type { Logger } from 'pino';
import { Channel } from '../channel.js';
import type { CoordContext } from '../context.js';
import { InvalidArgumentError } from '../errors.js';
import { servicePrefix } from '../keys.js';
import { compareById, decodeInstance } from './codec.js';
import { DownPolicy } from './down-policy.js';
import { type MirrorChange, RangeMirror } from './mirror.js';
import { Picker } from './pickers.js';
import type { DiscoverOptions, PickStrategy, ServiceChange, ServiceInstance } from './types.js';
import { validateDownPolicy, validateStrategy } from './validate.js';

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
   * Picks an instance: 'round-robin' (default), 'random', 'weighted' (by `weight`) or
   * 'sticky' (the same instance until it goes down). Skips instances marked down by
   * {@link noteError} and 'draining' ones. Returns `undefined` when no instance is
   * available.
   * @throws InvalidArgumentError for an unknown strategy (synchronously).
   */
  pick(strategy: PickStrategy = 'round-robin'): ServiceInstance | undefined {
    const s = validateStrategy(strategy);
    const candidates = this.list().filter((i) => i.status !== 'draining' && !this.down.isDown(i.id));
    return this.picker.pick(s, candidates);
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

  /** Stops watching and ends every `changes()` iteration. The last instances stay readable. Safe twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.signal?.removeEventListener('abort', this.onSignal);
    this.mirror.close();
    this.changeChannel.end();
  }

  /** Same as {@link close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
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
