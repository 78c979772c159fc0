// The failover benchmark: the node-loss (kill), freeze, partition and switchover drills of
// test/cluster/drills/ repeated on a 3-node local rehearsal cluster per timing profile (FAST,
// DEFAULT) and with Patroni's and HAProxy's stock settings as the baseline. Root only.
//
//   npm run bench [-- --runs 5] [--profiles fast,default,stock] [--scenarios kill,freeze,partition,switchover] [--name NAME]
//
// Writes bench/results.json (raw per-run figures and the environment), bench/results.md (the
// table README includes) and bench/failover-timeline.svg (one node-loss failover), rewriting all
// three after every run so that an interrupted benchmark still leaves what it measured. With
// --name NAME: results-NAME.json, results-NAME.md and failover-timeline-NAME.svg, beside them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LocalCluster, TIMING_PROFILES, isTimingProfileName } from '../lib/local';
import { environment } from './environment';
import { failoverDrill, summarize, switchoverDrill, type DrillResult } from '../test/cluster/drills/drills';
import { renderMarkdown, renderTimelineSvg, type BenchResults, type BenchRun, type BenchScenario } from './report';

const CLUSTER = 'bench';
const OUT = __dirname;
const SCENARIOS: readonly BenchScenario[] = ['kill', 'freeze', 'partition', 'switchover'];

interface Args {
  runs: number;
  profiles: string[];
  scenarios: BenchScenario[];
  intervalMs: number;
  name: string;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { runs: 5, profiles: ['fast', 'default', 'stock'], scenarios: [...SCENARIOS], intervalMs: 100, name: '' };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2);
    const value = () => inline ?? argv[++i] ?? '';
    switch (flag) {
      case '--runs':
        args.runs = Number(value());
        if (!Number.isInteger(args.runs) || args.runs < 1 || args.runs > 100) throw new Error(`--runs must be a whole number from 1 to 100, got ${args.runs}`);
        break;
      case '--profiles':
        args.profiles = value().split(',').filter(Boolean);
        for (const p of args.profiles) if (!isTimingProfileName(p)) throw new Error(`--profiles: unknown profile '${p}' (${Object.keys(TIMING_PROFILES).join(', ')})`);
        break;
      case '--scenarios':
        args.scenarios = value().split(',').filter(Boolean) as BenchScenario[];
        for (const s of args.scenarios) if (!SCENARIOS.includes(s)) throw new Error(`--scenarios: unknown scenario '${s}' (${SCENARIOS.join(', ')})`);
        break;
      case '--interval-ms':
        args.intervalMs = Number(value());
        break;
      case '--name':
        args.name = value();
        if (!/^[a-z0-9-]{1,20}$/.test(args.name)) throw new Error(`--name must be 1 to 20 of a-z, 0-9 and '-', got '${args.name}'`);
        break;
      default:
        throw new Error(`unknown argument '${argv[i]}' (--runs N, --profiles a,b, --scenarios a,b, --interval-ms N, --name NAME)`);
    }
  }
  return args;
}

function toRun(profile: string, scenario: BenchScenario, run: number, startedAt: string, r: DrillResult): BenchRun {
  const a = r.faults[0]!.availability;
  return {
    profile,
    scenario,
    run,
    ok: true,
    writableAgainMs: a.writableAgainMs,
    gapAroundFaultMs: a.gapAroundFaultMs,
    longestGapMs: a.longestGapMs,
    switchoverMs: r.switchoverMs,
    switchoverParts: r.switchoverTimeline && Object.fromEntries(r.switchoverTimeline.parts.map((p) => [p.name, p.ms])),
    acked: r.acked,
    lost: r.lost.length,
    overlappingWriteWindows: r.overlaps.length,
    healthyAfterHealMs: r.healthyAfterHealMs,
    oldLeader: r.oldLeader,
    leaderAfter: r.leaderAfter,
    startedAt,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const command = `npm run bench -- --runs ${args.runs} --profiles ${args.profiles.join(',')} --scenarios ${args.scenarios.join(',')}${args.name ? ` --name ${args.name}` : ''}`;
  const suffix = args.name ? `-${args.name}` : '';
  const log = (line: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
  const runs: BenchRun[] = [];
  let chart: DrillResult | undefined;
  const startedAt = new Date().toISOString();
  const timings = Object.fromEntries(args.profiles.map((p) => [p, TIMING_PROFILES[p as keyof typeof TIMING_PROFILES]]));
  const env = await environment();
  const save = (complete: boolean) => {
    const results: BenchResults = {
      command,
      startedAt,
      finishedAt: complete ? new Date().toISOString() : undefined,
      complete,
      config: { runs: args.runs, profiles: args.profiles, scenarios: args.scenarios, intervalMs: args.intervalMs },
      environment: env,
      timings,
      runs,
    };
    fs.writeFileSync(path.join(OUT, `results${suffix}.json`), `${JSON.stringify(results, null, 2)}\n`);
    fs.writeFileSync(path.join(OUT, `results${suffix}.md`), renderMarkdown(results));
    if (chart) {
      const names = Object.fromEntries(['pg-0', 'pg-1', 'pg-2'].map((n, i) => [`10.213.77.${11 + i}`, n]));
      fs.writeFileSync(
        path.join(OUT, `failover-timeline${suffix}.svg`),
        renderTimelineSvg({
          title: `Writes through the writer endpoint, ${chart.profile} timing: leader ${chart.oldLeader} killed at 0 s`,
          faultAt: chart.faultAt,
          events: chart.frontEvents,
          names,
        }),
      );
    }
  };

  let stopping = false;
  process.on('SIGINT', () => {
    stopping = true;
    log('SIGINT: finishing the current run, then tearing down');
  });
  // Round-major: each round boots every profile once, so that a benchmark cut short still has
  // every profile and scenario measured.
  for (let run = 1; run <= args.runs && !stopping; run++) {
    for (const profile of args.profiles) {
      if (stopping) break;
      log(`round ${run}, profile ${profile}: booting a 3-node cluster`);
      try {
        const cluster = await LocalCluster.up({ clusterName: CLUSTER, nodes: 3, timing: profile as keyof typeof TIMING_PROFILES, log: (l) => log(`  ${l}`) });
        env.tls = cluster.spec.tls === true;
        for (const scenario of args.scenarios) {
          if (stopping) break;
          const at = new Date().toISOString();
          try {
            const r =
              scenario === 'switchover'
                ? await switchoverDrill(cluster, { intervalMs: args.intervalMs })
                : await failoverDrill(cluster, scenario, { intervalMs: args.intervalMs });
            log(`round ${run}: ${summarize(r)}`);
            runs.push(toRun(profile, scenario, run, at, r));
            if (scenario === 'kill' && (!chart || (chart.profile !== 'fast' && profile === 'fast'))) chart = r;
          } catch (err) {
            const message = String((err as Error)?.message ?? err).split('\n')[0]!;
            log(`round ${run}: ${profile}/${scenario} FAILED: ${message}`);
            runs.push({ profile, scenario, run, ok: false, error: message, startedAt: at });
            await cluster.healAll().catch(() => undefined);
          }
          save(false);
        }
      } catch (err) {
        log(`round ${run}, profile ${profile}: ${String((err as Error)?.message ?? err)}`);
      } finally {
        await LocalCluster.down({ clusterName: CLUSTER, log: (l) => log(`  ${l}`) });
      }
    }
  }
  save(!stopping);
  log(`wrote ${path.join(OUT, `results${suffix}.json`)}, results${suffix}.md, failover-timeline${suffix}.svg`);
}

main().catch((err) => {
  console.error(`bench: ${String((err as Error)?.message ?? err)}`);
  process.exit(1);
});
