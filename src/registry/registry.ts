/**
 * ServiceRegistry: register service instances and discover them. Keys are
 * `<namespace>services/<service>/<id>` with a JSON value (see {@link ServiceInstance}).
 * @module
 */
import type { Logger } from 'pino';
import type { CoordContext } from '../context.js';
import { ConflictError } from '../errors.js';
import { serviceKey, servicePrefix, validateSegment } from '../keys.js';
import { openServiceCache, type ServiceCache } from './cache.js';
import { compareById, decodeInstance } from './codec.js';
import { RangeMirror } from './mirror.js';
import { openRegistration, type Registration } from './registration.js';
import type { DiscoverOptions, RegisterInput, RegisterOptions, ServiceInstance } from './types.js';
import { validateRegisterInput, validateRegisterLease } from './validate.js';

/** Service registration and discovery. Use `coord.registry`. */
export class ServiceRegistry {
  private readonly logger: Logger;
  private readonly caches = new Set<ServiceCache>();
  private readonly registrations = new Set<Registration>();
  /** Keys of register() calls under way, so two at once for one id cannot both succeed. */
  private readonly registering = new Set<string>();

  /** @internal use `coord.registry`. */
  constructor(private readonly ctx: CoordContext) {
    this.logger = ctx.logger('registry');
  }

  /**
   * Announces an instance under `<namespace>services/<service>/<id>`, on its own session
   * (lease) with `options.ttl` (default: the coordinator's TTL). If the lease is lost it
   * registers again by itself (see {@link Registration}).
   * @throws InvalidArgumentError for bad input, before anything is written.
   * @throws ConflictError when a live instance of another process (another lease) has that id.
   */
  async register(input: RegisterInput, options: RegisterOptions = {}): Promise<Registration> {
    const record = validateRegisterInput(input);
    const { ttl, shared } = validateRegisterLease(options);
    options.signal?.throwIfAborted();
    for (const r of this.registrations) if (r.state === 'deregistered') this.registrations.delete(r);
    const key = serviceKey(this.ctx.namespace, record.service, record.id);
    if (this.registering.has(key) || [...this.registrations].some((r) => r.key === key)) {
      // Two registrations of one id in one process (also two register() calls at once): on a
      // shared session the claim could not tell them apart.
      throw new ConflictError(`register ${record.service}/${record.id}: already registered by this coordinator`);
    }
    this.registering.add(key);
    try {
      const registration = await openRegistration(
        { ctx: this.ctx, logger: this.logger, ttl, shared },
        record,
        options.signal,
      );
      this.registrations.add(registration);
      return registration;
    } finally {
      this.registering.delete(key);
    }
  }

  /** Registrations of this coordinator that are not deregistered, for metrics. @internal */
  get registrationCount(): number {
    let n = 0;
    for (const r of this.registrations) if (r.state !== 'deregistered') n++;
    return n;
  }

  /** Instances known to each open cache, for metrics. @internal */
  cacheSizes(): Array<{ service: string; count: number }> {
    return [...this.caches]
      .filter((c) => !c.isClosed)
      .map((c) => ({ service: c.service, count: c.instances().length }));
  }

  /**
   * The instances of `service` now, sorted by id: one linearizable read. Keys under the
   * service prefix that are not valid instances are left out.
   * @throws InvalidArgumentError for a bad service name.
   */
  async list(service: string, options: { signal?: AbortSignal } = {}): Promise<ServiceInstance[]> {
    validateSegment(service, 'service');
    this.ctx.assertOpen();
    const prefix = servicePrefix(this.ctx.namespace, service);
    const mirror = new RangeMirror({
      ctx: this.ctx,
      logger: this.logger,
      what: `list ${service}`,
      key: prefix,
      prefix: true,
      onChanges: () => undefined,
    });
    const snap = await mirror.read(options.signal);
    return snap.entries
      .map((e) => decodeInstance(prefix, service, e))
      .filter((i): i is ServiceInstance => i !== undefined)
      .sort(compareById);
  }

  /**
   * A live cache of `service`: one read, then a watch on the shared watch stream.
   * @throws InvalidArgumentError for a bad service name or down policy.
   */
  async discover(service: string, options: DiscoverOptions = {}): Promise<ServiceCache> {
    validateSegment(service, 'service');
    options.signal?.throwIfAborted();
    const cache = await openServiceCache(this.ctx, this.logger.child({ service }), service, options);
    for (const c of this.caches) if (c.isClosed) this.caches.delete(c);
    this.caches.add(cache);
    return cache;
  }

  /** Closes every cache (their `changes()` end) when the coordinator closes. @internal */
  shutdown(): void {
    for (const c of this.caches) c.close();
    this.caches.clear();
  }
}
