// Backup and restore on this machine: a local 3-node cluster with backups (FAST timing) loaded
// with pgbench to --size-gib, then a full backup (pgBackRest on the leader, zstd, process-max 2,
// into the S3 stand-in over TLS); a bare `pgbackrest restore` of it into an empty directory; and a
// point-in-time restore into a new 3-node cluster, with the rows at the target counted. Root only.
// pgbench's rows are blank-padded and compress about 20:1; `--data random` loads random bytes
// (pgcrypto's gen_random_bytes, rows too small to be TOASTed) that do not compress at all.
//
//   npm run bench:backup [-- --size-gib 1] [--data pgbench|random]
//
// Writes bench/backup-results-<data>.json. Not asserted anywhere: measurements, not tests (the drills in
// test/cluster/backup.test.ts assert PITR's exactness).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { LocalCluster } from '../lib/local';
import { listBackups, takeBackup, waitForArchived } from '../lib/local/backup/operations';
import { findNode, pgBackRestCommand } from '../lib/patroni/config';

const SOURCE = 'benchbk';
const RESTORED = 'benchbkr';
const OUT = (data: string) => path.join(__dirname, `backup-results-${data}.json`);
/** pgbench's scale per GiB: one scale step is 100 000 accounts, about 15 MiB with its index. */
const SCALE_PER_GIB = 68;
const MARKS = 1000;
/** Rows of 1000 random bytes per GiB (about 1070 bytes each on disk with their headers). */
const RANDOM_ROWS_PER_GIB = 1_000_000;

function sizeGiB(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.05 || n > 8) throw new InvalidArgumentError(`must be a number of GiB from 0.05 to 8, got '${value}'.`);
  return n;
}

const secs = (ms: number) => Math.round(ms / 100) / 10;
const mbps = (bytes: number, seconds: number) => Math.round((bytes / 1e6 / seconds) * 10) / 10;

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const t = Date.now();
  const value = await fn();
  return { value, seconds: secs(Date.now() - t) };
}

async function main(): Promise<void> {
  const opts = new Command('bench:backup')
    .addOption(new Option('--size-gib <n>', 'database size to load').argParser(sizeGiB).default(1))
    .addOption(new Option('--data <kind>', 'what to load').choices(['pgbench', 'random']).default('pgbench'))
    .exitOverride()
    // One line, from main's catch: commander would print the error first.
    .configureOutput({ outputError: () => undefined })
    .parse(process.argv)
    .opts<{ sizeGib: number; data: 'pgbench' | 'random' }>();
  const stateRoot = fs.mkdtempSync(path.join('/var/tmp', 'cdkf-bench-backup-'));
  fs.chmodSync(stateRoot, 0o755);
  const log = (line: string) => console.error(`[bench:backup] ${line}`);
  try {
    const source = await LocalCluster.up({ clusterName: SOURCE, stateRoot, timing: 'fast', backup: true, log });
    const scale = Math.max(1, Math.round(opts.sizeGib * SCALE_PER_GIB));
    log(opts.data === 'pgbench' ? `loading pgbench at scale ${scale}` : `loading ${opts.sizeGib} GiB of random bytes`);
    const load = await timed<unknown>(() =>
      opts.data === 'pgbench'
        ? source.runInClient(['pgbench', '-i', '-q', '-s', String(scale)], { timeoutMs: 3_600_000 })
        : source.sql(
            `create extension pgcrypto; create table noise (b bytea); insert into noise select gen_random_bytes(1000) from generate_series(1, ${Math.round(opts.sizeGib * RANDOM_ROWS_PER_GIB)})`,
            { timeoutMs: 3_600_000 },
          ),
    );
    const databaseBytes = Number(await source.sql("select pg_database_size('postgres')"));
    await waitForArchived(source);

    log('full backup');
    const backup = await timed(() => takeBackup(source, 'full'));
    const [full] = (await listBackups(source)).backups.filter((b) => b.type === 'full');

    // A bare restore of that backup into an empty directory on a replica: pgBackRest's own speed.
    const leader = (await source.leader())!;
    const replica = source.nodeNames.find((n) => n !== leader)!;
    const into = path.join(stateRoot, 'bare-restore');
    fs.mkdirSync(into, { mode: 0o700 });
    await source.runOnNode(replica, ['chown', 'postgres:postgres', into]);
    const restoreArgs = [`--pg1-path=${into}`, `--set=${full!.label}`, '--type=immediate', '--archive-mode=off', 'restore'];
    const command = pgBackRestCommand(source.spec, findNode(source.spec, replica), restoreArgs);
    const bare = await timed(() => source.runOnNode(replica, ['runuser', '-u', 'postgres', '--', ...command.split(' ')], { timeoutMs: 3_600_000 }));
    fs.rmSync(into, { recursive: true, force: true });

    // Point in time: MARKS rows committed before the target, MARKS after it.
    await source.sql(`create table marks (id int primary key, at timestamptz default clock_timestamp()); insert into marks (id) select generate_series(1, ${MARKS})`);
    await new Promise((r) => setTimeout(r, 1100));
    const target = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1100));
    await source.sql(`insert into marks (id) select generate_series(${MARKS + 1}, ${2 * MARKS})`);
    await waitForArchived(source);
    log(`restore to ${target} into a new cluster`);
    const restored = await timed(() =>
      LocalCluster.up({ clusterName: RESTORED, stateRoot, timing: 'fast', restoreFrom: { cluster: SOURCE, target: { type: 'time', time: target } }, log }),
    );
    const rowsAtTarget = Number(await restored.value.sql('select count(*) from marks'));

    const result = {
      measuredAt: new Date().toISOString(),
      machine: { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 1024 ** 3) },
      command: `npm run bench:backup -- --size-gib ${opts.sizeGib} --data ${opts.data}`,
      data: opts.data === 'pgbench' ? `pgbench -i -s ${scale}` : 'random bytes (pgcrypto gen_random_bytes)',
      databaseBytes,
      loadSeconds: load.seconds,
      fullBackup: { seconds: backup.seconds, repositoryBytes: full!.sizeBytes, databaseMBps: mbps(databaseBytes, backup.seconds), from: backup.value.standby ? 'replica' : 'leader' },
      bareRestore: { seconds: bare.seconds, databaseMBps: mbps(databaseBytes, bare.seconds) },
      pointInTimeRestore: {
        secondsToHealthyCluster: restored.seconds,
        rowsCommittedBeforeTarget: MARKS,
        rowsAtTarget,
        exact: rowsAtTarget === MARKS,
      },
    };
    fs.writeFileSync(OUT(opts.data), `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
  } finally {
    for (const name of [RESTORED, SOURCE]) await LocalCluster.down({ clusterName: name, stateRoot });
    fs.rmSync(stateRoot, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench:backup: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  process.exitCode = 1;
});
