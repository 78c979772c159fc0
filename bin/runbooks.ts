#!/usr/bin/env node
// `npm run runbooks`: writes docs/runbooks/<stack>.runbook.md for every example stack, for review
// in pull requests. `--check` writes nothing and exits 1 when a committed runbook is stale.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { addExampleStacks } from '../examples/all';
import { renderStackRunbook, runbookFileName } from '../lib/runbook';

const RUNBOOK_DIR = path.join(__dirname, '..', 'docs', 'runbooks');

/** The example app with cdk.json's context (its feature flags), as `cdk synth` builds it. */
export function exampleApp(outdir: string): App {
  const cdkJson = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  const app = new App({ outdir, context: { ...cdkJson.context }, analyticsReporting: false });
  addExampleStacks(app);
  return app;
}

/** File name to content, for every example stack. */
export function exampleRunbooks(): Map<string, string> {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-failover-runbooks-'));
  try {
    const app = exampleApp(outdir);
    const stacks = app.node.findAll().filter((c): c is Stack => Stack.isStack(c) && !c.nested);
    return new Map(stacks.map((s) => [runbookFileName(s), renderStackRunbook(s)]));
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

function main(argv: readonly string[]): number {
  const check = argv.includes('--check');
  const runbooks = exampleRunbooks();
  const existing = fs.existsSync(RUNBOOK_DIR) ? fs.readdirSync(RUNBOOK_DIR).filter((f) => f.endsWith('.runbook.md')) : [];
  const stale = [
    ...[...runbooks].filter(([file, content]) => !existing.includes(file) || fs.readFileSync(path.join(RUNBOOK_DIR, file), 'utf8') !== content).map(([file]) => file),
    ...existing.filter((file) => !runbooks.has(file)),
  ].sort();
  if (check) {
    if (stale.length) {
      console.error(`runbooks: stale in docs/runbooks: ${stale.join(', ')}; run npm run runbooks`);
      return 1;
    }
    console.log(`runbooks: docs/runbooks is up to date (${runbooks.size} runbooks)`);
    return 0;
  }
  fs.mkdirSync(RUNBOOK_DIR, { recursive: true });
  for (const file of existing.filter((f) => !runbooks.has(f))) fs.rmSync(path.join(RUNBOOK_DIR, file));
  for (const [file, content] of runbooks) fs.writeFileSync(path.join(RUNBOOK_DIR, file), content);
  console.log(`runbooks: wrote ${runbooks.size} runbooks to docs/runbooks${stale.length ? ` (changed: ${stale.join(', ')})` : ' (no change)'}`);
  return 0;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
