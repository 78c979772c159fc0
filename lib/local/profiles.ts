import type { ClusterTiming } from '../patroni/config/spec';

/**
 * The timing profiles the local cluster boots with. Kept free of CDK so that the construct's
 * `PatroniTiming` and the benchmark can share the very same numbers.
 *
 * Patroni 3.0.2 does not check `loop_wait + 2 * retry_timeout <= ttl`; every profile here does
 * (see `checkTiming`).
 */
export type TimingProfileName = 'default' | 'fast' | 'stock';

export const TIMING_PROFILES: Readonly<Record<TimingProfileName, ClusterTiming>> = {
  /** Patroni's own defaults, with the HAProxy checks of the design's prototype. */
  default: {
    ttlSeconds: 30,
    loopWaitSeconds: 10,
    retryTimeoutSeconds: 10,
    haproxyCheckIntervalMs: 1000,
    haproxyFall: 2,
    haproxyRise: 1,
    etcdHeartbeatMs: 100,
    etcdElectionTimeoutMs: 1000,
  },
  /**
   * Node-loss failover under 10 s: the leader key outlives its holder by at most ttl (8 s), the
   * replicas look every loop_wait (1 s), and HAProxy moves after rise 1 x 500 ms.
   * 1 + 2 x 3 = 7 <= 8.
   */
  fast: {
    ttlSeconds: 8,
    loopWaitSeconds: 1,
    retryTimeoutSeconds: 3,
    haproxyCheckIntervalMs: 500,
    haproxyFall: 2,
    haproxyRise: 1,
    etcdHeartbeatMs: 100,
    etcdElectionTimeoutMs: 1000,
  },
  /** Patroni's defaults and its documentation's HAProxy checks: the benchmark's baseline. */
  stock: {
    ttlSeconds: 30,
    loopWaitSeconds: 10,
    retryTimeoutSeconds: 10,
    haproxyCheckIntervalMs: 3000,
    haproxyFall: 3,
    haproxyRise: 2,
    etcdHeartbeatMs: 100,
    etcdElectionTimeoutMs: 1000,
  },
};

export function isTimingProfileName(value: string): value is TimingProfileName {
  return Object.prototype.hasOwnProperty.call(TIMING_PROFILES, value);
}

/** Throws when a timing breaks Patroni's rule loop_wait + 2 * retry_timeout <= ttl. */
export function checkTiming(timing: ClusterTiming): void {
  const { ttlSeconds, loopWaitSeconds, retryTimeoutSeconds } = timing;
  if (loopWaitSeconds + 2 * retryTimeoutSeconds > ttlSeconds) {
    throw new Error(
      `timing: loop_wait + 2 * retry_timeout must be at most ttl, got ${loopWaitSeconds} + 2 * ${retryTimeoutSeconds} > ${ttlSeconds}`,
    );
  }
}
