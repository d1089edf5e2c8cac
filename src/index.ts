/**
 * etcd-coord: distributed coordination on etcd v3.
 * @packageDocumentation
 */

export { connect } from './coordinator/connect.js';
export { Coordinator } from './coordinator/coordinator.js';
export type { Diagnostics } from './coordinator/diagnostics.js';
export type { EndpointHealth } from './coordinator/health.js';
export type { ConnectOptions, TlsOptions } from './coordinator/options.js';
export type { CampaignOptions, ElectionOptions } from './election/election.js';
export { Election } from './election/election.js';
export type { LeaderInfo } from './election/leader.js';
export type { BackoffReason, LeaderJobOptions, LeaderJobState, LeaderTask } from './election/leader-job.js';
export { LeaderJob } from './election/leader-job.js';
export { Leadership } from './election/leadership.js';
export type { LeaderUpdate } from './election/observe.js';
export {
  AuthenticationError,
  ClosedError,
  ConflictError,
  CoordinationError,
  EtcdUnavailableError,
  InvalidArgumentError,
  isAuthenticationError,
  isClosedError,
  isConflictError,
  isCoordinationError,
  isEtcdUnavailableError,
  isInvalidArgumentError,
  isLockLostError,
  isLockTimeoutError,
  isNotLeaderError,
  isPermissionDeniedError,
  isSessionLostError,
  LockLostError,
  LockTimeoutError,
  NotLeaderError,
  PermissionDeniedError,
  SessionLostError,
} from './errors.js';
export type { CoordEvent, LockKind } from './events.js';
export type {
  Contender,
  InspectOptions,
  PartitionMember,
  PartitionOwner,
  PartitionView,
  QueueView,
  ServiceView,
  Snapshot,
} from './inspect/types.js';
export { MIN_TTL_SECONDS } from './keys.js';
export type { SessionState, SessionStatus } from './lease/session.js';
export { deadlineMarginMs, Session } from './lease/session.js';
export type { AcquireOptions, LockOptions } from './lock/contend.js';
export type { LockHolder } from './lock/holders.js';
export type { Permit } from './lock/lock.js';
export { Lock } from './lock/lock.js';
export type { MultiLockOptions } from './lock/multi-lock.js';
export { MAX_MULTI_LOCK_NAMES, MultiLock } from './lock/multi-lock.js';
export type { MutexOptions } from './lock/mutex.js';
export { MAX_LOCK_DELAY_MS, Mutex } from './lock/mutex.js';
export type { RWLockHolders } from './lock/rwlock.js';
export { RWLock } from './lock/rwlock.js';
export { MAX_SEMAPHORE_LIMIT, Semaphore } from './lock/semaphore.js';
export type { MetricsRegistry } from './metrics.js';
export { PartitionGroup } from './partition/group.js';
export type { PartitionJobOptions, PartitionTask } from './partition/job.js';
export { PartitionJob } from './partition/job.js';
export { Ownership } from './partition/ownership.js';
export type { PartitionOptions } from './partition/spec.js';
export { MAX_PARTITIONS } from './partition/spec.js';
export { Barrier } from './recipes/barrier.js';
export { DoubleBarrier, MAX_DOUBLE_BARRIER_COUNT } from './recipes/double-barrier.js';
export type { BarrierOptions, BarrierWaitOptions } from './recipes/options.js';
export { ServiceCache } from './registry/cache.js';
export { isNoInstanceError, NoInstanceError } from './registry/errors.js';
export { Registration } from './registry/registration.js';
export { ServiceRegistry } from './registry/registry.js';
export type {
  CallOptions,
  DiscoverOptions,
  InstancePatch,
  InstanceStatus,
  PickStrategy,
  RegisterInput,
  RegisterOptions,
  RegistrationState,
  RegistrationStatus,
  ServiceChange,
  ServiceInstance,
} from './registry/types.js';
export { PICK_STRATEGIES } from './registry/types.js';
export type { BreakerState, PolicyOptions } from './resilience.js';
