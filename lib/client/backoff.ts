/**
 * Exponential backoff with full jitter: the delay before attempt `n + 1` is uniform in
 * [0, min(maxDelay, baseDelay * 2^(n-1))]. Full jitter spreads the clients that a failover
 * disconnects at the same instant, so they do not reconnect in waves.
 */
export interface BackoffPolicy {
  /** Cap of the delay after the first failed attempt, milliseconds. */
  readonly baseDelayMs: number;
  /** Largest delay, milliseconds. */
  readonly maxDelayMs: number;
}

/** The upper bound of the delay after the `failedAttempt`-th failed attempt (1-based). */
export function backoffCeiling(failedAttempt: number, policy: BackoffPolicy): number {
  const exponent = Math.min(Math.max(failedAttempt - 1, 0), 30);
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
}

/**
 * The delay after the `failedAttempt`-th failed attempt: uniform in [0, ceiling], whole
 * milliseconds. `random` returns a number in [0, 1) (Math.random by default).
 */
export function backoffDelay(failedAttempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(r * backoffCeiling(failedAttempt, policy));
}
