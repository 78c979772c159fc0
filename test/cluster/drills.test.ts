// The failover drills on the local rehearsal cluster (3 nodes, fast timing; root only). Every
// drill writes through the writer endpoint from the client namespace (test/cluster/drills/
// writer.ts) every 100 ms, breaks something, heals it, and asserts: no acknowledged write lost
// (synchronous mode), never two servers accepting writes at once, a healthy cluster afterwards.
// Each drill's write-unavailability window is logged and written to $DRILL_REPORT (by default
// <tmpdir>/cdk-failover-drills.json). The drill logic lives in test/cluster/drills/, shared with
// the benchmark (bench/run.ts).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalCluster } from '../../lib/local';
import { failoverDrill, noFailoverDrill, repeatedFailoverDrill, summarize, switchoverDrill, type DrillResult } from './drills/drills';

// A name of its own per run: another cluster test file may run at the same time.
const CLUSTER = `drl${process.pid}`.slice(0, 12);
const MINUTE = 60_000;
const REPORT = process.env.DRILL_REPORT ?? path.join(os.tmpdir(), 'cdk-failover-drills.json');

if (process.env.SKIP_CLUSTER === '1') {
  test('the failover drills are skipped on purpose (SKIP_CLUSTER=1)', () => {
    console.warn('SKIP_CLUSTER=1: the failover drills did not run');
    expect(process.env.SKIP_CLUSTER).toBe('1');
  });
} else {
  describe('failover drills (3 nodes, fast timing)', () => {
    let cluster: LocalCluster;
    const results: DrillResult[] = [];
    const log = (line: string) => console.log(`[${CLUSTER}] ${line}`);

    const record = (r: DrillResult): DrillResult => {
      results.push(r);
      log(summarize(r));
      return r;
    };

    /** What every drill must show. */
    const expectSafeAndHealthy = async (r: DrillResult) => {
      expect(r.acked).toBeGreaterThan(0);
      expect(r.lost).toEqual([]);
      expect(r.overlaps).toEqual([]);
      const verdict = await cluster.health(cluster.nodeNames);
      expect(verdict).toMatchObject({ healthy: true });
    };

    beforeAll(async () => {
      cluster = await LocalCluster.up({ clusterName: CLUSTER, nodes: 3, timing: 'fast', log });
    }, 15 * MINUTE);

    afterAll(async () => {
      try {
        const slim = results.map(({ frontEvents, extraEvents, ...rest }) => ({ ...rest, events: frontEvents.length + extraEvents.length }));
        fs.writeFileSync(REPORT, `${JSON.stringify(slim, null, 2)}\n`);
        log(`drill report: ${REPORT}`);
      } finally {
        await LocalCluster.down({ clusterName: CLUSTER, log });
      }
    }, 5 * MINUTE);

    test('unplanned leader loss (SIGKILL of every process of the leader): another node leads, writes resume, none lost', async () => {
      const r = record(await failoverDrill(cluster, 'kill', { log }));
      expect(r.leaderAfter).not.toBe(r.oldLeader);
      expect(r.faults[0]!.availability.writableAgainMs).not.toBeNull();
      await expectSafeAndHealthy(r);
    }, 10 * MINUTE);

    test('leader freeze (SIGSTOP): another node leads; the thawed old leader acknowledges nothing and rejoins', async () => {
      const r = record(await failoverDrill(cluster, 'freeze', { log }));
      expect(r.leaderAfter).not.toBe(r.oldLeader);
      expect(r.faults[0]!.availability.writableAgainMs).not.toBeNull();
      expect(r.rejoin).toMatchObject({ state: 'running', role: expect.stringMatching(/^(replica|sync_standby)$/) });
      await expectSafeAndHealthy(r);
    }, 10 * MINUTE);

    test('leader partition: the isolated old leader stops accepting writes (own HAProxy and own PostgreSQL) before another node accepts any', async () => {
      const r = record(await failoverDrill(cluster, 'partition', { log }));
      expect(r.leaderAfter).not.toBe(r.oldLeader);
      const oldAddress = cluster.nodeAddress(r.oldLeader);
      // The writers inside the isolated node did write through it before the fault...
      expect(r.extraEvents.filter((e) => e.ok && e.t1 < r.faultAt).length).toBeGreaterThan(0);
      // ...and nothing it acknowledged ended after the first write another node acknowledged.
      const firstNew = [...r.frontEvents, ...r.extraEvents]
        .filter((e) => e.ok && e.server !== oldAddress && e.t0 >= r.faultAt)
        .sort((a, b) => a.t1 - b.t1)[0]!;
      expect(firstNew).toBeDefined();
      const lateOldAcks = [...r.frontEvents, ...r.extraEvents].filter((e) => e.ok && e.server === oldAddress && e.t1 >= firstNew.t0);
      expect(lateOldAcks).toEqual([]);
      log(`partition: the isolated ${r.oldLeader} acknowledged ${r.isolatedAcksAfterFault} writes after the fault (before the new leader's first)`);
      await expectSafeAndHealthy(r);
    }, 10 * MINUTE);

    test('planned switchover through the REST API (POST /switchover, basic auth) moves the leader to the sync standby', async () => {
      const r = record(await switchoverDrill(cluster, { log }));
      expect(r.leaderAfter).not.toBe(r.oldLeader);
      expect(r.switchoverMs).toBeGreaterThan(0);
      await expectSafeAndHealthy(r);
    }, 10 * MINUTE);

    test('loss of the synchronous standby causes no failover and writes go on', async () => {
      const r = record(await noFailoverDrill(cluster, 'replica-loss', { log }));
      expect(new Set(r.leadersDuringFault)).toEqual(new Set([r.oldLeader]));
      expect(r.leaderAfter).toBe(r.oldLeader);
      expect(r.faults[0]!.availability.writableAgainMs).not.toBeNull();
      await expectSafeAndHealthy(r);
    }, 10 * MINUTE);

    test("loss of one etcd member (the leader's own) causes no failover and writes go on", async () => {
      const r = record(await noFailoverDrill(cluster, 'etcd-loss', { log }));
      expect(new Set(r.leadersDuringFault)).toEqual(new Set([r.oldLeader]));
      expect(r.leaderAfter).toBe(r.oldLeader);
      expect(r.faults[0]!.availability.writableAgainMs).not.toBeNull();
      await expectSafeAndHealthy(r);
    }, 10 * MINUTE);

    test('the killed old leader rejoins as a streaming replica on the new timeline, holding every acknowledged write', async () => {
      const before = (await cluster.status()).nodes.find((n) => n.role === 'leader')!.timeline!;
      const r = record(await failoverDrill(cluster, 'rejoin', { log }));
      log(`rejoin: ${JSON.stringify(r.rejoin)}`);
      expect(r.rejoin).toMatchObject({ node: r.oldLeader, state: 'running', role: expect.stringMatching(/^(replica|sync_standby)$/), missingOnNode: 0 });
      expect(r.rejoin!.timeline).toBe(r.rejoin!.leaderTimeline);
      expect(r.rejoin!.timeline).toBeGreaterThan(before);
      // Streaming: the health verdict requires every member in the leader's pg_stat_replication.
      await expectSafeAndHealthy(r);
    }, 10 * MINUTE);

    test('five failovers in a row under continuous writes lose nothing and never have two writable nodes', async () => {
      const before = (await cluster.status()).nodes.find((n) => n.role === 'leader')!.timeline!;
      const r = record(await repeatedFailoverDrill(cluster, 5, { log }));
      expect(r.faults).toHaveLength(5);
      for (const f of r.faults) expect(f.availability.writableAgainMs).not.toBeNull();
      const after = (await cluster.status()).nodes.find((n) => n.role === 'leader')!.timeline!;
      expect(after).toBeGreaterThanOrEqual(before + 5);
      await expectSafeAndHealthy(r);
    }, 25 * MINUTE);
  });
}
