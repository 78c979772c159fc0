export * from './failover-pool';
export { backoffCeiling, backoffDelay, type BackoffPolicy } from './backoff';
export {
  classifyError,
  decideRetry,
  FailoverPoolError,
  sqlState,
  type FailoverPoolErrorDetails,
  type FailureKind,
  type FailurePhase,
  type GiveUpReason,
  type RetryContext,
  type RetryDecision,
} from './errors';
export {
  DEFAULTS,
  FailoverPoolOptionsError,
  type DurationLike,
  type EndpointRole,
  type FailoverDetectedEvent,
  type FailoverPoolHooks,
  type FailoverPoolOptions,
  type RecoveredEvent,
  type RetryEvent,
} from './options';
