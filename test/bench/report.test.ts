// The benchmark's table: what a client sees (the longest gap) first, the first write second, and
// every failed run with its reason.
import { BenchResults, BenchRun, renderMarkdown } from '../../bench/report';

const run = (scenario: BenchRun['scenario'], n: number, figures: Partial<BenchRun>): BenchRun => ({
  profile: 'fast',
  scenario,
  run: n,
  ok: true,
  startedAt: '2026-12-01T00:00:00Z',
  acked: 100,
  lost: 0,
  overlappingWriteWindows: 0,
  ...figures,
});

const results: BenchResults = {
  command: 'npm run bench -- --runs 2 --profiles fast',
  startedAt: '2026-12-01T00:00:00Z',
  complete: true,
  config: { runs: 2, profiles: ['fast'], scenarios: ['kill', 'switchover'], intervalMs: 100 },
  environment: { cpus: 2 },
  timings: {},
  runs: [
    run('kill', 1, { writableAgainMs: 8159, longestGapMs: 10814 }),
    run('kill', 2, { writableAgainMs: 7317, longestGapMs: 7392 }),
    run('switchover', 1, { switchoverMs: 3050, writableAgainMs: 3000, longestGapMs: 2200 }),
    run('switchover', 2, { ok: false, error: 'timed out after 180.0 s waiting for a healthy cluster\n  (last: no leader)' }),
  ],
};

const text = renderMarkdown(results);
const rows = text.split('\n').filter((l) => l.startsWith('| FAST'));

test('the first table is the longest gap, the second the first write on the new leader', () => {
  expect(rows).toHaveLength(2);
  expect(rows[0]).toBe('| FAST | 7.4 / 10.8 / 10.8 (n=2) | – (n=0) | – (n=0) | 2.2 / 2.2 / 2.2 (n=1, 1 failed) | 0 of 300 | 0 |');
  expect(rows[1]).toBe('| FAST | 7.3 / 8.2 / 8.2 (n=2) | – (n=0) | – (n=0) | 3.0 / 3.0 / 3.0 (n=1, 1 failed) | 0 of 300 | 0 |');
  expect(text.indexOf('**Longest write gap a client sees**')).toBeLessThan(text.indexOf('**First write on the new leader**'));
});

test('every failed run is listed with its reason on one line', () => {
  expect(text).toContain('Failed runs (1; not in the figures above):\n- FAST switchover, run 2: timed out after 180.0 s waiting for a healthy cluster (last: no leader)\n');
  expect(renderMarkdown({ ...results, runs: results.runs.filter((r) => r.ok) })).toContain('Failed runs: none.');
});

test('the targets are judged on the longest gap', () => {
  expect(text).toContain('- FAST node loss p95 <= 10 s: p95 10.8 s over 2 run(s): NOT met');
  expect(text).toContain('- Switchover p95 <= 1 s (FAST): p95 2.2 s over 1 run(s): NOT met');
  expect(text).toContain('- DEFAULT node loss p95 <= 30 s: not measured');
});

test("the switchover's timeline: median and max per part, a run without its lines said", () => {
  const parts = (ms: Record<string, number | null>) => ({ switchoverParts: ms });
  const withTimeline: BenchResults = {
    ...results,
    runs: [
      run('switchover', 1, { switchoverMs: 2000, longestGapMs: 1800, ...parts({ request: 160, release: 1040, acquire: 100 }) }),
      run('switchover', 2, { switchoverMs: 2500, longestGapMs: 2300, ...parts({ request: 180, release: 1050, acquire: 900 }) }),
      run('switchover', 3, { switchoverMs: 2500, longestGapMs: 2300, ...parts({ request: 170, release: null, acquire: 500 }) }),
    ],
  };
  const md = renderMarkdown(withTimeline);
  expect(md).toContain("**Where a switchover's time goes**");
  expect(md).toContain('| Part | What happens | FAST (n=3) |');
  expect(md).toMatch(/\n\| request \| [^|]+ \| 170 \/ 180 \|\n/);
  expect(md).toMatch(/\n\| release \| [^|]+ \| 1040 \/ 1050 \|\n/);
  expect(md).toMatch(/\n\| acquire \| [^|]+ \| 500 \/ 900 \|\n/);
  expect(md).toMatch(/\n\| promote \| [^|]+ \| – \|\n/);
  expect(md).toContain('3 run(s) lacked a log line for some part');
  expect(renderMarkdown(results)).not.toContain("Where a switchover's time goes");
});
