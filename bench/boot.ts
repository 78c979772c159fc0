// The booted rehearsal's timings on this machine: first boot of a 3-node cluster from the
// template's user data, then reboots and replacements of a replica, each until every member
// streams again. Root only; the image must be built once before (the first `up --boot` does it).
//
//   npm run bench:boot [-- --runs 3]
//
// Writes bench/boot-results.json. Not asserted anywhere: these are measurements, not tests.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalCluster } from '../lib/local';

const CLUSTER = 'benchboot';
const OUT = path.join(__dirname, 'boot-results.json');

function parseRuns(argv: readonly string[]): number {
  if (argv.length === 0) return 3;
  const [flag, value] = argv[0] === '--runs' ? [argv[0], argv[1]] : argv[0]!.split('=', 2);
  const runs = Number(value);
  if (flag !== '--runs' || argv.length > 2 || !Number.isInteger(runs) || runs < 1 || runs > 20) {
    throw new Error(`usage: npm run bench:boot [-- --runs N] (N from 1 to 20), got '${argv.join(' ')}'`);
  }
  return runs;
}

const seconds = (ms: number) => Math.round(ms / 100) / 10;

/** Seconds the node's user data ran (systemd's own start and exit timestamps of the unit). */
async function userDataSeconds(cluster: LocalCluster, name: string): Promise<number> {
  const r = await cluster.runOnNode(name, ['systemctl', 'show', '--property=ExecMainStartTimestampMonotonic,ExecMainExitTimestampMonotonic', 'cdk-failover-rehearsal-user-data.service']);
  const p = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
  return seconds((Number(p.ExecMainExitTimestampMonotonic) - Number(p.ExecMainStartTimestampMonotonic)) / 1000);
}

async function main(): Promise<void> {
  const runs = parseRuns(process.argv.slice(2));
  const log = (line: string) => console.error(`[${CLUSTER}] ${line}`);
  await LocalCluster.down({ clusterName: CLUSTER, log });
  const t0 = Date.now();
  const cluster = await LocalCluster.up({ clusterName: CLUSTER, nodes: 3, timing: 'fast', boot: true, log });
  const firstBoot = { clusterStreamingSeconds: seconds(Date.now() - t0), userDataSeconds: {} as Record<string, number> };
  for (const name of cluster.nodeNames) firstBoot.userDataSeconds[name] = await userDataSeconds(cluster, name);
  const reboots: number[] = [];
  const replacements: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      for (const [kind, out] of [['reboot', reboots], ['replace', replacements]] as const) {
        const leader = await cluster.waitForLeader({ timeoutMs: 120_000 });
        const replica = cluster.nodeNames.find((n) => n !== leader)!;
        const t = Date.now();
        await (kind === 'reboot' ? cluster.reboot(replica) : cluster.replace(replica));
        await cluster.waitForHealthy({ timeoutMs: 600_000, members: cluster.nodeNames, intervalMs: 200 });
        out.push(seconds(Date.now() - t));
        log(`${kind} of ${replica}: streaming again after ${out[out.length - 1]} s`);
      }
    }
  } finally {
    await cluster.down();
  }
  const result = {
    measuredAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 1024 ** 3) },
    command: 'npm run bench:boot -- --runs ' + runs,
    firstBoot,
    replicaRebootToStreamingSeconds: reboots,
    replicaReplacementToStreamingSeconds: replacements,
  };
  fs.writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
}

main().catch((err: unknown) => {
  console.error(`bench:boot: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
