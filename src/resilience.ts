/**
 * The cockatiel policies every etcd call goes through.
 *
 * - **Timeout**: every unary call carries a gRPC deadline of `callTimeoutMs`, with a
 *   plain timer just behind it as a guard for calls that never reach gRPC (it rejects
 *   with cockatiel's `TaskCancelledError`, as cockatiel's timeout did; it allocates no
 *   AbortController per call, since nothing could be aborted: the gRPC deadline ends the call).
 * - **Circuit breaker** per endpoint (etcd3's host slot): after `breaker.threshold`
 *   consecutive transient failures the endpoint is skipped; when every endpoint's breaker
 *   is open, calls fail fast with `EtcdUnavailableError`. After `breaker.halfOpenAfterMs`
 *   one trial call is let through, and a success closes the breaker.
 * - **Retry** with exponential backoff and decorrelated jitter, only for idempotent
 *   operations (reads, create-if-absent transactions on my own key, deletes guarded by a
 *   create revision, keepalives) and only for transient errors. etcd3's own blind global
 *   retry is replaced by one that only resends requests that never left (no connection
 *   to the endpoint picked), to the next endpoint.
 * @module
 */
import {
  type CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  type IPolicy,
  isBrokenCircuitError,
  noop,
  retry,
  TaskCancelledError,
} from 'cockatiel';
import { InvalidArgumentError, isTransientEtcdError, isUnsentEtcdError, mapEtcdError } from './errors.js';

/** Settings of the resilience policies; every field is optional. */
export interface PolicyOptions {
  /** Deadline of one etcd request in milliseconds. Default 5000. */
  callTimeoutMs?: number;
  /** Retry of idempotent requests after transient errors. */
  retry?: {
    /** Attempts in all, the first included. Default 4. */
    maxAttempts?: number;
    /** First backoff delay in ms. Default 50. */
    initialDelayMs?: number;
    /** Largest backoff delay in ms. Default 1000. */
    maxDelayMs?: number;
  };
  /** Per-endpoint circuit breaker. */
  breaker?: {
    /** Consecutive transient failures that open it. Default 3. */
    threshold?: number;
    /** How long it stays open before a trial request, in ms. Default 1000. */
    halfOpenAfterMs?: number;
  };
}

/** The policy settings in force, defaults filled in. */
export interface ResolvedPolicyOptions {
  callTimeoutMs: number;
  retry: { maxAttempts: number; initialDelayMs: number; maxDelayMs: number };
  breaker: { threshold: number; halfOpenAfterMs: number };
}

/** State of the circuit breakers over all endpoints. */
export type BreakerState = 'closed' | 'half-open' | 'open';

function positive(value: unknown, what: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new InvalidArgumentError(`policies.${what} must be a number >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** Fills in defaults and checks the settings. @throws InvalidArgumentError */
export function resolvePolicyOptions(p: PolicyOptions = {}): ResolvedPolicyOptions {
  return {
    callTimeoutMs: positive(p.callTimeoutMs, 'callTimeoutMs', 5000),
    retry: {
      maxAttempts: Math.floor(positive(p.retry?.maxAttempts, 'retry.maxAttempts', 4)),
      initialDelayMs: positive(p.retry?.initialDelayMs, 'retry.initialDelayMs', 50),
      maxDelayMs: positive(p.retry?.maxDelayMs, 'retry.maxDelayMs', 1000),
    },
    breaker: {
      threshold: Math.floor(positive(p.breaker?.threshold, 'breaker.threshold', 3)),
      halfOpenAfterMs: positive(p.breaker?.halfOpenAfterMs, 'breaker.halfOpenAfterMs', 1000),
    },
  };
}

/** Options of one call through {@link Resilience.run}. */
export interface RunOptions {
  /** Safe to send again after an ambiguous failure. Only these are retried. */
  idempotent: boolean;
  /** Abandons the call (and its retries); the call rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/** The policies of one coordinator. @internal */
export class Resilience {
  readonly options: ResolvedPolicyOptions;
  private readonly breakers = new Map<string, CircuitBreakerPolicy>();
  private readonly retryPolicy;
  private readonly guardMs: number;
  /**
   * etcd3's global slot: a request that never left (no connection to the endpoint it
   * picked, e.g. a dead cluster member) is sent to the next endpoint, idempotent or not.
   * Nothing else is retried there; see {@link run}.
   */
  readonly globalPolicy: IPolicy;

  constructor(
    options: PolicyOptions | undefined,
    private readonly endpoints: readonly string[],
  ) {
    this.options = resolvePolicyOptions(options);
    const o = this.options;
    this.guardMs = o.callTimeoutMs + 1000;
    this.retryPolicy = retry(handleWhen(isTransientEtcdError), {
      maxAttempts: o.retry.maxAttempts - 1,
      backoff: new ExponentialBackoff({ initialDelay: o.retry.initialDelayMs, maxDelay: o.retry.maxDelayMs }),
    });
    this.globalPolicy =
      endpoints.length > 1 ? retry(handleWhen(isUnsentEtcdError), { maxAttempts: endpoints.length - 1 }) : noop;
  }

  /** etcd3's per-host fault-handling slot: one breaker per endpoint. */
  readonly hostPolicy = (host: string): CircuitBreakerPolicy => {
    const b = circuitBreaker(
      handleWhen((e) => isTransientEtcdError(e) && !isBrokenCircuitError(e)),
      {
        halfOpenAfter: this.options.breaker.halfOpenAfterMs,
        breaker: new ConsecutiveBreaker(this.options.breaker.threshold),
      },
    );
    this.breakers.set(host, b);
    return b;
  };

  /** 'open' when every endpoint's breaker is open, 'closed' when all are closed. */
  get breakerState(): BreakerState {
    const states = [...this.breakers.values()].map((b) => b.state);
    if (states.length === 0 || states.every((s) => s === CircuitState.Closed)) return 'closed';
    if (states.every((s) => s === CircuitState.Open || s === CircuitState.Isolated)) return 'open';
    return 'half-open';
  }

  /** gRPC call options: a deadline on every unary call, none on streams. */
  readonly callOptions = (ctx: { isStream: boolean }) =>
    ctx.isStream ? {} : { deadline: Date.now() + this.options.callTimeoutMs };

  /**
   * Runs one etcd operation through the policies and maps its errors.
   * @param what - names the operation in error messages.
   */
  async run<T>(what: string, fn: () => Promise<T>, opts: RunOptions): Promise<T> {
    const { signal } = opts;
    signal?.throwIfAborted();
    const once = () => this.guarded(fn);
    try {
      return await (opts.idempotent ? this.retryPolicy.execute(once, signal) : once());
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw mapEtcdError(err, what, this.endpoints);
    }
  }

  /** Runs `fn`, rejecting with `TaskCancelledError` if it has not settled `guardMs` after the start. */
  private guarded<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let started: Promise<T>;
      try {
        started = fn();
      } catch (err) {
        reject(err); // a synchronous throw: no timer to leave behind
        return;
      }
      const timer = setTimeout(
        () => reject(new TaskCancelledError(`Operation timed out after ${this.guardMs}ms`)),
        this.guardMs,
      );
      started.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (err) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }
}
