// The switchover's timeline in the benchmark's Markdown: per part (test/cluster/drills/
// switchover-timeline.ts), the median and the largest over a profile's runs. Pure.
import { percentile } from '../test/cluster/drills/analysis';
import { profileName } from './profile-names';
import { SWITCHOVER_PARTS } from '../test/cluster/drills/switchover-timeline';
import type { BenchResults } from './report';

function cell(values: readonly number[]): string {
  return values.length === 0 ? '–' : `${Math.round(percentile(values, 50))} / ${Math.round(Math.max(...values))}`;
}

/** The timeline table, or nothing when no run recorded one. */
export function switchoverTimelineTable(results: BenchResults): string[] {
  const runs = results.runs.filter((r) => r.ok && r.scenario === 'switchover' && r.switchoverParts);
  const profiles = results.config.profiles.filter((p) => runs.some((r) => r.profile === p));
  if (profiles.length === 0) return [];
  const values = (p: string, part: string) =>
    runs.filter((r) => r.profile === p).map((r) => r.switchoverParts![part]).filter((v): v is number => typeof v === 'number');
  const missing = runs.filter((r) => SWITCHOVER_PARTS.some((part) => typeof r.switchoverParts![part.name] !== 'number')).length;
  return [
    '**Where a switchover\'s time goes** (ms, median (nearest rank) / max over the runs; from the old leader\'s and the candidate\'s',
    'Patroni and PostgreSQL logs and the client\'s writes; the parts add up to the first write on the new leader):',
    '',
    `| Part | What happens | ${profiles.map((p) => `${profileName(p)} (n=${runs.filter((r) => r.profile === p).length})`).join(' | ')} |`,
    `|---|---|${profiles.map(() => '---').join('|')}|`,
    ...SWITCHOVER_PARTS.map((part) => `| ${part.name} | ${part.what} | ${profiles.map((p) => cell(values(p, part.name))).join(' | ')} |`),
    ...(missing ? ['', `${missing} run(s) lacked a log line for some part: those parts are left out of their figures.`] : []),
    '',
  ];
}
