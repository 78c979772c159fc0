// Renders the benchmark's results: the Markdown table README includes and the SVG timeline of
// write availability through one failover. Pure: same input, same bytes.
import { percentile } from '../test/cluster/drills/analysis';
import { profileName } from './profile-names';
import type { WriteEvent } from '../test/cluster/drills/writer';
import { switchoverTimelineTable } from './switchover-report';

export type BenchScenario = 'kill' | 'freeze' | 'partition' | 'switchover';

/** One drill run's figures (no raw events). */
export interface BenchRun {
  readonly profile: string;
  readonly scenario: BenchScenario;
  readonly run: number;
  readonly ok: boolean;
  readonly error?: string;
  /** Fault (or POST /switchover) to the first write acknowledged by another node. */
  readonly writableAgainMs?: number | null;
  readonly gapAroundFaultMs?: number | null;
  readonly longestGapMs?: number;
  readonly switchoverMs?: number;
  /** Switchover: ms per part of its timeline (SWITCHOVER_PARTS), null where a log line was missing. */
  readonly switchoverParts?: Readonly<Record<string, number | null>>;
  readonly acked?: number;
  readonly lost?: number;
  readonly overlappingWriteWindows?: number;
  readonly healthyAfterHealMs?: number;
  readonly oldLeader?: string;
  readonly leaderAfter?: string;
  readonly startedAt: string;
}

export interface BenchResults {
  readonly command: string;
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly complete: boolean;
  readonly config: { readonly runs: number; readonly profiles: readonly string[]; readonly scenarios: readonly string[]; readonly intervalMs: number };
  readonly environment: Record<string, unknown>;
  readonly timings: Record<string, unknown>;
  readonly runs: readonly BenchRun[];
}

/** 'FAST (ttl 7 / loop 1 / retry 3, HAProxy inter 0.5s fall 2 rise 1)', from the timing the run used. */
function profileLabel(profile: string, timing: unknown): string {
  const t = timing as Partial<Record<'ttlSeconds' | 'loopWaitSeconds' | 'retryTimeoutSeconds' | 'haproxyCheckIntervalMs' | 'haproxyFall' | 'haproxyRise', number>> | undefined;
  const name = profileName(profile);
  if (!t || t.ttlSeconds === undefined) return name;
  return `${name} (ttl ${t.ttlSeconds} / loop ${t.loopWaitSeconds} / retry ${t.retryTimeoutSeconds}, HAProxy inter ${(t.haproxyCheckIntervalMs ?? 0) / 1000}s fall ${t.haproxyFall} rise ${t.haproxyRise})`;
}

function seconds(ms: number): string {
  return Number.isFinite(ms) ? (ms / 1000).toFixed(1) : '–';
}

function triple(values: readonly number[]): string {
  if (values.length === 0) return '–';
  return `${seconds(percentile(values, 50))} / ${seconds(percentile(values, 95))} / ${seconds(Math.max(...values))}`;
}

/** What a cell measures: the longest gap between acknowledged writes around the fault, or the first write on the new leader. */
type Measure = 'longestGap' | 'firstWrite';

function figures(runs: readonly BenchRun[], profile: string, scenario: BenchScenario, measure: Measure): { values: number[]; failed: number } {
  const mine = runs.filter((r) => r.profile === profile && r.scenario === scenario);
  const key = measure === 'longestGap' ? 'longestGapMs' : scenario === 'switchover' ? 'switchoverMs' : 'writableAgainMs';
  const values = mine.filter((r) => r.ok && typeof r[key] === 'number').map((r) => r[key] as number);
  return { values, failed: mine.length - values.length };
}

const SCENARIO_LABEL: Record<BenchScenario, string> = { kill: 'Node loss (kill)', freeze: 'Freeze', partition: 'Partition', switchover: 'Switchover' };
const SCENARIOS: readonly BenchScenario[] = ['kill', 'freeze', 'partition', 'switchover'];

function table(results: BenchResults, profiles: readonly string[], measure: Measure): string[] {
  const cell = (p: string, s: BenchScenario) => {
    const { values, failed } = figures(results.runs, p, s, measure);
    return `${triple(values)} (n=${values.length}${failed ? `, ${failed} failed` : ''})`;
  };
  return [
    `| Timing | ${SCENARIOS.map((s) => `${SCENARIO_LABEL[s]} p50 / p95 / max`).join(' | ')} | Acknowledged writes lost | Overlapping write windows |`,
    '|---|---|---|---|---|---|---|',
    ...profiles.map((p) => {
      const mine = results.runs.filter((r) => r.profile === p && r.ok);
      const lost = mine.reduce((n, r) => n + (r.lost ?? 0), 0);
      const acked = mine.reduce((n, r) => n + (r.acked ?? 0), 0);
      const overlaps = mine.reduce((n, r) => n + (r.overlappingWriteWindows ?? 0), 0);
      return `| ${profileLabel(p, results.timings[p])} | ${SCENARIOS.map((s) => cell(p, s)).join(' | ')} | ${lost} of ${acked} | ${overlaps} |`;
    }),
  ];
}

/** Every run that failed, with its reason on one line: they are not in the figures. */
function failedRuns(results: BenchResults): string[] {
  const failed = results.runs.filter((r) => !r.ok);
  if (failed.length === 0) return ['Failed runs: none.'];
  return [
    `Failed runs (${failed.length}; not in the figures above):`,
    ...failed.map((r) => `- ${profileName(r.profile)} ${r.scenario}, run ${r.run}: ${(r.error ?? 'no reason recorded').replace(/\s*\n\s*/g, ' ')}`),
  ];
}

export function renderMarkdown(results: BenchResults): string {
  const profiles = results.config.profiles.filter((p) => results.runs.some((r) => r.profile === p));
  const target = (label: string, p: string, s: BenchScenario, limitS: number) => {
    const { values } = figures(results.runs, p, s, 'longestGap');
    if (values.length === 0) return `- ${label}: not measured`;
    const p95 = percentile(values, 95) / 1000;
    return `- ${label}: p95 ${p95.toFixed(1)} s over ${values.length} run(s): ${p95 <= limitS ? 'met' : 'NOT met'}`;
  };
  const allLost = results.runs.reduce((n, r) => n + (r.lost ?? 0), 0);
  const env = results.environment as { cpus?: number; kernel?: string; packages?: Record<string, string>; tls?: boolean };
  return [
    '<!-- Generated by bench/run.ts; do not edit by hand. -->',
    '',
    'Write unavailability in seconds, seen by a client in the client namespace opening a new connection through the',
    `writer endpoint every ${results.config.intervalMs} ms (connect timeout 1 s). Three nodes, synchronous mode.` +
      (env.tls === undefined ? '' : env.tls ? ' TLS on every link (etcd, Patroni, PostgreSQL; the client verify-full).' : ' No TLS.'),
    '',
    '**Longest write gap a client sees**: the longest time between two acknowledged inserts around the fault (or the',
    '`POST /switchover`), including any second outage after the first write on the new leader.',
    '',
    ...table(results, profiles, 'longestGap'),
    '',
    '**First write on the new leader**: from the fault (or the `POST /switchover`) to the end of the first insert',
    'acknowledged by the new leader.',
    '',
    ...table(results, profiles, 'firstWrite'),
    '',
    ...switchoverTimelineTable(results),
    ...failedRuns(results),
    '',
    'Targets, on the longest gap (measured, not asserted):',
    target('DEFAULT node loss p95 <= 30 s', 'default', 'kill', 30),
    target('FAST node loss p95 <= 10 s', 'fast', 'kill', 10),
    target('Switchover p95 <= 1 s (FAST)', 'fast', 'switchover', 1),
    target('Switchover p95 <= 1 s (DEFAULT)', 'default', 'switchover', 1),
    `- 0 acknowledged writes lost: ${allLost === 0 ? 'met' : `NOT met (${allLost} lost)`}`,
    '',
    `Runs per scenario and profile: ${results.config.runs}${results.complete ? '' : ' (run cut short: see n per cell)'}. ` +
      `Machine: ${env.cpus ?? '?'} CPUs, kernel ${env.kernel ?? '?'}; ` +
      `${Object.entries(env.packages ?? {})
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}. Started ${results.startedAt}.`,
    '',
    `Made by: \`${results.command}\``,
    '',
  ].join('\n');
}

export interface TimelineInput {
  readonly title: string;
  readonly faultAt: number;
  readonly events: readonly WriteEvent[];
  /** Address -> node name, for the legend. */
  readonly names: Readonly<Record<string, string>>;
  /** Seconds shown before the fault. @default 3 */
  readonly beforeS?: number;
  /** Seconds shown after the fault. @default - until 5 s after the first new-leader write */
  readonly afterS?: number;
}

const COLORS = ['#1b7837', '#2166ac', '#762a83', '#b35806'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Write availability over time through one failover: each attempt's end as a mark (acknowledged:
 * a bar in the color of the server that committed it; failed: a short red tick), the fault as a
 * dashed line, the first write on the new leader as a solid one.
 */
export function renderTimelineSvg(input: TimelineInput): string {
  const before = input.beforeS ?? 3;
  const acks = input.events.filter((e) => e.ok).sort((a, b) => a.t1 - b.t1);
  const firstServer = acks.filter((e) => e.t0 < input.faultAt).pop()?.server;
  const recovered = acks.find((e) => e.t0 >= input.faultAt && e.server !== firstServer);
  const after = input.afterS ?? (recovered ? (recovered.t1 - input.faultAt) / 1000 + 5 : 30);
  const W = 900;
  const H = 300;
  const left = 60;
  const right = 20;
  const top = 50;
  const bottom = 60;
  const x = (t: number) => left + ((t - input.faultAt) / 1000 + before) * ((W - left - right) / (before + after));
  const inRange = (t: number) => t >= input.faultAt - before * 1000 && t <= input.faultAt + after * 1000;
  const servers = [...new Set(acks.map((e) => e.server ?? '?'))];
  const color = (server?: string) => COLORS[Math.max(0, servers.indexOf(server ?? '?')) % COLORS.length]!;
  const ackY = top + 20;
  const ackH = 110;
  const failY = top + ackH + 40;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${left}" y="22" font-size="14" font-weight="bold">${esc(input.title)}</text>`);
  // Axis and ticks every second (labels every 5 s when long).
  const axisY = H - bottom + 10;
  out.push(`<line x1="${left}" y1="${axisY}" x2="${W - right}" y2="${axisY}" stroke="#333"/>`);
  const step = before + after > 40 ? 5 : before + after > 15 ? 2 : 1;
  for (let s = -Math.floor(before); s <= after; s += 1) {
    const tx = x(input.faultAt + s * 1000);
    out.push(`<line x1="${tx.toFixed(1)}" y1="${axisY}" x2="${tx.toFixed(1)}" y2="${axisY + 4}" stroke="#333"/>`);
    if (s % step === 0) out.push(`<text x="${tx.toFixed(1)}" y="${axisY + 18}" text-anchor="middle">${s}</text>`);
  }
  out.push(`<text x="${(W / 2).toFixed(0)}" y="${H - 12}" text-anchor="middle">seconds since the fault</text>`);
  out.push(`<text x="8" y="${ackY + ackH / 2}" fill="#333">acked</text>`);
  out.push(`<text x="8" y="${failY + 10}" fill="#b2182b">failed</text>`);
  for (const e of acks.filter((a) => inRange(a.t1))) {
    out.push(`<rect x="${x(e.t1).toFixed(1)}" y="${ackY}" width="1.5" height="${ackH}" fill="${color(e.server)}"/>`);
  }
  for (const e of input.events.filter((f) => !f.ok && inRange(f.t1))) {
    out.push(`<rect x="${x(e.t1).toFixed(1)}" y="${failY}" width="1.5" height="14" fill="#b2182b"/>`);
  }
  const fx = x(input.faultAt);
  out.push(`<line x1="${fx.toFixed(1)}" y1="${top}" x2="${fx.toFixed(1)}" y2="${axisY}" stroke="#b2182b" stroke-dasharray="5,3" stroke-width="2"/>`);
  out.push(`<text x="${(fx + 4).toFixed(1)}" y="${top + 8}" fill="#b2182b">fault</text>`);
  if (recovered) {
    const rx = x(recovered.t1);
    const label = `writable again after ${((recovered.t1 - input.faultAt) / 1000).toFixed(1)} s`;
    out.push(`<line x1="${rx.toFixed(1)}" y1="${top}" x2="${rx.toFixed(1)}" y2="${axisY}" stroke="#333" stroke-width="1.5"/>`);
    out.push(`<text x="${(rx + 4).toFixed(1)}" y="${top + 8}">${esc(label)}</text>`);
  }
  servers.forEach((s, i) => {
    const lx = W - right - 170;
    const ly = 18 + i * 14;
    out.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${color(s)}"/>`);
    out.push(`<text x="${lx + 14}" y="${ly}">${esc(`${input.names[s] ?? s} (${s})`)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
