/**
 * Public types of the service registry: what an instance is, how it is registered, and
 * what a registration and a cache report.
 * @module
 */

/** Whether an instance takes new work. `pick()` skips `'draining'` instances. */
export type InstanceStatus = 'serving' | 'draining';

/** One registered instance of a service, as stored in etcd (JSON) and seen by discovery. */
export interface ServiceInstance {
  /** The service name (a single key segment). */
  readonly service: string;
  /** The instance id, unique within the service (a single key segment). */
  readonly id: string;
  /** Host name or IP address where the instance is reached. */
  readonly address: string;
  /** TCP port, 1-65535. */
  readonly port: number;
  /** Free-form string key/value pairs (version, zone, protocol...). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Relative weight for the `'weighted'` pick strategy; a positive number, default 1. */
  readonly weight: number;
  /** `'serving'` (default) or `'draining'`. */
  readonly status: InstanceStatus;
  /** ISO 8601 time of the first registration (kept across updates and re-registrations). */
  readonly registeredAt: string;
  /** The full etcd key: `<namespace>services/<service>/<id>`. */
  readonly key: string;
  /** The lease the key is attached to, lower-case hex. */
  readonly leaseId: string;
  /** The key's mod revision: the etcd revision this version of the instance was written at. */
  readonly revision: bigint;
}

/** What {@link ServiceRegistry.register} announces. */
export interface RegisterInput {
  /** Service name: letters, digits and `. _ : @ = + -`, no `/`. */
  service: string;
  /** Instance id, same characters as `service`. Default: a random UUID. */
  id?: string;
  /** Host name or IP address (non-empty, no whitespace). */
  address: string;
  /** TCP port, an integer from 1 to 65535. */
  port: number;
  /** String-valued key/value pairs. Default `{}`. */
  metadata?: Record<string, string>;
  /** A positive finite number. Default 1. */
  weight?: number;
  /** Default `'serving'`. */
  status?: InstanceStatus;
}

/** Options of {@link ServiceRegistry.register}. */
export interface RegisterOptions {
  /**
   * TTL in seconds of the registration's own lease (default: the coordinator's `ttl`).
   * Each registration has its own session, so its TTL can differ from the locks'; a
   * crashed process disappears from discovery within this TTL.
   */
  ttl?: number;
  /**
   * Puts the registration on the coordinator's shared session (the one locks and
   * elections use by default) instead of a lease of its own: `register()` is then one
   * round trip (no LeaseGrant), and every registration of the process shares one
   * keepalive. The instance lives and dies with that session: when it is lost, the
   * registration re-registers on the next shared session; `deregister()` deletes the
   * key and leaves the session alone. Cannot be combined with `ttl` (the shared session
   * has the coordinator's TTL).
   */
  sharedSession?: boolean;
  /**
   * Aborting it before `register()` resolves rejects with `signal.reason` and leaves
   * nothing behind; aborting it later deregisters (the registration's lifetime).
   */
  signal?: AbortSignal;
}

/** What {@link Registration.update} may change. */
export interface InstancePatch {
  /** Replaces the whole metadata object. */
  metadata?: Record<string, string>;
  /** The new weight, a positive finite number. */
  weight?: number;
  /** The new status, e.g. `'draining'` to stop being picked. */
  status?: InstanceStatus;
}

/** Where a registration stands. */
export type RegistrationState = 'registered' | 'lost' | 'deregistered';

/** A registration's state changes, as {@link Registration.status} reports them. */
export type RegistrationStatus =
  /** The key is in etcd on a live lease (the current state when `status()` starts). */
  | {
      /** Registered. */
      readonly type: 'registered';
      /** The lease the key is attached to, lower-case hex. */
      readonly leaseId: string;
    }
  /** The lease was lost or the key vanished; re-registration is under way. */
  | {
      /** Lost; re-registering. */
      readonly type: 'lost';
      /** Why: the session's loss reason, or the key was deleted or overwritten. */
      readonly error: Error;
    }
  /** Registered again under the same key with a fresh lease after `attempts` tries. */
  | {
      /** Registered again. */
      readonly type: 're-registered';
      /** The new lease the key is attached to, lower-case hex. */
      readonly leaseId: string;
      /** How many tries re-registering took (1 or more). */
      readonly attempts: number;
    }
  /** Deregistered (by `deregister()`, the register signal, or the coordinator closing). Last event. */
  | {
      /** Deregistered. */
      readonly type: 'deregistered';
    };

/** One change seen by a {@link ServiceCache}. */
export interface ServiceChange {
  /** `'up'`: a new instance; `'down'`: it is gone; `'update'`: its value changed. */
  readonly type: 'up' | 'down' | 'update';
  /** The instance (for `'down'`, its last known value). */
  readonly instance: ServiceInstance;
}

/**
 * How {@link ServiceCache.pick} and {@link ServiceCache.call} choose: `'round-robin'`,
 * `'random'`, `'weighted'` (by `weight`), `'sticky'`, or `'least-request'` (power of two
 * choices over the calls in flight through {@link ServiceCache.call}).
 */
export type PickStrategy = 'round-robin' | 'random' | 'weighted' | 'sticky' | 'least-request';

/** The pick strategies, in the order error messages list them. */
export const PICK_STRATEGIES: readonly PickStrategy[] = [
  'round-robin',
  'random',
  'weighted',
  'sticky',
  'least-request',
];

/** Options of {@link ServiceCache.call}. */
export interface CallOptions {
  /** How the instance is picked. Default `'least-request'`. */
  strategy?: PickStrategy;
  /**
   * Aborted before the call starts: `call()` rejects with `signal.reason` and calls
   * nothing. Aborted later: the signal passed to `fn` aborts with the same reason.
   */
  signal?: AbortSignal;
}

/** Options of {@link ServiceRegistry.discover}. */
export interface DiscoverOptions {
  /** Aborting it before `discover()` resolves rejects with `signal.reason`; later, it closes the cache. */
  signal?: AbortSignal;
  /**
   * How `noteError()` marks an instance down (a per-instance circuit breaker, like
   * Curator's DownInstancePolicy).
   */
  downPolicy?: {
    /** Consecutive errors that mark an instance down. Default 1. */
    errorThreshold?: number;
    /** How long it stays down before it is picked again (half-open), in ms. Default 10000. */
    halfOpenAfterMs?: number;
  };
}
