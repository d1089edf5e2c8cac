/**
 * OpenTelemetry spans. `@opentelemetry/api` is an optional peer dependency: `connect()`
 * loads it with a dynamic import, and when it is not installed tracing is simply off.
 * Spans go through the global tracer provider (tracer `etcd-coord`, the package
 * version), so they appear once the application registers an SDK, before or after
 * `connect()`. While no SDK is registered (or a sampler drops the span) the API hands out
 * non-recording spans: {@link Tracing.start} then returns undefined and the caller does
 * nothing more, so an untraced acquire pays one no-op `startSpan()`.
 *
 * Spans (attributes under `etcd_coord.`):
 * - `lock.acquire` (mutex, semaphore, rwlock read/write) and `election.campaign`: the
 *   whole call including the wait; `name`, `kind`, `wait` (false for `try*()`),
 *   `position` (keys ahead in the queue at join), `token` and `key` when acquired,
 *   `acquired` (false when a `try*()` found it taken). Error status when it rejects.
 * - `lock.hold` and `election.lead`: from the moment it is held to its release or
 *   resignation; a loss ends it with a `lost` event (`etcd_coord.reason`) and error status.
 * - `registry.register`: `register()`, with `service`, `instance_id`, `lease`.
 * @module
 */
import { readFileSync } from 'node:fs';

type OtelApi = typeof import('@opentelemetry/api');
type OtelSpan = import('@opentelemetry/api').Span;
type OtelTracer = import('@opentelemetry/api').Tracer;

/** The tracer's name (the instrumentation scope). */
export const TRACER_NAME = 'etcd-coord';

/** The spans the library creates. @internal */
export type SpanName = 'lock.acquire' | 'lock.hold' | 'election.campaign' | 'election.lead' | 'registry.register';

/** Span attributes (keys without the `etcd_coord.` prefix, which is added). @internal */
export type SpanAttributes = Record<string, string | number | boolean>;

/** A recording span, as the library's code sees it. Every method is a no-op once it ended. @internal */
export interface TraceSpan {
  /** Sets attributes. */
  set(attributes: SpanAttributes): void;
  /**
   * Attributes that arrive later (a background read): the span is exported only once
   * they did (or failed), with the end time of the moment it was ended.
   */
  setLater(attributes: Promise<SpanAttributes | undefined>): void;
  /** Ends the span with status unset (success), setting `attributes` first. */
  end(attributes?: SpanAttributes): void;
  /** Ends the span with error status and the error recorded as an exception event. */
  fail(error: unknown): void;
  /** Ends a hold: a `lost` event with the reason, error status. */
  lose(reason: unknown): void;
}

const PREFIX = 'etcd_coord.';

function prefixed(attributes: SpanAttributes): SpanAttributes {
  const out: SpanAttributes = {};
  for (const k in attributes) out[PREFIX + k] = attributes[k];
  return out;
}

function message(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

/** Wraps a recording span: ends it once, and never lets an SDK error reach the caller. */
class LiveSpan implements TraceSpan {
  private ended = false;
  private pending: Promise<unknown> | undefined;

  constructor(
    private readonly api: OtelApi,
    private readonly span: OtelSpan,
  ) {}

  set(attributes: SpanAttributes): void {
    if (!this.ended) this.safely(() => this.span.setAttributes(prefixed(attributes)));
  }

  setLater(attributes: Promise<SpanAttributes | undefined>): void {
    if (this.ended) return;
    const apply = attributes.then(
      (a) => a && this.safely(() => this.span.setAttributes(prefixed(a))),
      () => undefined,
    );
    this.pending = this.pending ? Promise.all([this.pending, apply]) : apply;
  }

  end(attributes?: SpanAttributes): void {
    this.finish(() => {
      if (attributes) this.span.setAttributes(prefixed(attributes));
    });
  }

  fail(error: unknown): void {
    this.finish(() => {
      if (error instanceof Error) this.span.recordException(error);
      this.span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: message(error) });
    });
  }

  lose(reason: unknown): void {
    this.finish(() => {
      this.span.addEvent('lost', { [`${PREFIX}reason`]: message(reason) });
      this.span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: message(reason) });
    });
  }

  private finish(before: () => void): void {
    if (this.ended) return;
    this.ended = true;
    this.safely(before);
    const { pending } = this;
    if (!pending) {
      this.safely(() => this.span.end());
      return;
    }
    const at = performance.now(); // the API takes a performance.now() value as an end time
    void pending.then(() => this.safely(() => this.span.end(at)));
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch {
      // a faulty SDK must not break a lock
    }
  }
}

let loading: Promise<OtelApi | undefined> | undefined;

/** Imports `@opentelemetry/api` once per process; undefined when it is not installed. */
function loadApi(): Promise<OtelApi | undefined> {
  loading ??= import('@opentelemetry/api').then(
    (m) => ((m as { trace?: unknown }).trace ? m : (m as unknown as { default: OtelApi }).default),
    () => undefined,
  );
  return loading;
}

function packageVersion(): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version;
  } catch {
    return undefined;
  }
}

/** Starts spans through the global tracer provider, or nothing when tracing is off. @internal */
export class Tracing {
  /** Tracing off: `@opentelemetry/api` is not installed. */
  static readonly off = new Tracing(undefined, undefined);

  private constructor(
    private readonly api: OtelApi | undefined,
    private readonly tracer: OtelTracer | undefined,
  ) {}

  /** Loads `@opentelemetry/api` if it is installed (once per process). Never rejects. */
  static async load(): Promise<Tracing> {
    const api = await loadApi();
    if (!api?.trace) return Tracing.off;
    return new Tracing(api, api.trace.getTracer(TRACER_NAME, packageVersion()));
  }

  /** Whether `@opentelemetry/api` was found. */
  get available(): boolean {
    return this.tracer !== undefined;
  }

  /**
   * Starts a span (a child of the caller's active context) when a recording SDK is
   * registered; undefined otherwise.
   */
  start(name: SpanName, attributes: SpanAttributes): TraceSpan | undefined {
    const { tracer, api } = this;
    if (!tracer || !api) return undefined;
    try {
      // The attributes are set only on a recording span: naming them costs more than a no-op span.
      const span = tracer.startSpan(name);
      if (!span.isRecording()) return undefined;
      span.setAttributes(prefixed(attributes));
      return new LiveSpan(api, span);
    } catch {
      return undefined; // a faulty SDK must not break a lock
    }
  }
}
