// Backups and point-in-time recovery on the local cluster, for real: pgBackRest 2.45 archives and
// backs up through its S3 driver over TLS into the S3 stand-in, and restores make new clusters.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalCluster, listNamespaces, namespacePrefix } from '../../lib/local';
import { listBackups, takeBackup, waitForArchived } from '../../lib/local/backup/operations';
import { postgresUser } from '../../lib/local/layout';
import { issueClusterCertificates } from '../../lib/tls/cluster-certificates';
import { sleep } from '../../lib/ops/poll';
import { backupRunnerPath, configFilePath, findNode, nodePaths, pgBackRestConfigPath } from '../../lib/patroni/config';

const SOURCE = 'bksrc';
const MINUTE = 60_000;

async function restore(stateRoot: string, into: string, to: LocalRestoreTarget, log: (l: string) => void): Promise<LocalCluster> {
  return LocalCluster.up({ clusterName: into, stateRoot, timing: 'fast', restoreFrom: { cluster: SOURCE, target: to }, log });
}

type LocalRestoreTarget = { type: 'latest' } | { type: 'time'; time: string };

async function ids(cluster: LocalCluster, table: string): Promise<number[]> {
  const out = await cluster.sql(`select id from ${table} order by id`);
  return out ? out.split('\n').map(Number) : [];
}

if (process.env.SKIP_CLUSTER === '1') {
  test('the backup drills are skipped on purpose (SKIP_CLUSTER=1)', () => {
    expect(process.env.SKIP_CLUSTER).toBe('1');
  });
} else {
  describe('backups and point-in-time recovery (pgBackRest into the S3 stand-in)', () => {
    const stateRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'cdkf-backup-'));
    // etcd and postgres reach their trees through it (mkdtemp makes it 0700).
    fs.chmodSync(stateRoot, 0o755);
    const log = (line: string) => console.log(`[backup] ${line}`);
    let source: LocalCluster;
    let first: { node: string; standby: boolean; leader: string };

    // Every cluster this suite makes: a run killed half-way leaves them, and a restore refuses a name that exists.
    const made = [SOURCE, 'bkpitr', 'bklatest', 'bklost', 'bkbad'];

    beforeAll(async () => {
      for (const name of made.slice(1)) await LocalCluster.down({ clusterName: name, stateRoot });
      source = await LocalCluster.up({ clusterName: SOURCE, stateRoot, timing: 'fast', backup: true, log });
      const leader = (await source.leader())!;
      first = { ...(await takeBackup(source, 'full')), leader };
    }, 10 * MINUTE);

    afterAll(async () => {
      for (const name of made) await LocalCluster.down({ clusterName: name, stateRoot });
      fs.rmSync(stateRoot, { recursive: true, force: true });
    }, 5 * MINUTE);

    test('the full backup is listed, and WAL is archived from the leader', async () => {
      const info = await listBackups(source);
      expect(info.backups.map((b) => b.type)).toEqual(['full']);
      expect(info.archive?.min).toMatch(/^0{7}1/);
      // (A failure or two before post_init has made the stanza is expected; archiving must work after.)
      await waitForArchived(source);
    });

    test('the backup was taken from a replica (backup-standby, the leader as pg2 through its TLS server)', () => {
      expect(first.standby).toBe(true);
      expect(first.node).not.toBe(first.leader);
    });

    /** A backup from a replica with the leader as pg2, showing the leader's TLS server `certificate` (or none). */
    async function backupThroughLeaderServer(certificate: { certFile: string; keyFile: string } | undefined) {
      const leader = (await source.waitForLeader({ timeoutMs: MINUTE }))!;
      const replica = source.nodeNames.find((n) => n !== leader)!;
      const own = source.nodePaths(replica);
      const theirs = source.nodePaths(leader);
      const tls = source.restApiTls as { caFile: string };
      const dir = fs.mkdtempSync(path.join(own.configDir, 'client-test-'));
      fs.chownSync(dir, postgresUser().uid, postgresUser().gid);
      try {
        // The client's pair, readable by postgres for this one run; removed after.
        const shown = certificate && { certFile: path.join(dir, 'client.crt'), keyFile: path.join(dir, 'client.key') };
        if (certificate && shown) {
          fs.copyFileSync(certificate.certFile, shown.certFile);
          fs.copyFileSync(certificate.keyFile, shown.keyFile);
          for (const file of [shown.certFile, shown.keyFile]) fs.chownSync(file, postgresUser().uid, postgresUser().gid);
        }
        const r = await source.runOnNode(
          replica,
          ['runuser', '-u', 'postgres', '--', 'pgbackrest', `--config=${pgBackRestConfigPath(own)}`, `--stanza=${SOURCE}`, '--backup-standby',
            `--pg2-host=${source.nodeAddress(leader)}`, '--pg2-host-type=tls',
            ...(shown ? [`--pg2-host-cert-file=${shown.certFile}`, `--pg2-host-key-file=${shown.keyFile}`] : []),
            `--pg2-host-ca-file=${tls.caFile}`, `--pg2-path=${theirs.dataDir}`, `--pg2-socket-path=${theirs.socketDir}`, '--type=incr', 'backup'],
          { allowFailure: true, timeoutMs: 2 * MINUTE },
        );
        return { code: r.code, output: r.stdout + r.stderr, leaderAddress: source.nodeAddress(leader), replica };
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }

    test("pgBackRest's TLS server refuses a certificate it does not authorize (the operator's, from the cluster CA)", async () => {
      const r = await backupThroughLeaderServer(source.restApiTls as { certFile: string; keyFile: string });
      expect(r.code).not.toBe(0);
      expect(r.output).toContain(`raised from remote-0 tls protocol on '${r.leaderAddress}': access denied`);
    }, 3 * MINUTE);

    test("pgBackRest's TLS server refuses a node's own name signed by another CA, and a client without a certificate", async () => {
      const before = (await listBackups(source)).backups.length;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'other-ca-'));
      try {
        const leader = await source.waitForLeader({ timeoutMs: MINUTE });
        const replica = source.nodeNames.find((n) => n !== leader)!;
        const other = issueClusterCertificates({ clusterName: SOURCE, nodes: [{ name: replica, address: source.nodeAddress(replica) }], days: 1 });
        const foreign = { certFile: path.join(dir, 'node.crt'), keyFile: path.join(dir, 'node.key') };
        fs.writeFileSync(foreign.certFile, other.nodes[replica]!.certificatePem);
        fs.writeFileSync(foreign.keyFile, other.nodes[replica]!.privateKeyPem, { mode: 0o600 });
        const forged = await backupThroughLeaderServer(foreign);
        expect(forged.code).not.toBe(0);
        expect(forged.output).toMatch(/TLS error \[[\d:]+\] tlsv1 alert unknown ca/);
        // pgBackRest's own client will not go without a certificate...
        const anonymous = await backupThroughLeaderServer(undefined);
        expect(anonymous.code).not.toBe(0);
        expect(anonymous.output).toContain('backup command requires option: pg2-host-cert-file');
        // ...and the server gives a session without one its greeting alone, then closes it (pgBackRest
        // 2.45's TLS server: "the client can only detect that the server is alive").
        const caFile = (source.restApiTls as { caFile: string }).caFile;
        const bare = await source.runOnNode(
          replica,
          // -quiet reads on after its input ends (-ign_eof): only the server's close ends it before `timeout` (124).
          ['timeout', '20', 'sh', '-c', `echo config | openssl s_client -connect ${anonymous.leaderAddress}:8432 -CAfile ${caFile} -verify_return_error -quiet`],
          { allowFailure: true, timeoutMs: MINUTE },
        );
        expect(bare.stdout.split('\n')[0]).toMatch(/^\{"name":"pgBackRest","service":"remote","version":"2\.\d+"\}$/);
        expect(bare.code).not.toBe(124);
        expect(bare.stderr).toContain('verify return:1');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      expect((await listBackups(source)).backups.length).toBe(before);
    }, 5 * MINUTE);

    /**
     * Heals a killed node and waits, bounded, for a healthy cluster; if it is not, every node's latest
     * logs are printed. A tiny WAL record on the leader each round: a node rewound from a leader
     * idle just after a segment switch (a backup's stop, archive_timeout) must replay WAL up to
     * pg_rewind's minimum recovery point, the leader's insert position at the next segment's first
     * record, which exists only once the leader writes (seen here: 'Consistent recovery state has
     * not been yet reached' for 3 minutes; backups.md). Any client's write does the same.
     */
    async function healAndWait(node: string): Promise<void> {
      await source.heal(node);
      const deadline = Date.now() + 3 * MINUTE;
      for (let i = 0; i < 60 && Date.now() < deadline; i++) {
        // An assigned transaction ID: its commit is a WAL record.
        await source.trySql('select txid_current()', { timeoutMs: 5000 });
        if ((await source.health()).healthy) return;
        await sleep(3000);
      }
      const tail = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').slice(-25).join('\n') : `(no ${file})`);
      for (const name of source.nodeNames) {
        const logs = path.join(stateRoot, SOURCE, name, 'log');
        const pg = fs.readdirSync(logs).filter((f) => f.startsWith('postgresql'));
        console.log(`[backup] ${name} after ${node}'s heal:\n${tail(path.join(logs, 'patroni.log'))}\n${pg.map((f) => tail(path.join(logs, f))).join('\n')}`);
      }
      throw new Error(`the cluster was not healthy within 3 minutes of healing ${node}: ${(await source.health()).reason}`);
    }

    /** The leader's node metrics, from one run of its publisher (as postgres, like its unit; no aws on PATH, so on stdout). */
    async function leaderGauges(): Promise<Record<string, number>> {
      const leader = await source.waitForLeader({ timeoutMs: MINUTE });
      const script = configFilePath(source.nodePaths(leader), 'metricsPublisher');
      const r = await source.runOnNode(leader, ['runuser', '-u', 'postgres', '--', 'env', '-i', 'PATH=/usr/bin:/bin', '/usr/bin/python3', '-I', script, '--once'], {
        timeoutMs: 3 * MINUTE,
        allowFailure: true,
      });
      expect({ code: r.code, stderr: r.stderr.trim() }).toEqual({ code: 0, stderr: `metrics publisher ${leader}: no aws command on PATH: metrics are not published` });
      return Object.fromEntries((JSON.parse(r.stdout) as { MetricName: string; Value: number }[]).map((d) => [d.MetricName, d.Value]));
    }

    test("the leader's metrics publisher reads the repository and the archiver: a fresh backup, archiving not failing", async () => {
      const g = await leaderGauges();
      expect(g).toMatchObject({ IsPrimary: 1, WalArchiveFailing: 0 });
      expect(g.BackupAgeSeconds).toBeGreaterThanOrEqual(0);
      expect(g.BackupAgeSeconds).toBeLessThan(30 * 60);
      expect(g.BackupRepositorySizeBytes).toBeGreaterThan(1_000_000);
      // Archiving is asynchronous: a segment may be waiting, never for long.
      expect(g.WalArchiveWaitSeconds).toBeLessThan(120);
    });

    test('a real archiving failure: the publisher reports it while it lasts, and archiving catches up without a gap after', async () => {
      // postgresql.auto.conf outranks the postgresql.conf Patroni writes: the leader's archive_command fails until reset.
      await source.sql("alter system set archive_command = '/bin/false'");
      await source.sql('select pg_reload_conf()');
      const failing = async () =>
        (await source.sql("select coalesce(last_failed_time > coalesce(last_archived_time, 'epoch'), false) from pg_stat_archiver")) === 't';
      try {
        await source.sql('create table archive_gap (id int)');
        // Bounded: 60 tries, about a minute, for a new segment to fail to archive.
        for (let i = 0; i < 60 && !(await failing()); i++) {
          await source.sql('insert into archive_gap values (1); select pg_switch_wal()');
          await sleep(1000);
        }
        expect(await failing()).toBe(true);
        await sleep(2000); // the oldest waiting segment ages past a second
        const g = await leaderGauges();
        expect(g.WalArchiveFailing).toBe(1);
        expect(g.WalArchiveWaitSeconds).toBeGreaterThan(0);
      } finally {
        await source.sql('alter system reset archive_command');
        await source.sql('select pg_reload_conf()');
      }
      await waitForArchived(source);
      const after = await leaderGauges();
      expect(after.WalArchiveFailing).toBe(0);
      expect(after.WalArchiveWaitSeconds).toBeLessThan(120);
    }, 5 * MINUTE);

    test('a restore to the second before a DROP TABLE has every row committed before it, and none after', async () => {
      await source.sql('create table pitr (id int primary key, at timestamptz not null default clock_timestamp())');
      for (let i = 1; i <= 3; i++) await source.sql(`insert into pitr (id) values (${i})`);
      const lastBefore = await source.sql('select max(at) from pitr');
      // The target: a moment strictly after row 3's commit and before row 4's.
      await new Promise((r) => setTimeout(r, 1100));
      const target = new Date(Date.now() - 500).toISOString();
      await new Promise((r) => setTimeout(r, 600));
      for (let i = 4; i <= 5; i++) await source.sql(`insert into pitr (id) values (${i})`);
      const firstAfter = await source.sql('select min(at) from pitr where id = 4');
      expect(Date.parse(lastBefore.replace(' ', 'T').replace(/\+00$/, 'Z'))).toBeLessThan(Date.parse(target));
      expect(Date.parse(firstAfter.replace(' ', 'T').replace(/\+00$/, 'Z'))).toBeGreaterThan(Date.parse(target));
      await source.sql('drop table pitr');
      await waitForArchived(source);

      const restored = await restore(stateRoot, 'bkpitr', { type: 'time', time: target }, log);
      try {
        expect(await ids(restored, 'pitr')).toEqual([1, 2, 3]);
        expect((await restored.status()).nodes.map((n) => n.role).sort()).toEqual(['leader', 'replica', 'sync_standby']);
      } finally {
        await restored.down();
      }
      // The source is not touched by a restore from its repository.
      expect(await source.sql("select to_regclass('pitr') is null")).toBe('t');
    }, 10 * MINUTE);

    test('bad input is refused and leaves nothing behind', async () => {
      await expect(restore(stateRoot, SOURCE, { type: 'latest' }, log)).rejects.toThrow(/--into must differ from the source 'bksrc'/);
      await expect(restore(stateRoot, 'bkbad', { type: 'time', time: '2020-01-01T00:00:00Z' }, log)).rejects.toThrow(
        /restore into 'bkbad' failed and was removed: the restore target 2020-01-01T00:00:00Z is before the oldest backup of 'bksrc'/,
      );
      await expect(restore(stateRoot, 'bkbad', { type: 'time', time: '2999-01-01T00:00:00Z' }, log)).rejects.toThrow(/is in the future/);
      await expect(
        LocalCluster.up({ clusterName: 'bkbad', stateRoot, timing: 'fast', restoreFrom: { cluster: 'nosuch', target: { type: 'latest' } }, log }),
      ).rejects.toThrow(/no backup of cluster 'nosuch' in the repository/);
      // A name the repository already holds (here: the running source's) is refused before anything is cleared.
      await expect(LocalCluster.up({ clusterName: SOURCE, stateRoot, timing: 'fast', backup: true, log })).rejects.toThrow(
        /the backup repository already holds an earlier cluster 'bksrc'/,
      );
      expect((await listNamespaces()).filter((ns) => ns.startsWith(namespacePrefix('bkbad')))).toEqual([]);
      expect(fs.existsSync(path.join(stateRoot, 'bkbad'))).toBe(false);
      // The source is untouched by all of it.
      expect((await source.health()).healthy).toBe(true);
    }, 10 * MINUTE);

    test("wrong repository credentials: the backup fails with pgBackRest's reason in one line, no backup is added, and the cluster serves on", async () => {
      const files = source.spec.nodes.map((n) => pgBackRestConfigPath(nodePaths(source.spec, n)));
      const originals = files.map((f) => fs.readFileSync(f, 'utf8'));
      const labels = async () => (await listBackups(source)).backups.map((b) => b.label);
      const before = await labels();
      try {
        files.forEach((f, i) => {
          const wrong = originals[i]!.replace(/^(repo1-s3-key)=.*$/m, '$1=NOT-THE-KEY');
          expect(wrong).not.toBe(originals[i]);
          fs.writeFileSync(f, wrong);
        });
        // s3rver refuses any key ID but its own, as S3 refuses a role without access to the bucket.
        // pgBackRest's error is the reason (the refused request; rarely its stanza lock, held by the
        // asynchronous archive-push that fails the same way meanwhile).
        const error = await takeBackup(source, 'full').then(() => undefined, (err: Error) => err.message);
        expect(error).toMatch(/^the full backup on pg-\d failed: ERROR: \[\d+\]: /);
        expect(error!.split('\n')).toHaveLength(1);
      } finally {
        files.forEach((f, i) => fs.writeFileSync(f, originals[i]!));
      }
      expect(await labels()).toEqual(before);
      expect((await source.health()).healthy).toBe(true);
      await waitForArchived(source);
    }, 10 * MINUTE);

    test('the leader killed during writes: the archive has no gap across the new timeline, and latest holds every acknowledged write', async () => {
      await source.sql('create table acked (id int primary key)');
      const acked: number[] = [];
      let next = 1;
      const write = async () => {
        const r = await source.trySql(`insert into acked values (${next}) returning id`, { timeoutMs: 3000 });
        if (r.code === 0 && r.stdout.trim() === String(next)) acked.push(next);
        next++;
      };
      for (let i = 0; i < 20; i++) await write();
      const leader = (await source.leader())!;
      await source.kill(leader);
      const deadline = Date.now() + 2 * MINUTE;
      // Bounded: at most 400 attempts and two minutes, until 20 writes after the failover are acknowledged.
      const ackedBefore = acked.length;
      for (let i = 0; i < 400 && Date.now() < deadline && acked.length < ackedBefore + 20; i++) await write();
      expect(acked.length).toBeGreaterThanOrEqual(ackedBefore + 20);
      await healAndWait(leader);
      await waitForArchived(source);
      const timelines = (await source.status()).nodes.map((n) => n.timeline ?? 0);
      expect(Math.max(...timelines)).toBeGreaterThan(1);

      const restored = await restore(stateRoot, 'bklatest', { type: 'latest' }, log);
      try {
        const got = new Set(await ids(restored, 'acked'));
        expect(acked.filter((id) => !got.has(id))).toEqual([]);
      } finally {
        await restored.down();
      }
    }, 10 * MINUTE);

    test('the leader killed during a scheduled backup from a replica: that backup fails cleanly and another is taken', async () => {
      await source.waitForHealthy({ timeoutMs: 2 * MINUTE });
      // Big enough that the backup is still running when the leader is killed.
      await source.sql('create table bulk as select g as id, md5(g::text) as v from generate_series(1, 1500000) g', { timeoutMs: 5 * MINUTE });
      const startedAt = Math.floor(Date.now() / 1000) * 1000;
      const leader = (await source.leader())!;
      const runner = (name: string) => backupRunnerPath(nodePaths(source.spec, findNode(source.spec, name)));
      // As the timers do: every node runs the runner at once.
      const runs = source.nodeNames.map((name) =>
        source.runOnNode(name, ['python3', '-I', runner(name), 'backup', 'full'], { allowFailure: true, timeoutMs: 10 * MINUTE }).then((r) => ({ name, r })),
      );
      let backingUp: string | undefined;
      for (let i = 0; i < 240 && !backingUp; i++) {
        // A node's own configuration path is in the command line: no other node's or run's pgbackrest matches.
        for (const name of source.nodeNames) {
          const pattern = `pgbackrest --config=${pgBackRestConfigPath(nodePaths(source.spec, findNode(source.spec, name)))} .*--type=full backup`;
          if ((await source.runOnNode(name, ['pgrep', '-f', pattern], { allowFailure: true })).code === 0) backingUp = name;
        }
        if (!backingUp) await new Promise((r) => setTimeout(r, 250));
      }
      // A replica backs up, the leader as its pg2.
      expect(backingUp).toBeDefined();
      expect(backingUp).not.toBe(leader);
      const killedAt = Date.now();
      await source.kill(leader);
      const results = await Promise.all(runs);
      for (const { name, r } of results.filter((x) => x.name !== leader)) {
        expect({ name, code: r.code }).toEqual({ name, code: 0 });
      }
      // The replica's backup lost its pg2 and failed; a retry (from whichever node is named then) completed.
      expect(results.find((x) => x.name === backingUp)!.r.stderr).toMatch(/full backup into repository 1 failed: ERROR: \[\d+\]/);
      // Exactly one new backup, started after the kill: the new leader's (the killed one's never completed).
      const since = (await listBackups(source)).backups.filter((b) => Date.parse(b.started) >= startedAt);
      expect(since.map((b) => b.type)).toEqual(['full']);
      expect(Date.parse(since[0]!.started)).toBeGreaterThanOrEqual(Math.floor(killedAt / 1000) * 1000);
      await healAndWait(leader);
    }, 15 * MINUTE);

    test('every node lost: a restore past the newest archived commit is refused, and a new cluster from the repository serves the data', async () => {
      await source.sql('create table survivor (id int primary key)');
      await source.sql('insert into survivor select generate_series(1, 1000)');
      await waitForArchived(source);
      await source.down();
      // A time after the newest archived commit: with the source down, nothing can commit after it
      // (a running source's autovacuum could, and let the restore reach it). PostgreSQL's FATAL
      // ends the wait at once.
      await sleep(20); // commit times have microseconds, the target milliseconds
      const afterNewest = new Date().toISOString();
      await expect(restore(stateRoot, 'bkbad', { type: 'time', time: afterNewest }, log)).rejects.toThrow(
        `restore into 'bkbad' failed and was removed: recovery ended before the restore target ${afterNewest}: the WAL of 'bksrc' it could read ends earlier`,
      );
      expect((await listNamespaces()).filter((ns) => ns.startsWith(namespacePrefix('bkbad')))).toEqual([]);
      const restored = await restore(stateRoot, 'bklost', { type: 'latest' }, log);
      try {
        expect(await restored.sql('select count(*), sum(id) from survivor')).toBe('1000|500500');
      } finally {
        await restored.down();
      }
    }, 10 * MINUTE);
  });
}
