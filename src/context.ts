/**
 * What the primitives (locks, elections, registry) get from their coordinator. They
 * import this type, never the coordinator itself, so nothing imports upward.
 * @internal
 * @module
 */
import type { Etcd3, Namespace } from 'etcd3';
import type { Logger } from 'pino';
import type { CoordEvent } from './events.js';
import type { Session } from './lease/session.js';
import type { Resilience } from './resilience.js';
import type { SpanAttributes, SpanName, TraceSpan } from './telemetry.js';
import type { WatchHub } from './watch.js';

/** @internal */
export interface CoordContext {
  /** The root etcd3 client (keys are full keys, namespace included). */
  readonly client: Etcd3;
  /** etcd3 namespace scoped to `namespace` (application data, `txn()` builders). */
  readonly kv: Namespace;
  /** Key prefix of everything, '' or ending with '/'. */
  readonly namespace: string;
  /** The default owner of locks (`connect({ owner })`, else `<hostname>:<pid>`), for owner records. */
  readonly owner: string;
  readonly resilience: Resilience;
  readonly watch: WatchHub;
  /** A child logger for a component. */
  logger(component: string): Logger;
  /** The shared default session if it is granted and alive now (no wait); else undefined: use {@link defaultSession}. */
  sharedSessionNow(): Session | undefined;
  /** The shared default session (a fresh one after loss). */
  defaultSession(signal?: AbortSignal): Promise<Session>;
  /** A new session with its own lease. */
  newSession(ttl?: number, signal?: AbortSignal): Promise<Session>;
  /** Throws ClosedError once the coordinator is closed. */
  assertOpen(): void;
  /** Aborted (with ClosedError) when the coordinator closes: observers and caches end then. */
  readonly closed: AbortSignal;
  /** Reports an event to the logs and metrics. Never throws. */
  emit(event: CoordEvent): void;
  /**
   * Starts an OpenTelemetry span when `@opentelemetry/api` is installed and a recording
   * SDK is registered; undefined otherwise, so callers write `span?.end()`. Never throws.
   */
  trace(name: SpanName, attributes: SpanAttributes): TraceSpan | undefined;
}
