import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatSummary, installInterruptHandlers, runDrills, writeReport, type DrillCase, type DrillContext } from '../../lib/ops/drill-runner';
import { sleep } from '../../lib/ops/poll';

type Phases = Partial<Record<'setup' | 'execute' | 'verify' | 'cleanup', (ctx: DrillContext) => Promise<void>>>;

function drill(name: string, phases: Phases, calls: string[] = []): DrillCase {
  const phase = (p: keyof Phases) => async (ctx: DrillContext) => {
    calls.push(`${name}:${p}`);
    await phases[p]?.(ctx);
  };
  return {
    name,
    description: `${name} drill`,
    plan: async () => [`plan of ${name}`],
    setup: phase('setup'),
    execute: phase('execute'),
    verify: phases.verify ? phase('verify') : async (ctx) => {
      calls.push(`${name}:verify`);
      ctx.check('something real', true, 'seen');
    },
    cleanup: phase('cleanup'),
  };
}

describe('drill runner', () => {
  test('writes the reference report shape, with checks and measurements', async () => {
    const report = await runDrills(
      [
        drill('a', {
          execute: async (ctx) => ctx.measure('failover_seconds', 3.5),
          verify: async (ctx) => {
            ctx.check('leader changed', true, 'pg-1, was pg-0');
          },
        }),
      ],
      { environment: 'staging' },
    );
    expect(Object.keys(report)).toEqual(['environment', 'timestamp', 'total_duration_seconds', 'total_tests', 'passed', 'failed', 'skipped', 'dry_run', 'interrupted', 'tests']);
    expect(report).toMatchObject({ environment: 'staging', total_tests: 1, passed: 1, failed: 0, skipped: 0 });
    expect(new Date(report.timestamp).toISOString()).toBe(report.timestamp);
    const t = report.tests[0]!;
    expect(t).toMatchObject({ name: 'a', status: 'passed', measurements: { failover_seconds: 3.5 } });
    expect(t.phases.map((p) => Object.keys(p))).toEqual([
      ['name', 'status', 'duration_seconds'],
      ['name', 'status', 'duration_seconds'],
      ['name', 'status', 'duration_seconds'],
      ['name', 'status', 'duration_seconds'],
    ]);
    expect(t.checks).toEqual([{ phase: 'verify', name: 'leader changed', passed: true, detail: 'pg-1, was pg-0' }]);
  });

  test('a verify that checks nothing fails: it cannot pass by returning', async () => {
    const report = await runDrills([drill('empty', { verify: async () => undefined })], { environment: 'e' });
    expect(report.tests[0]!.phases[2]).toMatchObject({ name: 'verify', status: 'failed', error: 'verify made no check' });
    expect(report.failed).toBe(1);
  });

  test('a failed check fails its phase after the phase ran, listing every failed check', async () => {
    const report = await runDrills(
      [
        drill('v', {
          verify: async (ctx) => {
            ctx.check('rows present', false, '99 of 100');
            ctx.check('timeline advanced', true, '1 -> 2');
            ctx.check('old leader rejoined', false, 'still stopped');
          },
        }),
      ],
      { environment: 'e' },
    );
    expect(report.tests[0]!.error).toBe('verify: 2 of 3 checks failed: rows present (99 of 100); old leader rejoined (still stopped)');
  });

  test('cleanup always runs: after a setup error, and its own failure fails the test', async () => {
    const calls: string[] = [];
    const report = await runDrills(
      [
        drill('s', { setup: async () => Promise.reject(new Error('no leader')), cleanup: async () => Promise.reject(new Error('could not drop table')) }, calls),
        drill('t', {}, calls),
      ],
      { environment: 'e' },
    );
    expect(calls).toEqual(['s:setup', 's:cleanup', 't:setup', 't:execute', 't:verify', 't:cleanup']);
    const s = report.tests[0]!;
    expect(s.phases.map((p) => p.status)).toEqual(['failed', 'skipped', 'skipped', 'failed']);
    expect(s.error).toBe('setup: no leader; then cleanup failed: could not drop table');
    expect(report).toMatchObject({ passed: 1, failed: 1 });
  });

  test('an interrupt stops the running phase, runs its cleanup with a live signal, and skips the drills after it', async () => {
    const controller = new AbortController();
    const calls: string[] = [];
    let cleanupSignalAborted: boolean | undefined;
    const report = await runDrills(
      [
        drill(
          'long',
          {
            execute: async (ctx) => {
              setTimeout(() => controller.abort(), 20);
              await sleep(60_000, ctx.signal);
            },
            cleanup: async (ctx) => {
              cleanupSignalAborted = ctx.signal.aborted;
            },
          },
          calls,
        ),
        drill('next', {}, calls),
      ],
      { environment: 'e', signal: controller.signal },
    );
    expect(calls).toEqual(['long:setup', 'long:execute', 'long:cleanup']);
    expect(cleanupSignalAborted).toBe(false);
    expect(report.interrupted).toBe(true);
    expect(report.tests.map((t) => t.status)).toEqual(['failed', 'skipped']);
    expect(report.tests[0]!.phases[1]).toMatchObject({ status: 'failed', error: 'interrupted' });
    expect(report.tests[1]!.error).toBe('not run: interrupted');
  });

  test('a dry run plans every drill, runs no phase and counts them skipped', async () => {
    const calls: string[] = [];
    const report = await runDrills([drill('p', {}, calls)], { environment: 'e', dryRun: true });
    expect(calls).toEqual([]);
    expect(report).toMatchObject({ dry_run: true, skipped: 1, failed: 0 });
    expect(report.tests[0]!.plan).toEqual(['plan of p']);
  });

  test('prints a readable summary and writes the report as JSON', async () => {
    const report = await runDrills([drill('x', { verify: async (ctx) => void ctx.check('answer is secondary', false, 'primary (203.0.113.10)') })], { environment: 'aws:Shop@eu-west-1' });
    const summary = formatSummary(report);
    expect(summary).toContain('FAILED  x (');
    expect(summary).toContain('FAIL answer is secondary: primary (203.0.113.10)');
    expect(summary.split('\n').pop()).toMatch(/^0 passed, 1 failed, 0 skipped \(/);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'drill-')), 'sub', 'report.json');
    writeReport(file, report);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual(report);
  });

  test('signals: the first aborts, the second only warns, the third abandons with the hint to undo by hand', () => {
    const controller = new AbortController();
    const before = process.listenerCount('SIGINT');
    const lines: string[] = [];
    const exits: number[] = [];
    const handlers = installInterruptHandlers(controller, { log: (l) => lines.push(l), abandonHint: () => 'aws route53 update-health-check ...', exit: (c) => exits.push(c) });
    try {
      process.emit('SIGINT', 'SIGINT');
      expect(controller.signal.aborted).toBe(true);
      process.emit('SIGTERM', 'SIGTERM');
      expect(exits).toEqual([]);
      process.emit('SIGINT', 'SIGINT');
      expect(exits).toEqual([130]);
      expect(lines[2]).toBe('SIGINT: cleanup abandoned. Undo by hand: aws route53 update-health-check ...');
    } finally {
      handlers.uninstall();
    }
    expect(process.listenerCount('SIGINT')).toBe(before);
  });
});
