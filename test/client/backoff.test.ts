import { backoffCeiling, backoffDelay } from '../../lib/client';

const policy = { baseDelayMs: 100, maxDelayMs: 5000 };

describe('exponential backoff with full jitter', () => {
  test('the ceiling doubles from baseDelay with each failed attempt, up to maxDelay', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 50].map((n) => backoffCeiling(n, policy))).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  });

  test('the delay is within [0, ceiling] at both ends of the random range', () => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      const ceiling = backoffCeiling(attempt, policy);
      expect(backoffDelay(attempt, policy, () => 0)).toBe(0);
      const top = backoffDelay(attempt, policy, () => 0.999999);
      expect(top).toBeLessThanOrEqual(ceiling);
      expect(top).toBeGreaterThanOrEqual(ceiling - 1);
    }
  });

  test('full jitter: delays spread over the whole range, not around the ceiling', () => {
    const delays = Array.from({ length: 2000 }, () => backoffDelay(4, policy));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(800);
    const low = delays.filter((d) => d < 200).length / delays.length;
    const high = delays.filter((d) => d >= 600).length / delays.length;
    // Uniform: about a quarter in each quarter of [0, 800].
    expect(low).toBeGreaterThan(0.18);
    expect(high).toBeGreaterThan(0.18);
  });

  test('a zero base delay retries at once', () => {
    expect(backoffDelay(5, { baseDelayMs: 0, maxDelayMs: 0 })).toBe(0);
  });

  test('a huge attempt number does not overflow', () => {
    expect(backoffCeiling(10_000, policy)).toBe(5000);
    expect(Number.isFinite(backoffDelay(10_000, policy))).toBe(true);
  });
});
