import type { ClusterTiming } from '../patroni/config/spec';
import { DEFAULT_TIMING, FAST_TIMING, STOCK_BASELINE_TIMING, validateTiming } from '../patroni/config/timing-profiles';

/**
 * The timing profiles by the names the CLI takes. The numbers live in
 * lib/patroni/config/timing-profiles.ts, shared with PatroniCluster: what is rehearsed is what is
 * deployed.
 */
export type TimingProfileName = 'default' | 'fast' | 'stock';

export const TIMING_PROFILES: Readonly<Record<TimingProfileName, ClusterTiming>> = {
  /** Patroni's defaults (ttl 30, loop_wait 10, retry_timeout 10), HAProxy inter 1s fall 2 rise 1. */
  default: DEFAULT_TIMING,
  /** Node-loss failover aimed at under 10 s (ttl 7). */
  fast: FAST_TIMING,
  /** Patroni's and HAProxy's stock settings (inter 3s fall 3 rise 2): the benchmark's baseline. */
  stock: STOCK_BASELINE_TIMING,
};

export function isTimingProfileName(value: string): value is TimingProfileName {
  return Object.prototype.hasOwnProperty.call(TIMING_PROFILES, value);
}

/** Throws when a custom timing is not one Patroni and etcd can run safely (see validateTiming). */
export function checkTiming(timing: ClusterTiming): void {
  validateTiming(timing);
}
