// Re-renders bench/results[-NAME].md from bench/results[-NAME].json (e.g. after a change to the
// table's layout), without running anything: `ts-node --transpile-only bench/render.ts [NAME]`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { renderMarkdown, type BenchResults } from './report';

const suffix = process.argv[2] ? `-${process.argv[2]}` : '';
const results = JSON.parse(fs.readFileSync(path.join(__dirname, `results${suffix}.json`), 'utf8')) as BenchResults;
fs.writeFileSync(path.join(__dirname, `results${suffix}.md`), renderMarkdown(results));
