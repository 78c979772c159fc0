// Regional recovery on this machine: two local clusters as two regions (FAST timing), the second a
// standby of the first, fed from the first's repository alone or also by streaming through the
// local link (--feed). Each run: a write every 100 ms to both writer endpoints, every node of the
// primary killed 20 s in, the standby promoted at once (failover promote --local). Measured per
// run: RTO, from the loss to the first write the promoted standby acknowledged; RPO, the
// acknowledged writes missing from it and the age at the loss of the oldest of them. Root only.
//
//   npm run bench:regional [-- --runs 3] [--feed both|repository|streaming]
//
// Writes bench/regional-results.json. Not asserted anywhere: measurements, not tests (the drills in
// test/cluster/standby*.test.ts assert the RPO bounds).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { LocalCluster } from '../lib/local';
import { takeBackup } from '../lib/local/backup/operations';
import { LOCAL_ARCHIVE_TIMEOUT_SECONDS } from '../lib/local/backup/repository';
import { promoteStandby } from '../lib/local/standby';
import { lostWrites } from '../test/cluster/drills/analysis';
import { prepareTable, presentIds, startWriter, waitForEvent } from '../test/cluster/drills/drills';
import { environment } from './environment';

const PRIMARY = 'rgpri';
const STANDBY = 'rgsec';
const OUT = path.join(__dirname, 'regional-results.json');
const MINUTE = 60_000;
/** How long both writers run before the primary's region is lost. */
const WRITES_BEFORE_LOSS_MS = 20_000;
type Feed = 'repository' | 'streaming';

interface RegionalRun {
  readonly feed: Feed;
  readonly acknowledged: number;
  readonly lost: number;
  /** How long before the loss the oldest lost write was acknowledged (0 when none was lost). */
  readonly oldestLostSeconds: number;
  /** From the loss to the first write the promoted standby acknowledged. */
  readonly rtoSeconds: number;
  /** From the /config change to that write. */
  readonly writableAfterPromotionSeconds: number;
}

function runCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 20) throw new InvalidArgumentError(`must be a whole number from 1 to 20, got '${value}'.`);
  return n;
}

const secs = (ms: number) => Math.round(ms / 100) / 10;

async function regionLost(feed: Feed, run: number, stateRoot: string, log: (line: string) => void): Promise<RegionalRun> {
  const open = (clusterName: string) => LocalCluster.open({ clusterName, stateRoot, log });
  try {
    const primary = await LocalCluster.up({ clusterName: PRIMARY, stateRoot, timing: 'fast', backup: true, log });
    await prepareTable(primary);
    await takeBackup(primary, 'full');
    const standby = await LocalCluster.up({ clusterName: STANDBY, stateRoot, timing: 'fast', standbyOf: PRIMARY, streaming: feed === 'streaming', log });
    const runTag = `rg${run}${Date.now().toString(36)}`;
    const writerA = await startWriter(primary, { runTag, targets: [{ label: 'a', uri: primary.writerUri }], intervalMs: 100 });
    const writerB = await startWriter(standby, { runTag: `${runTag}b`, targets: [{ label: 'b', uri: standby.writerUri }], intervalMs: 100 });
    await waitForEvent(writerA, 'writes on the primary', (e) => e.ok, MINUTE);
    await new Promise((r) => setTimeout(r, WRITES_BEFORE_LOSS_MS));
    const lossAt = Date.now();
    for (const node of primary.nodeNames) await primary.kill(node);
    const promoted = await promoteStandby(standby, { open });
    await waitForEvent(writerB, 'a write acknowledged by the promoted standby', (e) => e.ok, MINUTE);
    await writerA.stop();
    await writerB.stop();
    const present = await presentIds(standby, runTag);
    const acked = writerA.events.filter((e) => e.ok);
    const lost = new Set(lostWrites(writerA.events, present));
    const lostAt = acked.filter((e) => lost.has(e.id)).map((e) => e.t1);
    const firstOnB = Math.min(...writerB.events.filter((e) => e.ok && e.t0 >= lossAt).map((e) => e.t1));
    return {
      feed,
      acknowledged: acked.length,
      lost: lost.size,
      oldestLostSeconds: lostAt.length ? secs(lossAt - Math.min(...lostAt)) : 0,
      rtoSeconds: secs(firstOnB - lossAt),
      writableAfterPromotionSeconds: Math.round(promoted.writableAfterSeconds * 10) / 10,
    };
  } finally {
    for (const name of [STANDBY, PRIMARY]) await LocalCluster.down({ clusterName: name, stateRoot });
  }
}

async function main(): Promise<void> {
  const opts = new Command('bench:regional')
    .addOption(new Option('--runs <n>', 'region losses per feed').argParser(runCount).default(3))
    .addOption(new Option('--feed <feed>', 'which feeds').choices(['both', 'repository', 'streaming']).default('both'))
    .exitOverride()
    // One line, from main's catch: commander would print the error first.
    .configureOutput({ outputError: () => undefined })
    .parse(process.argv)
    .opts<{ runs: number; feed: Feed | 'both' }>();
  const feeds: Feed[] = opts.feed === 'both' ? ['repository', 'streaming'] : [opts.feed];
  const env = await environment(['patroni', 'etcd-server', 'haproxy', 'postgresql-15', 'pgbackrest']);
  const log = (line: string) => console.error(`[bench:regional] ${line}`);
  const runs: RegionalRun[] = [];
  for (const feed of feeds) {
    for (let run = 1; run <= opts.runs; run++) {
      const stateRoot = fs.mkdtempSync(path.join('/var/tmp', 'cdkf-bench-regional-'));
      fs.chmodSync(stateRoot, 0o755);
      try {
        const result = await regionLost(feed, run, stateRoot, log);
        log(`${feed} run ${run}: ${JSON.stringify(result)}`);
        runs.push(result);
      } finally {
        fs.rmSync(stateRoot, { recursive: true, force: true });
      }
    }
  }
  const result = {
    measuredAt: new Date().toISOString(),
    command: `npm run bench:regional -- --runs ${opts.runs} --feed ${opts.feed}`,
    environment: env,
    archiveTimeoutSeconds: LOCAL_ARCHIVE_TIMEOUT_SECONDS,
    writeIntervalMs: 100,
    runs,
  };
  fs.writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
}

main().catch((err: unknown) => {
  console.error(`bench:regional: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  process.exitCode = 1;
});
