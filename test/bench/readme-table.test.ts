import * as fs from 'fs';
import * as path from 'path';

// README shows the benchmark table that `npm run bench` last wrote: the two must not drift.
test("README's benchmark table is bench/results.md's", () => {
  const root = path.join(__dirname, '../..');
  const rows = (file: string) =>
    fs
      .readFileSync(path.join(root, file), 'utf8')
      .split('\n')
      .filter((l) => /^\| (FAST|DEFAULT|Stock|Timing|---)/.test(l) || /^\|---/.test(l));
  const bench = rows('bench/results.md');
  expect(bench.length).toBeGreaterThanOrEqual(4);
  const readme = fs.readFileSync(path.join(root, 'docs/benchmark.md'), 'utf8');
  for (const row of bench) expect(readme).toContain(row);
});

// The 10-run table of node loss, freeze and partition is the one that run wrote.
test("docs/benchmark.md's 10-run table is bench/results-n10.md's", () => {
  const root = path.join(__dirname, '../..');
  const rows = fs
    .readFileSync(path.join(root, 'bench/results-n10.md'), 'utf8')
    .split('\n')
    .filter((l) => /^\| (FAST|DEFAULT|Stock) /.test(l));
  expect(rows).toHaveLength(6);
  for (const row of rows) expect(row).toContain('(n=10)');
  const doc = fs.readFileSync(path.join(root, 'docs/benchmark.md'), 'utf8');
  for (const row of rows) expect(doc).toContain(row);
});

// The soak's table in docs/benchmark.md is the one `npm run soak` last wrote.
test("docs/benchmark.md's soak table is bench/soak-results.md's", () => {
  const root = path.join(__dirname, '../..');
  const rows = fs
    .readFileSync(path.join(root, 'bench/soak-results.md'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('|'));
  expect(rows.length).toBeGreaterThanOrEqual(3);
  const doc = fs.readFileSync(path.join(root, 'docs/benchmark.md'), 'utf8');
  for (const row of rows) expect(doc).toContain(row);
});
