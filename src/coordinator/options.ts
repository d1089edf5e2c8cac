/**
 * The options of `connect()`, their checks (synchronous, before any network traffic),
 * and the etcd3 client options they become.
 * @module
 */
import { readFileSync } from 'node:fs';
import type { IOptions } from 'etcd3';
import type { Logger } from 'pino';
import { InvalidArgumentError } from '../errors.js';
import { type Endpoint, parseEndpoint } from '../keys.js';
import type { MetricsRegistry } from '../metrics.js';
import type { PolicyOptions, Resilience } from '../resilience.js';

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
