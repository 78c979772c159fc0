// Re-renders bench/results.md from bench/results.json (e.g. after a change to the table's layout),
// without running anything: `ts-node --transpile-only bench/render.ts`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { renderMarkdown, type BenchResults } from './report';

const results = JSON.parse(fs.readFileSync(path.join(__dirname, 'results.json'), 'utf8')) as BenchResults;
fs.writeFileSync(path.join(__dirname, 'results.md'), renderMarkdown(results));
