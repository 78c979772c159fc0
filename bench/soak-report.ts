// The soak's results file and its Markdown table: what a run of `npm run soak` recorded, per
// timing profile. Pure: no cluster here (test/bench/soak-report.test.ts).
import { profileName } from './profile-names';

/** One etcd member stopped (SIGSTOP) for `ms`, `at` ms after the soak's start. */
export interface EtcdPause {
  readonly at: number;
  readonly node: string;
  readonly ms: number;
}

/** A line of Patroni's GET /history: [timeline, lsn, reason, timestamp, new leader]. */
export type HistoryEntry = readonly unknown[];

export interface SoakRun {
  readonly profile: string;
  readonly ok: boolean;
  /** Why the run could not be measured (the cluster did not come up, a step failed). */
  readonly error?: string;
  readonly startedAt: string;
  readonly minutes?: number;
  readonly etcdPauses?: readonly EtcdPause[];
  /** Timelines Patroni started during the soak (failovers and switchovers, each a promotion). */
  readonly promotions?: readonly HistoryEntry[];
  /** The leader's name at each change the sampler saw (every second), the first included. */
  readonly leaders?: readonly string[];
  /** Patroni log lines of the soak that say a node demoted itself or lost the leader key. */
  readonly demotionLines?: readonly string[];
  readonly attempted?: number;
  readonly acked?: number;
  readonly failed?: number;
  /** Failed writes by their error, digits blanked (a connect timeout, a refused connection...). */
  readonly failures?: Readonly<Record<string, number>>;
  readonly longestGapMs?: number;
  /** Acknowledged writes missing afterwards. Must be 0. */
  readonly lost?: number;
  /** Moments two servers both acknowledged writes. Must be 0. */
  readonly overlappingWriteWindows?: number;
  /** The cluster's health verdict at the end. */
  readonly healthyAtEnd?: boolean;
}

export interface SoakResults {
  readonly command: string;
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly complete: boolean;
  readonly stress: string;
  readonly environment: Record<string, unknown>;
  readonly timings: Record<string, unknown>;
  readonly runs: readonly SoakRun[];
  /** Corrections made to the record after the run, each said under the table. */
  readonly notes?: readonly string[];
}

const secs = (ms: number) => (ms / 1000).toFixed(1);

/** A soak run's row: what a user asks of a profile that ran without a fault. */
export function soakRow(run: SoakRun): string {
  const name = profileName(run.profile);
  if (!run.ok) return `| ${name} | failed: ${(run.error ?? 'unknown').replace(/\|/g, '\\|')} | | | | | | |`;
  const pauses = run.etcdPauses ?? [];
  const pauseRange = pauses.length ? ` (${secs(Math.min(...pauses.map((p) => p.ms)))}–${secs(Math.max(...pauses.map((p) => p.ms)))} s)` : '';
  return [
    '',
    ` ${name} `,
    ` ${run.minutes} min `,
    ` ${pauses.length}${pauseRange} `,
    ` ${run.promotions?.length ?? 0} `,
    ` ${run.demotionLines ? run.demotionLines.length : 'not counted'} `,
    ` ${run.failed ?? 0} of ${run.attempted ?? 0} `,
    ` ${secs(run.longestGapMs ?? 0)} s `,
    ` ${run.lost ?? 0} lost, ${run.overlappingWriteWindows ?? 0} overlaps${run.healthyAtEnd ? '' : ', unhealthy at the end'} `,
    '',
  ].join('|');
}

/** Counts errors by their text with numbers blanked, so that one cause is one line. */
export function failureCounts(errors: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const error of errors) {
    const key = error.replace(/\d+(\.\d+)*/g, 'N').slice(0, 120);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

export function renderSoakMarkdown(results: SoakResults): string {
  const lines = [
    `Soak without faults: ${results.stress}. Command: \`${results.command}\`${results.complete ? '' : ' (interrupted: the runs it finished)'}.`,
    '',
    '| Timing | Ran | etcd pauses | Failovers (promotions) | Demotion log lines | Failed writes | Longest write gap | Correctness |',
    '|---|---|---|---|---|---|---|---|',
    ...results.runs.map(soakRow),
    '',
  ];
  for (const run of results.runs.filter((r) => r.failures && Object.keys(r.failures).length)) {
    const causes = Object.entries(run.failures!).sort((a, b) => b[1] - a[1]);
    lines.push(`${profileName(run.profile)}'s failed writes: ${causes.map(([error, n]) => `${n} × ${error}`).join('; ')}.`, '');
  }
  const changed = results.runs.filter((r) => (r.promotions?.length ?? 0) > 0);
  for (const run of changed) {
    lines.push(`${profileName(run.profile)} failed over falsely: ${run.promotions!.map((p) => `from timeline ${String(p[0])} at ${String(p[3] ?? "?")} to ${String(p[4] ?? "?")}`).join('; ')}.`, '');
  }
  for (const note of results.notes ?? []) lines.push(`Note: ${note}`, '');
  return `${lines.join('\n').trimEnd()}\n`;
}
