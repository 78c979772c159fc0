// Regional recovery with the second feed: a standby cluster that streams from its primary's writer
// endpoint (through the relay standing in for the link between two regions) as well as replaying
// the repository. The primary's region is lost under continuous writes; what the promoted standby
// lost is bounded by the streaming lag, not by archive_timeout.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalCluster } from '../../lib/local';
import { takeBackup } from '../../lib/local/backup/operations';
import { PEERING_PORT } from '../../lib/local/peering';
import { promoteStandby, type PromoteResult } from '../../lib/local/standby';
import { found, notYet, poll } from '../../lib/ops/poll';
import { lostWrites } from './drills/analysis';
import { prepareTable, presentIds, startWriter, waitForEvent, type RunningWriter } from './drills/drills';
import { WRITES_TABLE } from './drills/writer';

const PRIMARY = 'stpri';
const STANDBY = 'stsec';
const MINUTE = 60_000;
/** The local clusters' archive_timeout (lib/local/backup/repository.ts): what the repository feed alone may lose. */
const ARCHIVE_TIMEOUT_MS = 10_000;

if (process.env.SKIP_CLUSTER === '1') {
  test('the streaming standby drills are skipped on purpose (SKIP_CLUSTER=1)', () => {
    expect(process.env.SKIP_CLUSTER).toBe('1');
  });
} else {
  describe('a standby cluster that streams from its primary\'s writer endpoint, promoted when the primary\'s region is lost', () => {
    const stateRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'cdkf-streaming-'));
    fs.chmodSync(stateRoot, 0o755);
    const log = (line: string) => console.log(`[streaming] ${line}`);
    const open = (clusterName: string) => LocalCluster.open({ clusterName, stateRoot, log });
    let primary: LocalCluster;
    let standby: LocalCluster;
    let standbyLeader: string;
    const runTag = `st${Date.now().toString(36)}`;
    const onNode = (cluster: LocalCluster, node: string) => ({ from: node, uri: cluster.nodePostgresUri(node) });

    beforeAll(async () => {
      primary = await LocalCluster.up({ clusterName: PRIMARY, stateRoot, timing: 'fast', backup: true, log });
      await prepareTable(primary);
      await takeBackup(primary, 'full');
      standby = await LocalCluster.up({ clusterName: STANDBY, stateRoot, timing: 'fast', standbyOf: PRIMARY, streaming: true, log });
      standbyLeader = (await standby.members()).find((m) => m.role === 'standby_leader')!.name;
    }, 12 * MINUTE);

    afterAll(async () => {
      for (const name of [STANDBY, PRIMARY]) await LocalCluster.down({ clusterName: name, stateRoot });
      fs.rmSync(stateRoot, { recursive: true, force: true });
    }, 5 * MINUTE);

    test('--streaming without --standby-of is refused before anything is made', async () => {
      await expect(LocalCluster.up({ clusterName: 'stalone', stateRoot, timing: 'fast', streaming: true, log })).rejects.toThrow(
        '--streaming goes with --standby-of: it is how a standby follows its primary',
      );
      expect(fs.existsSync(path.join(stateRoot, 'stalone'))).toBe(false);
    });

    test('the standby leader streams from the primary through the link, and receives a commit by streaming, not from the archive', async () => {
      const receiver = await standby.sql("select status || ' ' || sender_port from pg_stat_wal_receiver", onNode(standby, standbyLeader));
      expect(receiver).toBe(`streaming ${PEERING_PORT}`);
      const lsn = await primary.sql(`with w as (insert into ${WRITES_TABLE} (id, source) values ('${runTag}-streamed', 'setup') returning 1) select pg_current_wal_lsn() from w`);
      // pg_last_wal_receive_lsn() moves only with streaming: WAL restored from the archive does not count.
      await poll(
        'the commit received and replayed by the standby leader',
        async () => {
          const row = await standby.sql(
            `select coalesce(pg_last_wal_receive_lsn() >= '${lsn}'::pg_lsn, false) and exists (select 1 from ${WRITES_TABLE} where id = '${runTag}-streamed')`,
            onNode(standby, standbyLeader),
          );
          return row === 't' ? found(true) : notYet('not received yet');
        },
        { timeoutMs: MINUTE, intervalMs: 250 },
      );
    });

    test("the streaming source is taken off and put back on the running standby through /config (what the node agent PATCHes on a deploy): the standby leader stops and resumes streaming, with no restart", async () => {
      const leaderSql = (sql: string) => standby.sql(sql, onNode(standby, standbyLeader));
      const started = await leaderSql('select pg_postmaster_start_time()');
      const source = (await standby.patroni().dynamicConfig()).standby_cluster as { host: string; port: number };
      const patch = async (standbyCluster: object) => {
        const answer = await standby.rest(standbyLeader, { method: 'PATCH', path: '/config', json: { standby_cluster: standbyCluster }, timeoutMs: 10_000 });
        expect(answer.status).toBe(200);
      };
      const receiver = (want: string) =>
        poll(
          `the standby leader's WAL receiver: ${want}`,
          async () => {
            const now = await leaderSql("select coalesce((select status || ' ' || sender_port from pg_stat_wal_receiver), 'none')");
            return now === want ? found(now) : notYet(now);
          },
          { timeoutMs: MINUTE, intervalMs: 500 },
        );
      await patch({ host: null, port: null });
      await receiver('none');
      const mid = `${runTag}-archive-only`;
      await primary.sql(`insert into ${WRITES_TABLE} (id, source) values ('${mid}', 'setup'); select pg_switch_wal()`);
      await poll('a commit replayed from the archive alone', async () => ((await leaderSql(`select count(*) from ${WRITES_TABLE} where id = '${mid}'`)) === '1' ? found(true) : notYet('not yet')), {
        timeoutMs: MINUTE,
        intervalMs: 500,
      });
      await patch({ host: source.host, port: source.port });
      await receiver(`streaming ${PEERING_PORT}`);
      expect(await leaderSql('select pg_postmaster_start_time()')).toBe(started);
      const me = (await standby.rest(standbyLeader, { path: '/patroni', timeoutMs: 5_000 })).body;
      expect(JSON.parse(me).pending_restart).toBeUndefined();
    });

    describe('the primary region is lost under writes', () => {
      let writerA: RunningWriter;
      let writerB: RunningWriter;
      let lossAt: number;
      let promoted: PromoteResult;

      beforeAll(async () => {
        writerA = await startWriter(primary, { runTag, targets: [{ label: 'a', uri: primary.writerUri }], intervalMs: 100 });
        writerB = await startWriter(standby, { runTag: `${runTag}b`, targets: [{ label: 'b', uri: standby.writerUri }], intervalMs: 100 });
        await waitForEvent(writerA, 'writes on the primary', (e) => e.ok, MINUTE);
        await new Promise((r) => setTimeout(r, 20_000));
        lossAt = Date.now();
        for (const node of primary.nodeNames) await primary.kill(node);
        log(`every node of '${PRIMARY}' killed`);
        promoted = await promoteStandby(standby, { open });
        await waitForEvent(writerB, 'a write acknowledged by the promoted standby', (e) => e.ok, MINUTE);
        await writerA.stop();
        await writerB.stop();
      }, 6 * MINUTE);

      test('what was lost (RPO) is what streaming had not carried yet: far less than archive_timeout', async () => {
        const present = await presentIds(standby, runTag);
        const acked = writerA.events.filter((e) => e.ok);
        const lost = lostWrites(writerA.events, present);
        const lostAt = acked.filter((e) => lost.includes(e.id)).map((e) => e.t1);
        const rpoSeconds = lostAt.length ? (lossAt - Math.min(...lostAt)) / 1000 : 0;
        const firstOnB = Math.min(...writerB.events.filter((e) => e.ok).map((e) => e.t1));
        log(`RPO (streaming): ${lost.length} of ${acked.length} acknowledged writes lost, the oldest ${rpoSeconds.toFixed(1)} s before the loss`);
        log(`RTO (streaming): ${((firstOnB - lossAt) / 1000).toFixed(1)} s from the loss to the first write acknowledged in '${STANDBY}' (promotion writable after ${promoted.writableAfterSeconds.toFixed(1)} s)`);
        expect(acked.filter((e) => e.t1 > lossAt - 5000 && e.t1 <= lossAt).length).toBeGreaterThan(0);
        expect(present.has(`${runTag}-streamed`)).toBe(true);
        // Asynchronous streaming trails by milliseconds on an idle link; a loaded 2-core machine is
        // allowed a second or two, never the archive's segment.
        expect(rpoSeconds).toBeLessThan(ARCHIVE_TIMEOUT_MS / 1000 / 2);
      });

      test('the promoted cluster leads, fenced its primary, and took its first full backup', async () => {
        expect(promoted).toMatchObject({ cluster: STANDBY, stopped: null, fence: { fenced: PRIMARY, promoted: STANDBY } });
        expect(promoted.backup).toEqual({ node: expect.any(String), seconds: expect.any(Number) });
        expect((await standby.members()).filter((m) => m.role === 'leader').map((m) => m.name)).toEqual([promoted.leader]);
      });
    });
  });
}
