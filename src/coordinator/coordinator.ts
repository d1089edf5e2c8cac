/**
 * The {@link Coordinator}: one etcd3 client, the namespace, the logger, the resilience
 * policies, one keepalive stream and one watch stream, and the factories of every
 * primitive. `connect()` (connect.ts) creates it.
 * @module
 */
import type { Etcd3, Namespace } from 'etcd3';
import type { Logger } from 'pino';
import type { CoordContext } from '../context.js';
import { Election, type ElectionOptions } from '../election/election.js';
import { ClosedError } from '../errors.js';
import { takeSnapshot } from '../inspect/inspect.js';
import type { InspectOptions, Snapshot } from '../inspect/types.js';
import { KeepAliveStream } from '../lease/keepalive.js';
import type { Session } from '../lease/session.js';
import type { AcquireOptions, LockOptions } from '../lock/contend.js';
import type { Lock } from '../lock/lock.js';
import { acquireMultiLock, checkMultiLock, type MultiLock, type MultiLockOptions } from '../lock/multi-lock.js';
import { Mutex, type MutexOptions } from '../lock/mutex.js';
import { defaultOwner } from '../lock/owner.js';
import { RWLock } from '../lock/rwlock.js';
import { Semaphore } from '../lock/semaphore.js';
import { withLock } from '../lock/with-lock.js';
import { type MetricsRegistry, Reporter } from '../metrics.js';
import { PartitionGroup } from '../partition/group.js';
import { type PartitionOptions, partitionSpec } from '../partition/spec.js';
import { Barrier } from '../recipes/barrier.js';
import { DoubleBarrier } from '../recipes/double-barrier.js';
import type { BarrierOptions } from '../recipes/options.js';
import { ServiceRegistry } from '../registry/registry.js';
import type { BreakerState, Resilience } from '../resilience.js';
import { Tracing } from '../telemetry.js';
import { WatchHub } from '../watch.js';
import { type Diagnostics, readDiagnostics } from './diagnostics.js';
import { type EndpointHealth, HealthProbe } from './health.js';
import { SessionPool } from './sessions.js';

/** What `connect()` checked and built for a coordinator. @internal */
export interface CoordinatorConfig {
  readonly namespace: string;
  readonly ttl: number;
  readonly logger: Logger;
  readonly resilience: Resilience;
  readonly endpoints: string[];
  /** Default: `<hostname>:<pid>`. */
  readonly owner?: string;
}

/** A connection to etcd and the factory of every primitive. Create with {@link connect}. */
export class Coordinator {
  /** etcd3 namespace scoped to `namespace`, for application data. */
  readonly kv: Namespace;
  /** The key prefix of everything. */
  readonly namespace: string;
  /** Default session TTL in seconds. */
  readonly ttl: number;
  /** The endpoints in use. */
  readonly endpoints: readonly string[];
  /** The default owner of this coordinator's locks (`connect({ owner })`, else `<hostname>:<pid>`). */
  readonly owner: string;
  /** The root etcd3 client. Keys through it are not namespaced. */
  readonly client: Etcd3;
  /** @internal */
  protected readonly ctx: CoordContext;
  private readonly logger: Logger;
  /** Child loggers by component, made once: `ctx.logger()` is called on hot paths. */
  private readonly componentLoggers = new Map<string, Logger>();
  private readonly resilience: Resilience;
  private readonly keepAlive: KeepAliveStream;
  private readonly watchHub: WatchHub;
  private readonly sessions: SessionPool;
  private closing: Promise<void> | undefined;
  private readonly closeController = new AbortController();
  private readonly reporter: Reporter;
  private tracing = Tracing.off;
  private readonly healthProbe: HealthProbe;

  /** @internal use {@link connect}. */
  constructor(client: Etcd3, config: CoordinatorConfig) {
    this.client = client;
    this.namespace = config.namespace;
    this.ttl = config.ttl;
    this.endpoints = config.endpoints;
    this.owner = config.owner ?? defaultOwner();
    this.logger = config.logger;
    this.resilience = config.resilience;
    this.kv = config.namespace ? client.namespace(config.namespace) : client;
    this.reporter = new Reporter(this.logger.child({ component: 'events' }));
    this.keepAlive = new KeepAliveStream(client, this.logger.child({ component: 'keepalive' }));
    this.watchHub = new WatchHub(client, this.logger.child({ component: 'watch' }));
    this.healthProbe = new HealthProbe(client, this.resilience);
    this.sessions = new SessionPool({
      client,
      resilience: this.resilience,
      keepAlive: this.keepAlive,
      logger: this.logger,
      emit: (e) => this.reporter.emit(e),
      ttl: this.ttl,
      assertOpen: () => this.assertOpen(),
      isClosed: () => this.closed,
    });
    this.ctx = {
      client,
      kv: this.kv,
      namespace: this.namespace,
      owner: this.owner,
      resilience: this.resilience,
      watch: this.watchHub,
      logger: (component) => {
        let child = this.componentLoggers.get(component);
        if (!child) {
          child = this.logger.child({ component });
          this.componentLoggers.set(component, child);
        }
        return child;
      },
      sharedSessionNow: () => (this.closed ? undefined : this.sessions.sharedNow()),
      defaultSession: (signal) => this.session({ signal }),
      newSession: (ttl, signal) => this.newSession({ ttl, signal }),
      assertOpen: () => this.assertOpen(),
      closed: this.closeController.signal,
      emit: (e) => this.reporter.emit(e),
      trace: (name, attributes) => this.tracing.start(name, attributes),
    };
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** State of the circuit breakers: 'open' while every endpoint fails fast. */
  get breakerState(): BreakerState {
    return this.resilience.breakerState;
  }

  /**
   * The shared default session (TTL from `connect({ ttl })`). After it is lost, the next
   * call grants a fresh one.
   */
  async session(options: { signal?: AbortSignal } = {}): Promise<Session> {
    return this.sessions.shared(options.signal);
  }

  /** A new session with its own lease. It is closed (revoked) by {@link close} if still open. */
  async newSession(options: { ttl?: number; signal?: AbortSignal } = {}): Promise<Session> {
    return this.sessions.create(options.ttl, options.signal);
  }

  /**
   * A distributed mutex on `<namespace><name>/`, on the shared session unless
   * `options.session` is given. Nothing is written until `acquire()`. With
   * `options.lockDelayMs`, a waiter whose predecessor's lease ended (rather than a
   * release) waits that much more before taking the lock.
   * @throws InvalidArgumentError for a bad name or options (synchronously).
   */
  mutex(name: string, options?: MutexOptions): Mutex {
    this.assertOpen();
    return new Mutex(this.ctx, name, options);
  }

  /**
   * Acquires the mutex of every name, all or none, on one session (`options.session`,
   * else the shared one). They are taken in one global order (by queue prefix), so two
   * multi-locks over overlapping names cannot deadlock. Rejects with `signal.reason`,
   * `LockTimeoutError` (`timeoutMs` bounds the whole acquisition) or the reason a lock
   * already taken was lost; every lock taken is released first. Rejects with
   * `InvalidArgumentError` (before anything is written) for no names, too many,
   * duplicates, a bad name or bad options.
   */
  async multiLock(names: readonly string[], options?: MultiLockOptions): Promise<MultiLock> {
    this.assertOpen();
    return acquireMultiLock(this.ctx, checkMultiLock(this.ctx, names, options), options);
  }

  /**
   * A counting semaphore: at most `limit` permits held at once.
   * @throws InvalidArgumentError for a bad name or a limit that is not a whole number >= 1 (synchronously).
   */
  semaphore(name: string, limit: number, options?: LockOptions): Semaphore {
    this.assertOpen();
    return new Semaphore(this.ctx, name, limit, options);
  }

  /**
   * A read-write lock: many readers or one writer, FIFO between them.
   * @throws InvalidArgumentError for a bad name (synchronously).
   */
  rwlock(name: string, options?: LockOptions): RWLock {
    this.assertOpen();
    return new RWLock(this.ctx, name, options);
  }

  /**
   * A leader election on `<namespace><name>/` (Go `concurrency.Election` layout), on the
   * shared session unless `options.session` is given. Nothing is written until `campaign()`.
   * @throws InvalidArgumentError for a bad name (synchronously).
   */
  election(name: string, options?: ElectionOptions): Election {
    this.assertOpen();
    return new Election(this.ctx, name, options);
  }

  /**
   * A barrier (Go `recipes.Barrier`): its key `<namespace><name>` exists while it is held
   * (`hold()`, on the shared session unless `options.session` is given), and `wait()`
   * resolves once it does not. Nothing is written until `hold()`.
   * @throws InvalidArgumentError for a bad name or options (synchronously).
   */
  barrier(name: string, options?: BarrierOptions): Barrier {
    this.assertOpen();
    return new Barrier(this.ctx, name, options);
  }

  /**
   * One member of a double barrier (Go `recipes.DoubleBarrier`): `enter()` resolves once
   * `count` members entered, `leave()` once they all left. Keys under
   * `<namespace><name>/`, on the shared session unless `options.session` is given (one
   * member per session). Nothing is written until `enter()`.
   * @throws InvalidArgumentError for a bad name, a count that is not a whole number >= 1, or bad options (synchronously).
   */
  doubleBarrier(name: string, count: number, options?: BarrierOptions): DoubleBarrier {
    this.assertOpen();
    return new DoubleBarrier(this.ctx, name, count, options);
  }

  /**
   * Acquires the mutex `name`, runs `fn(lock)`, and releases the lock when `fn` settles
   * (also when it throws or the lock was lost meanwhile: watch `lock.signal`). Resolves
   * with `fn`'s result or rejects with its error.
   */
  async withLock<T>(
    name: string,
    fn: (lock: Lock) => Promise<T> | T,
    options: AcquireOptions & LockOptions = {},
  ): Promise<T> {
    return withLock(this.mutex(name, { session: options.session, owner: options.owner }), fn, options);
  }

  /**
   * Work spread over the live members of group `name`: `options.partitions` partitions,
   * each owned by exactly one member at a time (rendezvous hashing over the members;
   * fenced by the owner key's create revision). Joins in the background at once.
   * @throws InvalidArgumentError for a bad name, member, session or partition count (synchronously; nothing written).
   */
  partition(name: string, options: PartitionOptions): PartitionGroup {
    this.assertOpen();
    return new PartitionGroup(this.ctx, partitionSpec(this.namespace, name, options));
  }

  private registryInstance: ServiceRegistry | undefined;
  /** Service registration and discovery (`register()`, `list()`, `discover()`). */
  get registry(): ServiceRegistry {
    this.registryInstance ??= new ServiceRegistry(this.ctx);
    return this.registryInstance;
  }

  /**
   * Who holds and who waits, under `<namespace><prefix>` (default: the whole namespace):
   * every queue (mutex, semaphore, each side of a read-write lock, election) with its
   * contenders in queue order and their owner records and lease TTLs, and every service
   * with its instances. The keys are read in one consistent read (one revision); the
   * lease TTLs are asked right after it, one request per distinct lease, concurrently.
   * @param prefix - relative to the namespace: '' (default), a name, or the start of
   *   names (e.g. 'jobs/').
   * Rejects with InvalidArgumentError for a bad prefix (before anything is read).
   */
  inspect(prefix?: string, options: InspectOptions = {}): Promise<Snapshot> {
    return takeSnapshot(this.ctx, prefix, options);
  }

  /**
   * This coordinator's counters now: watch events received and watch streams opened on
   * the shared watch stream, keepalives sent and keepalive streams opened on the shared
   * keepalive stream, streams given up for silence, live sessions, the breaker state.
   * Counters grow from `connect()`; subtract two snapshots to measure a piece of work.
   * Reads local counters only (no etcd request); works after `close()` too.
   */
  diagnostics(): Diagnostics {
    return readDiagnostics(this.watchHub, this.keepAlive, this.sessions.size, this.resilience.breakerState);
  }

  /** Health of every endpoint: reachable, latency, raft leader, revision, alarms. */
  async health(): Promise<EndpointHealth[]> {
    this.assertOpen();
    return Promise.all(this.endpoints.map((ep) => this.healthProbe.check(ep)));
  }

  /** Registers the library's metrics in a prom-client registry. @internal use `connect({ metrics })`. */
  async enableMetrics(registry: MetricsRegistry): Promise<void> {
    await this.reporter.enableMetrics(registry, {
      sessions: () => this.sessions.size,
      sessionsAtRisk: () => this.sessions.atRisk(),
      breakerOpen: () => ({ closed: 0, 'half-open': 0.5, open: 1 })[this.resilience.breakerState],
      registrations: () => this.registryInstance?.registrationCount ?? 0,
      cacheInstances: () => this.registryInstance?.cacheSizes() ?? [],
    });
  }

  /** Sends spans through `tracing` (connect() loads `@opentelemetry/api` if installed). @internal */
  useTracing(tracing: Tracing): void {
    this.tracing = tracing;
  }

  /** Throws {@link ClosedError} once closed. @internal */
  assertOpen(): void {
    if (this.closing) throw new ClosedError('the coordinator is closed');
  }

  /**
   * Closes every session this coordinator created (revoking their leases, so no key of
   * theirs stays behind), the watch and keepalive streams, and the client. Safe to call twice.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closeController.abort(new ClosedError('the coordinator was closed'));
    this.registryInstance?.shutdown();
    await this.sessions.closeAll();
    this.keepAlive.close();
    this.watchHub.close();
    this.healthProbe.close();
    this.client.close();
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
