// The soak's table: per profile, what ran, the failovers nobody asked for, the writes that failed,
// and correctness; a false failover is spelled out under the table, a failed run gives its reason.
import { failureCounts, renderSoakMarkdown, soakRow, SoakResults, SoakRun } from '../../bench/soak-report';

const quiet: SoakRun = {
  profile: 'default',
  ok: true,
  startedAt: '2026-12-02T07:00:00Z',
  minutes: 10,
  etcdPauses: [
    { at: 20_000, node: 'pg-1', ms: 1_000 },
    { at: 75_000, node: 'pg-0', ms: 1_950 },
  ],
  promotions: [],
  leaders: ['pg-0'],
  demotionLines: [],
  attempted: 6000,
  acked: 5998,
  failed: 2,
  longestGapMs: 2_340,
  lost: 0,
  overlappingWriteWindows: 0,
  healthyAtEnd: true,
};

const flapping: SoakRun = {
  ...quiet,
  profile: 'fast',
  promotions: [[3, 50331816, 'no recovery target specified', '2026-12-02T07:31:02+00:00', 'pg-2']],
  leaders: ['pg-0', 'pg-2'],
  demotionLines: ['2026-12-02 07:31:00 INFO: Demoting self (immediate-nolock)'],
  failed: 80,
  longestGapMs: 9_100,
  healthyAtEnd: false,
};

const results = (runs: SoakRun[], complete = true): SoakResults => ({
  command: 'npm run soak -- --minutes 10 --profiles default,fast',
  startedAt: '2026-12-02T07:00:00Z',
  complete,
  stress: 'stress-ng --cpu 0',
  environment: {},
  timings: {},
  runs,
});

describe('the soak report', () => {
  test('a quiet run: its pauses with their range, no failover, the failed writes out of those tried, the longest gap, correctness', () => {
    expect(soakRow(quiet)).toBe('| DEFAULT | 10 min | 2 (1.0–1.9 s) | 0 | 0 | 2 of 6000 | 2.3 s | 0 lost, 0 overlaps |');
  });

  test('a run that failed over is counted in the row and spelled out under the table; unhealthy at the end is said', () => {
    const markdown = renderSoakMarkdown(results([quiet, flapping]));
    expect(markdown).toContain('| FAST | 10 min | 2 (1.0–1.9 s) | 1 | 1 | 80 of 6000 | 9.1 s | 0 lost, 0 overlaps, unhealthy at the end |');
    expect(markdown).toContain('FAST failed over falsely: from timeline 3 at 2026-12-02T07:31:02+00:00 to pg-2.');
    expect(markdown).not.toContain('DEFAULT failed over falsely');
    expect(markdown.startsWith('Soak without faults: stress-ng --cpu 0. Command: `npm run soak -- --minutes 10 --profiles default,fast`.\n')).toBe(true);
  });

  test('a run that could not be measured gives its reason on one line, pipes escaped; an interrupted soak says so', () => {
    const failed: SoakRun = { profile: 'stock', ok: false, error: 'no leader | within 60 s', startedAt: '2026-12-02T07:00:00Z' };
    expect(soakRow(failed)).toBe('| Stock baseline | failed: no leader \\| within 60 s | | | | | | |');
    expect(renderSoakMarkdown(results([failed], false))).toContain('(interrupted: the runs it finished)');
  });

  test("failed writes are grouped by their error with numbers blanked, and listed under the table, the most frequent first", () => {
    const failures = failureCounts(['timeout after 1000 ms', 'timeout after 1002 ms', 'connect ECONNREFUSED 10.213.77.2:5000']);
    expect(failures).toEqual({ 'timeout after N ms': 2, 'connect ECONNREFUSED N:N': 1 });
    expect(renderSoakMarkdown(results([{ ...quiet, failures }]))).toContain("DEFAULT's failed writes: 2 × timeout after N ms; 1 × connect ECONNREFUSED N:N.");
  });

  test("a run whose demotion lines were not recorded says 'not counted', not 0; the record's notes are under the table", () => {
    const uncounted: SoakRun = { ...quiet, demotionLines: undefined };
    expect(soakRow(uncounted)).toBe('| DEFAULT | 10 min | 2 (1.0–1.9 s) | 0 | not counted | 2 of 6000 | 2.3 s | 0 lost, 0 overlaps |');
    expect(renderSoakMarkdown({ ...results([uncounted]), notes: ['the column was lost'] })).toContain('\nNote: the column was lost\n');
  });

  test('a run without pauses shows 0 and no range', () => {
    expect(soakRow({ ...quiet, etcdPauses: [] })).toContain('| 10 min | 0 | 0 |');
  });
});
