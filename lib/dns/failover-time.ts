import { Duration } from 'aws-cdk-lib';
import { HealthCheckProtocol } from './health-check-protocol';

/**
 * Allowance for a health check status change to reach Route 53's name servers. Route 53 does not
 * publish a bound; this is a deliberate margin, not a measurement.
 */
export const STATUS_PROPAGATION_ALLOWANCE = Duration.seconds(30);

/** TTL Route 53 gives alias records that point at AWS resources (load balancers, CloudFront). */
export const ALIAS_RECORD_TTL = Duration.seconds(60);

/** The parts of the worst-case failover time, in the order they happen. */
export interface FailoverTimeBreakdown {
  /** failureThreshold x (interval + per-check timeout): until checkers agree the primary is down. */
  readonly detection: Duration;
  /** Until the status change is served by Route 53's name servers. */
  readonly propagation: Duration;
  /** Until resolvers drop the cached answer. */
  readonly ttl: Duration;
  /** The sum of the three. */
  readonly total: Duration;
}

/** The inputs of the failover-time model. */
export interface FailoverTimeInputs {
  readonly protocol: HealthCheckProtocol;
  readonly stringMatch: boolean;
  readonly interval: Duration;
  readonly failureThreshold: number;
  readonly ttl: Duration;
}

/** Worst-case time from the primary failing to clients resolving the secondary. */
export function worstCaseFailoverTime(inputs: FailoverTimeInputs): FailoverTimeBreakdown {
  const perCheck = inputs.interval.toSeconds() + inputs.protocol.checkTimeout(inputs.stringMatch).toSeconds();
  const detection = Duration.seconds(inputs.failureThreshold * perCheck);
  const total = Duration.seconds(detection.toSeconds() + STATUS_PROPAGATION_ALLOWANCE.toSeconds() + inputs.ttl.toSeconds());
  return { detection, propagation: STATUS_PROPAGATION_ALLOWANCE, ttl: inputs.ttl, total };
}

/** "108 s detection + 30 s propagation + 60 s TTL = 198 s" */
export function describeFailoverTime(b: FailoverTimeBreakdown): string {
  return (
    `${b.detection.toSeconds()} s detection + ${b.propagation.toSeconds()} s propagation allowance + ` +
    `${b.ttl.toSeconds()} s TTL = ${b.total.toSeconds()} s`
  );
}
