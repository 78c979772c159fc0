import { found, giveUp, notYet, poll } from '../../lib/ops/poll';

describe('poll', () => {
  test('returns the value of the first look that is done', async () => {
    let looks = 0;
    const value = await poll('three looks', async () => (++looks < 3 ? notYet(`look ${looks}`) : found(looks)), { timeoutMs: 5_000, intervalMs: 1 });
    expect(value).toBe(3);
  });

  test('times out naming what it awaited and the last reason', async () => {
    await expect(poll('a leader', async () => notYet('no leader'), { timeoutMs: 30, intervalMs: 5 })).rejects.toThrow(
      /^timed out after [0-9.]+ s waiting for a leader \(last: no leader\)$/,
    );
  });

  test('a look that throws counts as not yet', async () => {
    let looks = 0;
    const value = await poll(
      'a flaky look',
      async () => {
        if (++looks === 1) throw new Error('connection refused');
        return found('ok');
      },
      { timeoutMs: 5_000, intervalMs: 1 },
    );
    expect(value).toBe('ok');
    expect(looks).toBe(2);
  });

  test('a look that gives up ends the wait at once with its reason, not a timeout', async () => {
    let looks = 0;
    const waited = poll(
      'a restore',
      async () => (++looks === 2 ? giveUp('the target is after the newest WAL') : notYet('recovering')),
      { timeoutMs: 60_000, intervalMs: 1 },
    );
    await expect(waited).rejects.toThrow(/^the target is after the newest WAL$/);
    // No look after the one that gave up, though the timeout was a minute away.
    expect(looks).toBe(2);
  });
});
