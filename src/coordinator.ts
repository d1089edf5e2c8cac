/**
 * `connect()` and the {@link Coordinator}: one etcd3 client, the namespace, the logger,
 * the resilience policies, one keepalive stream and one watch stream, and the factories
 * of every primitive.
 * @module
 */
import { readFileSync } from 'node:fs';
import { isBrokenCircuitError, noop } from 'cockatiel';
import { Etcd3, type IOptions, type Namespace } from 'etcd3';
import { type Logger, pino } from 'pino';
import type { CoordContext } from './context.js';
import { Election, type ElectionOptions } from './election/election.js';
import {
  ClosedError,
  EtcdUnavailableError,
  InvalidArgumentError,
  isTransientEtcdError,
  mapEtcdError,
} from './errors.js';
import { takeSnapshot } from './inspect/inspect.js';
import type { InspectOptions, Snapshot } from './inspect/types.js';
import { type Endpoint, parseEndpoint, validateNamespace, validateTimeout, validateTtl } from './keys.js';
import { KeepAliveStream } from './lease/keepalive.js';
import { grantSession, type Session } from './lease/session.js';
import type { AcquireOptions, LockOptions } from './lock/contend.js';
import type { Lock } from './lock/lock.js';
import { Mutex } from './lock/mutex.js';
import { defaultOwner, validateOwner } from './lock/owner.js';
import { RWLock } from './lock/rwlock.js';
import { Semaphore } from './lock/semaphore.js';
import { withLock } from './lock/with-lock.js';
import { type MetricsRegistry, Reporter } from './metrics.js';
import { ServiceRegistry } from './registry/registry.js';
import { type BreakerState, type PolicyOptions, Resilience } from './resilience.js';
import { Tracing } from './telemetry.js';
import { WatchHub } from './watch.js';

/** TLS material: Buffers, or paths of PEM files. */
export interface TlsOptions {
  /** CA certificate that signed etcd's server certificate. */
  ca?: Buffer | string;
  /** Client certificate (for etcd's `--client-cert-auth`). */
  cert?: Buffer | string;
  /** Client private key. */
  key?: Buffer | string;
}

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** 'host:port' or 'http(s)://host:port'. Default: `ETCD_ENDPOINTS` (comma-separated), else 127.0.0.1:2379. */
  endpoints?: string[];
  /** Key prefix of everything the library writes: '' (default) or ending with '/'. */
  namespace?: string;
  /** Default session TTL in seconds (default 10, at least 2). */
  ttl?: number;
  /** TLS; implies https endpoints. */
  tls?: TlsOptions;
  /** etcd user and password. */
  auth?: {
    /** The etcd user name (non-empty). */
    username: string;
    /** The user's password. */
    password: string;
  };
  /** A pino logger; the library logs through `.child({ component })`. Default: silent. */
  logger?: Logger;
  /** Retry, breaker and timeout settings (see {@link PolicyOptions}). */
  policies?: PolicyOptions;
  /**
   * A prom-client `Registry`: the library registers its metrics in it (lock wait and hold
   * times, losses, keepalive round trips, sessions, leadership changes, registrations,
   * cache sizes, breaker state). Needs the optional peer dependency prom-client.
   */
  metrics?: MetricsRegistry;
  /** How long connect() waits for an endpoint to answer, in ms. Default 5000. */
  dialTimeoutMs?: number;
  /**
   * Who this coordinator's locks, semaphores and read-write locks belong to, as their
   * owner records say (`coord.inspect()`, `etcd-coord locks`): a non-empty string of at
   * most 256 characters without control characters. Default `<hostname>:<pid>`;
   * `coord.mutex(name, { owner })` overrides it per lock.
   */
  owner?: string;
}

/** Health of one endpoint, as {@link Coordinator.health} reports it. */
export interface EndpointHealth {
  /** The endpoint URL, e.g. 'http://127.0.0.1:2379'. */
  readonly endpoint: string;
  /** Whether the endpoint answered the status call (if not, see `error`). */
  readonly reachable: boolean;
  /** Round trip of the status call in ms. */
  readonly latencyMs: number;
  /** Member id (hex) of the raft leader this endpoint knows, if reachable. */
  readonly leader?: string;
  /** This endpoint's own member id (hex). */
  readonly memberId?: string;
  /** Whether this endpoint is the raft leader. */
  readonly isLeader?: boolean;
  /** The endpoint's current etcd revision. */
  readonly revision?: bigint;
  /** The endpoint's current raft term. */
  readonly raftTerm?: bigint;
  /** Size of the endpoint's backend database, in bytes. */
  readonly dbSize?: number;
  /** The etcd server version, e.g. '3.5.17'. */
  readonly version?: string;
  /** Active alarms (e.g. 'NOSPACE', 'CORRUPT'). */
  readonly alarms: string[];
  /** Why the endpoint is unreachable (set only when `reachable` is false). */
  readonly error?: string;
}

/** Resolves the endpoints option (or `ETCD_ENDPOINTS`) and checks every entry. @internal */
export function resolveEndpoints(endpoints?: unknown): Endpoint[] {
  let list: unknown = endpoints;
  if (list === undefined) {
    const env = process.env.ETCD_ENDPOINTS?.trim();
    list = env ? env.split(',').map((s) => s.trim()) : ['127.0.0.1:2379'];
  }
  if (!Array.isArray(list) || list.length === 0) {
    throw new InvalidArgumentError('endpoints must be a non-empty array of "host:port" or "http(s)://host:port"');
  }
  const parsed = list.map(parseEndpoint);
  if (parsed.some((e) => e.secure) && parsed.some((e) => !e.secure)) {
    throw new InvalidArgumentError('endpoints must be all http or all https, not a mix');
  }
  return parsed;
}

function material(v: Buffer | string | undefined, what: string): Buffer | undefined {
  if (v === undefined) return undefined;
  if (Buffer.isBuffer(v)) return v;
  if (typeof v !== 'string') throw new InvalidArgumentError(`tls.${what} must be a Buffer or a file path`);
  try {
    return readFileSync(v);
  } catch (err) {
    throw new InvalidArgumentError(`tls.${what}: cannot read ${v}: ${(err as Error).message}`, { cause: err });
  }
}

/** Builds the etcd3 options from checked connect options. @internal */
export function etcd3Options(endpoints: Endpoint[], opts: ConnectOptions, resilience: Resilience): IOptions {
  const secure = Boolean(opts.tls) || endpoints.some((e) => e.secure);
  const hosts = endpoints.map((e) => (secure ? e.url.replace(/^http:/, 'https:') : e.url));
  const options: IOptions = {
    hosts,
    defaultCallOptions: resilience.callOptions,
    faultHandling: { global: resilience.globalPolicy, host: resilience.hostPolicy },
    grpcOptions: {
      'grpc.keepalive_time_ms': 6000,
      'grpc.keepalive_timeout_ms': 3000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
    },
  };
  if (opts.tls) {
    const ca = material(opts.tls.ca, 'ca');
    const cert = material(opts.tls.cert, 'cert');
    const key = material(opts.tls.key, 'key');
    if (Boolean(cert) !== Boolean(key))
      throw new InvalidArgumentError('tls.cert and tls.key go together: give both or neither');
    options.credentials = { rootCertificate: ca as Buffer, certChain: cert, privateKey: key };
  }
  if (opts.auth !== undefined) {
    const { username, password } = opts.auth ?? {};
    if (typeof username !== 'string' || !username || typeof password !== 'string') {
      throw new InvalidArgumentError('auth must be { username: non-empty string, password: string }');
    }
    options.auth = { username, password };
  }
  return options;
}

/**
 * Connects to etcd. Rejects with {@link InvalidArgumentError} for bad options (before any
 * network traffic), {@link AuthenticationError} for rejected credentials, and
 * {@link EtcdUnavailableError} naming the endpoints when none answers within `dialTimeoutMs`.
 */
export async function connect(options: ConnectOptions = {}): Promise<Coordinator> {
  const endpoints = resolveEndpoints(options.endpoints);
  const namespace = validateNamespace(options.namespace);
  const ttl = validateTtl(options.ttl ?? 10, 'ttl');
  const dialTimeoutMs = validateTimeout(options.dialTimeoutMs, 'dialTimeoutMs') ?? 5000;
  const owner = validateOwner(options.owner, 'owner') ?? defaultOwner();
  const names = endpoints.map((e) => e.url);
  const tracing = Tracing.load(); // @opentelemetry/api if installed; never rejects
  const resilience = new Resilience(options.policies, names);
  const client = new Etcd3(etcd3Options(endpoints, options, resilience));
  const logger = (options.logger ?? pino({ level: 'silent' })).child({ lib: 'etcd-coord' });
  try {
    await probe(client, dialTimeoutMs, names);
  } catch (err) {
    client.close();
    throw err;
  }
  const coord = new Coordinator(client, { namespace, ttl, logger, resilience, endpoints: names, owner });
  coord.useTracing(await tracing);
  if (options.metrics) {
    try {
      await coord.enableMetrics(options.metrics);
    } catch (err) {
      await coord.close();
      throw new InvalidArgumentError((err as Error).message, { cause: err });
    }
  }
  return coord;
}

async function probe(client: Etcd3, dialTimeoutMs: number, names: string[]): Promise<void> {
  const until = Date.now() + dialTimeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      await withDeadline(client.maintenance.status({ deadline: until }), until);
      return;
    } catch (err) {
      const mapped = mapEtcdError(err, 'connect', names);
      if (!isTransientEtcdError(err) && !(mapped instanceof EtcdUnavailableError) && !isDialTimeout(err)) {
        throw mapped;
      }
      // Keep what the endpoint said; a later "breaker open" or our own timer says less.
      if (!last || (!isBrokenCircuitError(err) && !isDialTimeout(err))) last = err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const reason = last instanceof Error ? `; last error: ${last.message}` : '';
  throw new EtcdUnavailableError(
    `connect: no etcd endpoint answered within ${dialTimeoutMs} ms (endpoints: ${names.join(', ')})${reason}`,
    { cause: last },
  );
}

class DialTimeout extends Error {}
const isDialTimeout = (err: unknown) => err instanceof DialTimeout;

/** Rejects with a DialTimeout at `until` (epoch ms) unless `p` settles first. */
function withDeadline<T>(p: Promise<T>, until: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DialTimeout('dial timeout')), Math.max(1, until - Date.now()));
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

interface CoordinatorConfig {
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
  private readonly resilience: Resilience;
  private readonly keepAlive: KeepAliveStream;
  private readonly watchHub: WatchHub;
  private readonly sessions = new Set<Session>();
  private defaultSessionPromise: Promise<Session> | undefined;
  private closing: Promise<void> | undefined;
  private readonly closeController = new AbortController();
  private readonly reporter: Reporter;
  private tracing = Tracing.off;

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
    this.ctx = {
      client,
      kv: this.kv,
      namespace: this.namespace,
      owner: this.owner,
      resilience: this.resilience,
      watch: this.watchHub,
      logger: (component) => this.logger.child({ component }),
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
    this.assertOpen();
    const current = this.defaultSessionPromise;
    if (current) {
      return current.then(
        (s) => (s.isAlive ? s : this.replaceDefault(current, options.signal)),
        () => this.replaceDefault(current, options.signal),
      );
    }
    return this.replaceDefault(undefined, options.signal);
  }

  private async replaceDefault(seen: Promise<Session> | undefined, signal?: AbortSignal): Promise<Session> {
    if (this.defaultSessionPromise !== seen && this.defaultSessionPromise) return this.session({ signal });
    const p = this.newSession({ signal });
    this.defaultSessionPromise = p;
    p.catch(() => {
      if (this.defaultSessionPromise === p) this.defaultSessionPromise = undefined;
    });
    return p;
  }

  /** A new session with its own lease. It is closed (revoked) by {@link close} if still open. */
  async newSession(options: { ttl?: number; signal?: AbortSignal } = {}): Promise<Session> {
    this.assertOpen();
    const ttl = validateTtl(options.ttl ?? this.ttl, 'ttl');
    const session = await grantSession(
      {
        client: this.client,
        resilience: this.resilience,
        keepAlive: this.keepAlive,
        logger: this.logger.child({ component: 'session' }),
        emit: (e) => this.reporter.emit(e),
      },
      ttl,
      options.signal,
    );
    if (this.closed) {
      await session.close();
      throw new ClosedError('the coordinator was closed');
    }
    this.sessions.add(session);
    session.signal.addEventListener('abort', () => this.sessions.delete(session), { once: true });
    return session;
  }

  /**
   * A distributed mutex on `<namespace><name>/`, on the shared session unless
   * `options.session` is given. Nothing is written until `acquire()`.
   * @throws InvalidArgumentError for a bad name (synchronously).
   */
  mutex(name: string, options?: LockOptions): Mutex {
    this.assertOpen();
    return new Mutex(this.ctx, name, options);
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

  /** Health of every endpoint: reachable, latency, raft leader, revision, alarms. */
  async health(): Promise<EndpointHealth[]> {
    this.assertOpen();
    return Promise.all(this.endpoints.map((ep) => this.endpointHealth(ep)));
  }

  private async endpointHealth(endpoint: string): Promise<EndpointHealth> {
    const started = performance.now();
    const client = this.endpointClient(endpoint);
    const deadline = Date.now() + this.resilience.options.callTimeoutMs;
    try {
      const status = await client.maintenance.status({ deadline });
      const latencyMs = performance.now() - started;
      const alarm = await client.maintenance.alarm({ action: 'Get', memberID: 0, alarm: 'None' }, { deadline });
      const memberId = BigInt(status.header.member_id).toString(16);
      const leader = BigInt(status.leader).toString(16);
      return {
        endpoint,
        reachable: true,
        latencyMs,
        leader,
        memberId,
        isLeader: leader === memberId,
        revision: BigInt(status.header.revision),
        raftTerm: BigInt(status.raftTerm),
        dbSize: Number(status.dbSize),
        version: status.version,
        alarms: (alarm.alarms ?? []).map((a) => String(a.alarm)),
      };
    } catch (err) {
      return {
        endpoint,
        reachable: false,
        latencyMs: performance.now() - started,
        alarms: [],
        error: mapEtcdError(err, `health ${endpoint}`).message,
      };
    }
  }

  private readonly endpointClients = new Map<string, Etcd3>();
  private endpointClient(endpoint: string): Etcd3 {
    let c = this.endpointClients.get(endpoint);
    if (!c) {
      const opts = (this.client as unknown as { options: IOptions }).options;
      c = new Etcd3({ ...opts, hosts: [endpoint], faultHandling: { global: noop, host: () => noop } });
      this.endpointClients.set(endpoint, c);
    }
    return c;
  }

  /** Registers the library's metrics in a prom-client registry. @internal use `connect({ metrics })`. */
  async enableMetrics(registry: MetricsRegistry): Promise<void> {
    await this.reporter.enableMetrics(registry, {
      sessions: () => this.sessions.size,
      sessionsAtRisk: () => [...this.sessions].filter((s) => s.state === 'at-risk').length,
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
    await Promise.allSettled([...this.sessions].map((s) => s.close()));
    this.keepAlive.close();
    this.watchHub.close();
    for (const c of this.endpointClients.values()) c.close();
    this.client.close();
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
