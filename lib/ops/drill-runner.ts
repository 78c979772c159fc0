import * as fs from 'node:fs';
import * as path from 'node:path';
import { InterruptedError, oneLine } from './errors';

export type DrillStatus = 'passed' | 'failed' | 'skipped';
export const PHASES = ['setup', 'execute', 'verify', 'cleanup'] as const;
export type PhaseName = (typeof PHASES)[number];

/** One check a drill made, with what it saw: the report says what was verified. */
export interface DrillCheck {
  readonly phase: PhaseName | 'plan';
  readonly name: string;
  readonly passed: boolean;
  readonly detail: string;
}

export interface PhaseResult {
  readonly name: PhaseName;
  readonly status: DrillStatus;
  readonly duration_seconds: number;
  readonly error?: string;
}

/** One test of the report (the reference framework's shape, plus checks and measurements). */
export interface DrillTestResult {
  readonly name: string;
  readonly description: string;
  readonly status: DrillStatus;
  readonly phases: PhaseResult[];
  readonly duration_seconds: number;
  readonly error?: string;
  readonly checks: DrillCheck[];
  /** Timings and counts, e.g. failover_seconds, rows_verified. */
  readonly measurements: Record<string, number | string>;
  /** --dry-run: what the drill would do. */
  readonly plan?: string[];
}

export interface DrillReport {
  readonly environment: string;
  readonly timestamp: string;
  readonly total_duration_seconds: number;
  readonly total_tests: number;
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  readonly dry_run: boolean;
  readonly interrupted: boolean;
  readonly tests: DrillTestResult[];
}

/** What a drill's phases get. */
export interface DrillContext {
  /** Aborted on Ctrl-C or SIGTERM; cleanup gets a signal that is never aborted. */
  readonly signal: AbortSignal;
  /** A progress line. */
  log(line: string): void;
  /**
   * Records a check. A phase with a failed check fails (after the phase returns, so every check
   * of it is reported); a verify phase without any check fails too.
   */
  check(name: string, passed: boolean, detail: string): boolean;
  /** Records a timing or a count. */
  measure(name: string, value: number | string): void;
}

/** A drill as a test case: setup, execute, verify, cleanup (cleanup always runs). */
export interface DrillCase {
  readonly name: string;
  readonly description: string;
  /** When set, the drill is reported as skipped with this reason and nothing runs. */
  readonly skipReason?: string;
  /** --dry-run: read-only look-ups allowed, no change; returns the plan's lines. */
  plan(ctx: DrillContext): Promise<string[]>;
  setup(ctx: DrillContext): Promise<void>;
  execute(ctx: DrillContext): Promise<void>;
  verify(ctx: DrillContext): Promise<void>;
  /** Undoes whatever setup and execute did, also after they failed or were interrupted. */
  cleanup(ctx: DrillContext): Promise<void>;
  /** What an operator must do by hand if cleanup is abandoned (printed on a third Ctrl-C). */
  manualCleanupHint?(): string | undefined;
}

export interface RunDrillsOptions {
  readonly environment: string;
  readonly dryRun?: boolean;
  /** Aborting it interrupts the running phase; cleanup still runs; later drills are skipped. */
  readonly signal?: AbortSignal;
  /** Progress lines. @default - silent */
  readonly log?: (line: string) => void;
  /** Told which drill runs (for the abandon hint). */
  readonly onCaseStart?: (drill: DrillCase | undefined) => void;
}

/** Runs the drills one after the other; never throws for a drill's failure. */
export async function runDrills(cases: readonly DrillCase[], options: RunDrillsOptions): Promise<DrillReport> {
  const started = Date.now();
  const timestamp = new Date(started).toISOString();
  const log = options.log ?? (() => undefined);
  const tests: DrillTestResult[] = [];
  for (const drill of cases) {
    if (options.signal?.aborted) {
      tests.push(skipped(drill, 'not run: interrupted'));
      continue;
    }
    if (drill.skipReason) {
      log(`${drill.name}: skipped (${drill.skipReason})`);
      tests.push(skipped(drill, drill.skipReason));
      continue;
    }
    options.onCaseStart?.(drill);
    tests.push(options.dryRun ? await planOne(drill, options.signal, log) : await runOne(drill, options.signal, log));
    options.onCaseStart?.(undefined);
  }
  const count = (s: DrillStatus) => tests.filter((t) => t.status === s).length;
  return {
    environment: options.environment,
    timestamp,
    total_duration_seconds: secondsSince(started),
    total_tests: tests.length,
    passed: count('passed'),
    failed: count('failed'),
    skipped: count('skipped'),
    dry_run: options.dryRun ?? false,
    interrupted: options.signal?.aborted ?? false,
    tests,
  };
}

async function runOne(drill: DrillCase, signal: AbortSignal | undefined, log: (line: string) => void): Promise<DrillTestResult> {
  const started = Date.now();
  const checks: DrillCheck[] = [];
  const measurements: Record<string, number | string> = {};
  const phases: PhaseResult[] = [];
  const never = new AbortController().signal;
  let failure: string | undefined;
  log(`${drill.name}: ${drill.description}`);

  for (const phase of PHASES) {
    const isCleanup = phase === 'cleanup';
    if (failure && !isCleanup) {
      phases.push({ name: phase, status: 'skipped', duration_seconds: 0 });
      continue;
    }
    const phaseSignal = isCleanup ? never : (signal ?? never);
    const ctx = context(phase, phaseSignal, drill.name, log, checks, measurements);
    const phaseStarted = Date.now();
    log(`${drill.name}: ${phase}`);
    let error: string | undefined;
    try {
      if (!isCleanup && phaseSignal.aborted) throw new InterruptedError();
      await drill[phase](ctx);
      const mine = checks.filter((c) => c.phase === phase);
      const failed = mine.filter((c) => !c.passed);
      if (failed.length) error = `${failed.length} of ${mine.length} checks failed: ${failed.map((c) => `${c.name} (${c.detail})`).join('; ')}`;
      else if (phase === 'verify' && mine.length === 0) error = 'verify made no check';
    } catch (err) {
      error = err instanceof InterruptedError && err.message !== 'interrupted' ? `interrupted (${oneLine(err)})` : oneLine(err);
    }
    const duration = secondsSince(phaseStarted);
    phases.push({ name: phase, status: error ? 'failed' : 'passed', duration_seconds: duration, ...(error ? { error } : {}) });
    log(`${drill.name}: ${phase} ${error ? `FAILED after ${duration} s: ${error}` : `passed in ${duration} s`}`);
    if (error) failure = failure ? `${failure}; then cleanup failed: ${error}` : `${phase}: ${error}`;
  }
  const status: DrillStatus = failure ? 'failed' : 'passed';
  log(`${drill.name}: ${status.toUpperCase()}`);
  return {
    name: drill.name,
    description: drill.description,
    status,
    phases,
    duration_seconds: secondsSince(started),
    ...(failure ? { error: failure } : {}),
    checks,
    measurements,
  };
}

async function planOne(drill: DrillCase, signal: AbortSignal | undefined, log: (line: string) => void): Promise<DrillTestResult> {
  const started = Date.now();
  const checks: DrillCheck[] = [];
  const measurements: Record<string, number | string> = {};
  const ctx = context('plan', signal ?? new AbortController().signal, drill.name, log, checks, measurements);
  let plan: string[] = [];
  let error: string | undefined;
  try {
    plan = await drill.plan(ctx);
  } catch (err) {
    error = `could not plan: ${oneLine(err)}`;
  }
  return {
    name: drill.name,
    description: drill.description,
    status: error ? 'failed' : 'skipped',
    phases: PHASES.map((name) => ({ name, status: 'skipped' as const, duration_seconds: 0 })),
    duration_seconds: secondsSince(started),
    error: error ?? 'dry run: nothing was changed',
    checks,
    measurements,
    plan,
  };
}

function context(
  phase: PhaseName | 'plan',
  signal: AbortSignal,
  name: string,
  log: (line: string) => void,
  checks: DrillCheck[],
  measurements: Record<string, number | string>,
): DrillContext {
  return {
    signal,
    log: (line) => log(`${name}: ${phase}: ${line}`),
    check: (checkName, passed, detail) => {
      checks.push({ phase, name: checkName, passed, detail });
      log(`${name}: ${phase}: ${passed ? 'ok  ' : 'FAIL'} ${checkName}: ${detail}`);
      return passed;
    },
    measure: (key, value) => {
      measurements[key] = value;
    },
  };
}

function skipped(drill: DrillCase, reason: string): DrillTestResult {
  return {
    name: drill.name,
    description: drill.description,
    status: 'skipped',
    phases: PHASES.map((name) => ({ name, status: 'skipped' as const, duration_seconds: 0 })),
    duration_seconds: 0,
    error: reason,
    checks: [],
    measurements: {},
  };
}

function secondsSince(ms: number): number {
  return Math.round(Date.now() - ms) / 1000;
}

/** Writes the report as indented JSON (creating the directory). */
export function writeReport(file: string, report: DrillReport): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
}

/** A readable summary: one block per drill, its phases, checks and measurements. */
export function formatSummary(report: DrillReport): string {
  const lines: string[] = [];
  lines.push(`Drill report: ${report.environment}, ${report.timestamp}${report.dry_run ? ' (dry run)' : ''}${report.interrupted ? ' (interrupted)' : ''}`);
  for (const t of report.tests) {
    lines.push('');
    lines.push(`${t.status.toUpperCase().padEnd(7)} ${t.name} (${t.duration_seconds} s)`);
    if (t.plan?.length) for (const p of t.plan) lines.push(`        ${p}`);
    if (t.status !== 'skipped' || t.phases.some((p) => p.status !== 'skipped')) {
      lines.push(`        phases: ${t.phases.map((p) => `${p.name} ${p.status}${p.status === 'skipped' ? '' : ` ${p.duration_seconds} s`}`).join(', ')}`);
    }
    for (const c of t.checks) lines.push(`        ${c.passed ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
    const m = Object.entries(t.measurements);
    if (m.length) lines.push(`        measured: ${m.map(([k, v]) => `${k}=${v}`).join(', ')}`);
    if (t.error && t.status !== 'passed') lines.push(`        ${t.status === 'failed' ? 'error' : 'note'}: ${t.error}`);
  }
  lines.push('');
  lines.push(`${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped (${report.total_duration_seconds} s)`);
  return lines.join('\n');
}

export interface InterruptHandlers {
  /** Removes the handlers. */
  uninstall(): void;
}

/**
 * Ctrl-C and SIGTERM: the first aborts `controller` (the running phase stops, cleanup runs); later
 * ones say cleanup is running; the third abandons it, printing what to undo by hand.
 */
export function installInterruptHandlers(
  controller: AbortController,
  options: { readonly log: (line: string) => void; readonly abandonHint?: () => string | undefined; readonly exit?: (code: number) => void },
): InterruptHandlers {
  let count = 0;
  const handler = (sig: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      options.log(`${sig}: stopping; cleanup runs now (send it twice more to abandon cleanup)`);
      controller.abort();
      return;
    }
    if (count === 2) {
      options.log(`${sig}: cleanup is running and restores what the drill changed; once more abandons it`);
      return;
    }
    const hint = options.abandonHint?.();
    options.log(`${sig}: cleanup abandoned.${hint ? ` Undo by hand: ${hint}` : ''}`);
    (options.exit ?? process.exit)(130);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    uninstall: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
