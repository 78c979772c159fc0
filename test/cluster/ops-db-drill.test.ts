// The Patroni REST client and the database drill against a real local cluster: three Patroni
// 3.0.2 / etcd / HAProxy / PostgreSQL 15 nodes in network namespaces (root only). Everything is
// addressed inside the cluster's namespaces, through lib/local's client namespace.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalCluster } from '../../lib/local';
import { runDrills, type DrillReport } from '../../lib/ops/drill-runner';
import { dbDrillCase } from '../../lib/ops/db-drill';
import { NamespaceHttpTransport } from '../../lib/ops/http-transport';
import { PatroniClient } from '../../lib/ops/patroni-client';
import { LocalSqlRunner } from '../../lib/ops/sql';
import { start, type RunningCommand } from '../../lib/util/command';

const CLUSTER = 'opsdb';
const MINUTE = 60_000;
const ROOT = path.resolve(__dirname, '../..');

/** The CLI as a user runs it; `onStderr` sees its progress lines as they come. */
async function runCli(args: string[], onStderr?: (text: string, cli: RunningCommand) => void): Promise<{ code: number; stdout: string; stderr: string }> {
  const cli = start(process.execPath, ['-r', 'ts-node/register/transpile-only', 'test/ops/cli-harness.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const timer = setTimeout(() => cli.kill('SIGKILL'), 8 * MINUTE);
  cli.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  cli.child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    onStderr?.(stderr, cli);
  });
  try {
    const code = await cli.exitCode();
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

if (process.env.SKIP_CLUSTER === '1') {
  test('the ops cluster tests are skipped on purpose (SKIP_CLUSTER=1)', () => {
    console.warn('SKIP_CLUSTER=1: the Patroni client and db drill cluster tests did not run');
    expect(process.env.SKIP_CLUSTER).toBe('1');
  });
} else {
  describe('Patroni client and db drill on the local cluster (3 nodes, fast timing)', () => {
    let cluster: LocalCluster;
    let patroni: PatroniClient;
    const log = (line: string) => console.log(`[${CLUSTER}] ${line}`);

    const drillTables = async () => Number(await cluster.sql("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'cdk_failover_drill_%'"));

    beforeAll(async () => {
      cluster = await LocalCluster.up({ clusterName: CLUSTER, nodes: 3, timing: 'fast', log });
      patroni = new PatroniClient({
        urls: cluster.nodeNames.map((n) => cluster.restApi(n)),
        transport: new NamespaceHttpTransport(cluster.clientNamespace, cluster.restApiTls),
        auth: cluster.spec.credentials.restApi,
      });
    }, 15 * MINUTE);

    afterAll(async () => {
      await LocalCluster.down({ clusterName: CLUSTER });
    }, 3 * MINUTE);

    test('reads the cluster through the client namespace: one leader, healthy replicas sorted by lag, a sync standby', async () => {
      const status = await patroni.clusterStatus();
      expect(status.members.map((m) => m.name).sort()).toEqual(cluster.nodeNames);
      const leader = await patroni.leader(status);
      expect(leader?.name).toBe(await cluster.leader());
      const replicas = await patroni.healthyReplicas({ status });
      expect(replicas).toHaveLength(2);
      expect(replicas.map((r) => r.lagBytes)).toEqual([...replicas.map((r) => r.lagBytes)].sort((a, b) => a - b));
      const health = await patroni.health();
      expect(health).toMatchObject({ healthy: true, writable: true, issues: [], synchronousMode: true });
      expect(health.replicas.every((r) => r.streaming === true)).toBe(true);
      expect((await patroni.chooseCandidate({ status })).role).toBe('sync_standby');
    }, 2 * MINUTE);

    test('a node with no one behind its address is passed over', async () => {
      // An address of the cluster's own private subnet where nothing runs.
      const client = new PatroniClient({ urls: ['http://10.213.77.99:8008', cluster.restApi(cluster.nodeNames[0]!)], transport: new NamespaceHttpTransport(cluster.clientNamespace, cluster.restApiTls), timeoutMs: 1000 });
      const status = await client.clusterStatus();
      expect(status.source).toBe(cluster.restApi(cluster.nodeNames[0]!));
      expect(status.unreachable[0]).toMatch(/^http:\/\/10\.213\.77\.99:8008: /);
    }, MINUTE);

    test('refuses a failover while the leader runs (a switchover is the safe way)', async () => {
      const leader = await cluster.leader();
      await expect(patroni.failover()).rejects.toThrow(`leader ${leader} is running: use a switchover, not a failover`);
      expect(await cluster.leader()).toBe(leader);
    }, MINUTE);

    test('the db drill passes: another leader, a later timeline, the old leader back as a replica, every row there', async () => {
      const before = await cluster.leader();
      const report: DrillReport = await runDrills([dbDrillCase({ patroni, sql: new LocalSqlRunner(cluster), rows: 50 })], { environment: `local:${CLUSTER}`, log });
      const t = report.tests[0]!;
      expect(t.error).toBeUndefined();
      expect(t.status).toBe('passed');
      expect(t.checks.filter((c) => !c.passed)).toEqual([]);
      expect(t.checks.map((c) => c.name)).toEqual(
        expect.arrayContaining([
          'a different member leads',
          'the timeline advanced',
          'the old leader rejoined as a streaming replica',
          'all 50 rows written before are present',
          'the writer endpoint reaches the new leader',
        ]),
      );
      expect(t.measurements.old_leader).toBe(before);
      expect(await cluster.leader()).not.toBe(before);
      expect(await drillTables()).toBe(0);
    }, 8 * MINUTE);

    test('`failover drill db --local --report r.json` passes and the report says what was verified', async () => {
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ops-drill-')), 'r.json');
      const r = await runCli(['drill', 'db', '--local', '--cluster', CLUSTER, '--report', file]);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('1 passed, 0 failed, 0 skipped');
      const report = JSON.parse(fs.readFileSync(file, 'utf8')) as DrillReport;
      expect(report).toMatchObject({ environment: `local:${CLUSTER}`, total_tests: 1, passed: 1, failed: 0, skipped: 0 });
      expect(report.tests[0]!.phases.map((p) => `${p.name}:${p.status}`)).toEqual(['setup:passed', 'execute:passed', 'verify:passed', 'cleanup:passed']);
      expect(report.tests[0]!.checks.find((c) => c.name === 'all 100 rows written before are present')).toMatchObject({ passed: true, detail: '100 rows, ids checksum matches' });
    }, 8 * MINUTE);

    test('SIGTERM during the drill: cleanup drops the drill table, the report says interrupted, exit 1', async () => {
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ops-drill-')), 'r.json');
      let sent = false;
      const r = await runCli(['drill', 'db', '--local', '--cluster', CLUSTER, '--report', file], (stderr, child) => {
        if (!sent && /rows are committed before the switchover/.test(stderr)) {
          sent = true;
          child.kill('SIGTERM');
        }
      });
      expect(sent).toBe(true);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('SIGTERM: stopping; cleanup runs now');
      const report = JSON.parse(fs.readFileSync(file, 'utf8')) as DrillReport;
      expect(report.interrupted).toBe(true);
      expect(report.tests[0]!.phases.find((p) => p.name === 'cleanup')!.status).toBe('passed');
      expect(await drillTables()).toBe(0);
      expect((await patroni.waitForHealthy({ timeoutMs: 2 * MINUTE })).healthy).toBe(true);
    }, 8 * MINUTE);
  });
}
