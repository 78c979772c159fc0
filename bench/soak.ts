// The false-failover soak: a 3-node local cluster per timing profile, run for --minutes with no
// fault injected but under stress: stress-ng saturating every CPU and stalling the disk (sync()
// and fsync'd writes on the cluster's filesystem), a random etcd member stopped for 1 to 2 s,
// 20 to 60 s apart, and a write every 100 ms through the writer endpoint. It counts failovers
// (the timelines Patroni's /history gained), Patroni's demotion log lines, failed writes and the
// longest gap between acknowledged writes, and checks that no acknowledged write was lost and no
// two servers took writes at once. Root only.
//
//   npm run soak [-- --minutes 30] [--profiles default,fast]
//
// Writes bench/soak-results.json and bench/soak-results.md (the table docs/benchmark.md shows),
// after every profile. A measurement, not a test: nothing here is asserted.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { LocalCluster, TIMING_PROFILES, ensurePackages, isTimingProfileName } from '../lib/local';
import { acknowledged, availability, lostWrites, overlappingWindows, writeWindows } from '../test/cluster/drills/analysis';
import { prepareTable, presentIds, sleep, startWriter } from '../test/cluster/drills/drills';
import { start, type RunningCommand } from '../lib/util/command';
import { environment } from './environment';
import { failureCounts, renderSoakMarkdown, type EtcdPause, type HistoryEntry, type SoakResults, type SoakRun } from './soak-report';

const CLUSTER = 'soak';
const OUT = __dirname;
const WRITE_INTERVAL_MS = 100;
const PAUSE_EVERY_MS = [20_000, 60_000] as const;
const PAUSE_FOR_MS = [1_000, 2_000] as const;
/** Patroni 3.0.2's lines (in patroni.log, its log dir) when a leader steps down or loses its key. */
const DEMOTION = /demot|lost leader lock|failed to update leader lock/i;

function minutes(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 240) throw new InvalidArgumentError(`must be a whole number of minutes from 1 to 240, got '${value}'.`);
  return n;
}

function profiles(value: string): string[] {
  const names = value.split(',').filter(Boolean);
  for (const p of names) if (!isTimingProfileName(p)) throw new InvalidArgumentError(`unknown profile '${p}' (${Object.keys(TIMING_PROFILES).join(', ')}).`);
  if (names.length === 0) throw new InvalidArgumentError('name at least one profile.');
  return names;
}

let stopping = false;

/** Sleeps `ms` in steps of a second, less after a SIGINT. */
async function soakFor(ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (let step = 0; step < ms / 1000 + 1 && Date.now() < end && !stopping; step++) await sleep(Math.min(1000, end - Date.now()));
}

const between = ([low, high]: readonly [number, number]) => low + Math.floor(Math.random() * (high - low + 1));

/** stress-ng, its files under `dir`; on SIGTERM it stops its own workers. */
async function startStress(dir: string, seconds: number): Promise<RunningCommand> {
  const stress = start('stress-ng', ['--cpu', '0', '--io', '1', '--hdd', '1', '--hdd-bytes', '256M', '--hdd-opts', 'fsync', '--temp-path', dir, '--timeout', `${seconds}s`, '--quiet'], {
    stdio: 'ignore',
  });
  await stress.started();
  return stress;
}

async function history(cluster: LocalCluster): Promise<HistoryEntry[]> {
  for (let attempt = 0; attempt < 30; attempt++) {
    const leader = await cluster.leader();
    const answer = leader ? await cluster.rest(leader, { path: '/history' }) : undefined;
    if (answer?.status === 200) return JSON.parse(answer.body) as HistoryEntry[];
    await sleep(2_000);
  }
  throw new Error("no leader answered Patroni's /history within 60 s");
}

function logSize(file: string): number {
  return fs.existsSync(file) ? fs.statSync(file).size : 0;
}

function linesSince(file: string, offset: number): string[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file).subarray(offset).toString('utf8').split('\n');
}

async function soak(profile: string, soakMinutes: number, log: (line: string) => void): Promise<SoakRun> {
  const startedAt = new Date().toISOString();
  const stressDir = fs.mkdtempSync(path.join('/var/tmp', 'cdkf-soak-stress-'));
  let stress: RunningCommand | undefined;
  try {
    const cluster = await LocalCluster.up({ clusterName: CLUSTER, nodes: 3, timing: profile as keyof typeof TIMING_PROFILES, log: (l) => log(`  ${l}`) });
    if (stopping) throw new Error('interrupted before the soak began');
    await prepareTable(cluster);
    const before = await history(cluster);
    const patroniLogs = cluster.nodeNames.map((n) => path.join(cluster.nodePaths(n).logDir, 'patroni.log'));
    const offsets = patroniLogs.map(logSize);
    const runTag = `soak-${profile}-${Date.now()}`;
    const durationMs = soakMinutes * 60_000;
    const writer = await startWriter(cluster, { runTag, targets: [{ label: 'front', uri: cluster.writerUri }], intervalMs: WRITE_INTERVAL_MS, durationMs: durationMs + 300_000 });
    const start = Date.now();
    stress = await startStress(stressDir, soakMinutes * 60 + 30);
    log(`${profile}: soaking for ${soakMinutes} min (stress-ng pid ${stress.pid})`);

    const pauses: EtcdPause[] = [];
    const leaders: string[] = [];
    const sampler = (async () => {
      for (let look = 0; look < soakMinutes * 60 + 60 && Date.now() - start < durationMs && !stopping; look++) {
        const leader = await cluster.leader();
        if (leader && leader !== leaders[leaders.length - 1]) {
          leaders.push(leader);
          if (leaders.length > 1) log(`${profile}: leader now ${leader}`);
        }
        await sleep(1_000);
      }
    })();
    for (let n = 0; n < durationMs / PAUSE_EVERY_MS[0] + 1; n++) {
      const wait = between(PAUSE_EVERY_MS);
      if (Date.now() - start + wait >= durationMs || stopping) break;
      await soakFor(wait);
      if (stopping) break;
      const node = cluster.nodeNames[Math.floor(Math.random() * cluster.nodeNames.length)]!;
      const ms = between(PAUSE_FOR_MS);
      const at = Date.now() - start;
      if (await cluster.pauseEtcd(node, ms)) pauses.push({ at, node, ms });
    }
    await soakFor(durationMs - (Date.now() - start));
    await sampler;
    const ranMs = Date.now() - start;
    await stress.stop();
    const events = await writer.stop();
    // A promotion reaches /history at the new leader's next loop.
    await sleep((cluster.timing.loopWaitSeconds + 2) * 1000);
    const after = await history(cluster);
    const present = await presentIds(cluster, runTag);
    const health = await cluster.health();
    const acks = acknowledged(events);
    const run: SoakRun = {
      profile,
      ok: true,
      startedAt,
      minutes: Math.round(ranMs / 6_000) / 10,
      etcdPauses: pauses,
      promotions: after.slice(before.length),
      leaders,
      demotionLines: patroniLogs.flatMap((file, i) => linesSince(file, offsets[i]!).filter((l) => DEMOTION.test(l))),
      attempted: events.length,
      acked: acks.length,
      failed: events.length - acks.length,
      failures: failureCounts(events.filter((e) => !e.ok).map((e) => e.error ?? 'no error text')),
      longestGapMs: availability(events, start).longestGapMs,
      lost: lostWrites(events, present).length,
      overlappingWriteWindows: overlappingWindows(writeWindows(events)).length,
      healthyAtEnd: health.healthy,
    };
    log(`${profile}: ${run.promotions!.length} failovers, ${run.failed} of ${run.attempted} writes failed, longest gap ${run.longestGapMs} ms, ${run.lost} lost`);
    return run;
  } catch (err) {
    const error = String((err as Error)?.message ?? err).split('\n')[0]!;
    log(`${profile}: FAILED: ${error}`);
    return { profile, ok: false, error, startedAt };
  } finally {
    if (stress) await stress.stop();
    await LocalCluster.down({ clusterName: CLUSTER, log: (l) => log(`  ${l}`) });
    fs.rmSync(stressDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const opts = new Command('soak')
    .addOption(new Option('--minutes <n>', 'how long each profile soaks').argParser(minutes).default(30))
    .addOption(new Option('--profiles <list>', 'timing profiles, comma-separated').argParser(profiles).default(['default', 'fast']))
    .exitOverride()
    // One line, from main's catch: commander would print the error first.
    .configureOutput({ outputError: () => undefined })
    .parse(process.argv)
    .opts<{ minutes: number; profiles: string[] }>();
  const log = (line: string) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}`);
  await ensurePackages(['stress-ng'], log);
  const startedAt = new Date().toISOString();
  const env = await environment();
  const runs: SoakRun[] = [];
  const save = (complete: boolean) => {
    const results: SoakResults = {
      command: `npm run soak -- --minutes ${opts.minutes} --profiles ${opts.profiles.join(',')}`,
      startedAt,
      finishedAt: complete ? new Date().toISOString() : undefined,
      complete,
      stress: `stress-ng --cpu 0 --io 1 --hdd 1 --hdd-opts fsync, one etcd member of three stopped ${PAUSE_FOR_MS[0] / 1000}–${PAUSE_FOR_MS[1] / 1000} s, ${PAUSE_EVERY_MS[0] / 1000}–${PAUSE_EVERY_MS[1] / 1000} s between pauses, a write every ${WRITE_INTERVAL_MS} ms`,
      environment: env,
      timings: Object.fromEntries(opts.profiles.map((p) => [p, TIMING_PROFILES[p as keyof typeof TIMING_PROFILES]])),
      runs,
    };
    fs.writeFileSync(path.join(OUT, 'soak-results.json'), `${JSON.stringify(results, null, 2)}\n`);
    fs.writeFileSync(path.join(OUT, 'soak-results.md'), renderSoakMarkdown(results));
  };
  process.on('SIGINT', () => {
    stopping = true;
    log('SIGINT: ending this soak early (its figures are kept), then tearing down');
  });
  for (const profile of opts.profiles) {
    if (stopping) break;
    runs.push(await soak(profile, opts.minutes, log));
    save(false);
  }
  save(!stopping);
  log(`wrote ${path.join(OUT, 'soak-results.json')} and soak-results.md`);
}

main().catch((err: unknown) => {
  console.error(`soak: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  process.exitCode = 1;
});
