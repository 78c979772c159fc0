import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { DEFAULT_TIMING, FAST_TIMING } from '../../../lib/patroni/config/timing-profiles';
import {
  BACKUP_NODE_GAUGES,
  STANDBY_NODE_GAUGES,
  TLS_NODE_GAUGES,
  ClusterSpec,
  METRICS_PUBLISHER_FILES,
  NODE_GAUGES,
  renderMetricsPublisher,
} from '../../../lib/patroni/config';
import { tlsFilePath } from '../../../lib/patroni/config/tls';
import { issueClusterCertificates } from '../../../lib/tls/cluster-certificates';
import { start } from '../../../lib/util/command';
import { BACKUP_SPEC, ec2Spec, freePorts, makeTmpDir, nodeTree, randomLoopbackPrefix, removeTmpDir, run, waitFor } from './fixtures';

// The publisher runs with Debian's python3 against fake Patroni and etcd servers on loopback, with a
// PATH holding only a fake `aws` that records its arguments and the metric data it was given.

interface Datum {
  readonly MetricName: string;
  readonly Dimensions: { Name: string; Value: string }[];
  readonly Value: number;
  readonly Unit: string;
}

/** path -> JSON answer (status 200 unless given); a missing path answers 404. */
type Routes = Record<string, { status?: number; body: unknown }>;

function listen(address: string, port: number, routes: () => Routes): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const answer = routes()[req.url ?? ''];
    res.writeHead(answer?.status ?? (answer ? 200 : 404), { 'Content-Type': 'application/json' });
    res.end(answer ? JSON.stringify(answer.body) : '{}');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve(server));
  });
}

function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

const now = () => Math.floor(Date.now() / 1000);
const member = (name: string, role: string, state = 'running', extra: object = {}) => ({ name, role, state, ...extra });

describe('metrics publisher', () => {
  let root: string;
  let bin: string;
  let spec: ClusterSpec;
  let script: string;
  let servers: http.Server[];
  // What each fake answers; a test replaces these before running the publisher.
  let patroni: Record<string, Routes>;
  let etcd: Routes;
  const runDir = () => nodeTree(root, 'pg-0').runDir;
  const markFile = () => path.join(runDir(), METRICS_PUBLISHER_FILES.lastHealthyPrimary);

  beforeEach(async () => {
    root = makeTmpDir('metrics');
    bin = path.join(root, 'bin');
    fs.mkdirSync(bin);
    fs.mkdirSync(path.join(root, 'tmp'));
    const prefix = randomLoopbackPrefix();
    const addresses = [11, 12, 13].map((i) => `${prefix}.${i}`);
    const ports = await freePorts(addresses);
    spec = {
      ...ec2Spec(),
      nodes: addresses.map((address, i) => ({ name: `pg-${i}`, address, paths: nodeTree(root, `pg-${i}`) })),
      ports,
    };
    fs.mkdirSync(runDir(), { recursive: true });
    script = path.join(root, 'metrics_publisher.py');
    fs.writeFileSync(script, renderMetricsPublisher(spec, 'pg-0'), { mode: 0o755 });
    patroni = { 'pg-0': {}, 'pg-1': {}, 'pg-2': {} };
    etcd = { '/health': { body: { health: 'true' } } };
    servers = await Promise.all([
      ...spec.nodes.map((n) => listen(n.address, ports.restApi, () => patroni[n.name])),
      listen(addresses[0], ports.etcdClient, () => etcd),
    ]);
  });

  afterEach(async () => {
    await Promise.all(servers.map(close));
    removeTmpDir(root);
  });

  /** A fake `aws` that records its arguments and the metric data file, then runs `tail`. */
  function fakeAws(tail = 'exit 0') {
    fs.writeFileSync(
      path.join(bin, 'aws'),
      [
        '#!/bin/bash',
        `printf '%s\\n' "$@" >'${root}/aws-args'`,
        'for arg in "$@"; do',
        `  case "$arg" in file://*) /usr/bin/cat "\${arg#file://}" >'${root}/aws-data' ;; esac`,
        'done',
        tail,
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
  }

  async function publishOnce(file = script) {
    fs.rmSync(path.join(root, 'aws-data'), { force: true }); // never the data of a run before
    const result = await run('/usr/bin/python3', ['-I', file, '--once'], {
      env: { PATH: bin, TMPDIR: path.join(root, 'tmp') },
      timeoutMs: 60_000,
    });
    const read = (name: string) => (fs.existsSync(path.join(root, name)) ? fs.readFileSync(path.join(root, name), 'utf8') : undefined);
    const data = read('aws-data') === undefined ? undefined : (JSON.parse(read('aws-data')!) as Datum[]);
    return { ...result, args: read('aws-args')?.trim().split('\n'), data };
  }

  /** The gauges by name, after checking every datum's dimensions and unit. */
  function gauges(data: Datum[] | undefined): Record<string, number> {
    expect(data).toBeDefined();
    const units: Record<string, string> = {
      ReplicationLagBytes: 'Bytes',
      DcsLastSeenAgeSeconds: 'Seconds',
      BackupAgeSeconds: 'Seconds',
      BackupRepositorySizeBytes: 'Bytes',
      WalArchiveWaitSeconds: 'Seconds',
      StandbyReplayAgeSeconds: 'Seconds',
      StandbyReplayLagBytes: 'Bytes',
      CertificateExpirySeconds: 'Seconds',
    };
    for (const d of data!) {
      expect(d.Dimensions).toEqual([
        { Name: 'ClusterName', Value: 'orders-db' },
        { Name: 'Node', Value: 'pg-0' },
      ]);
      expect(d.Unit).toBe(units[d.MetricName] ?? 'None');
    }
    return Object.fromEntries(data!.map((d) => [d.MetricName, d.Value]));
  }

  function asPrimary(dcsAge = 3, version = '3.0.2') {
    patroni['pg-0'] = {
      '/patroni': {
        body: { state: 'running', role: 'master', xlog: { location: 50_000 }, timeline: 2, dcs_last_seen: now() - dcsAge, patroni: { version, scope: 'orders-db' } },
      },
      '/cluster': { body: { members: [member('pg-0', 'leader'), member('pg-1', 'sync_standby', 'running', { lag: 0 }), member('pg-2', 'replica')] } },
    };
  }

  /** pg-0 a replica `lag` bytes behind pg-1, the leader; `streaming` as pg-1's wal sender list says. */
  function asReplica(lag: number, streaming = true) {
    const replayed = 1_000_000;
    patroni['pg-0'] = {
      '/patroni': {
        body: { state: 'running', role: 'replica', xlog: { received_location: replayed, replayed_location: replayed, paused: false }, dcs_last_seen: now() - 1 },
      },
      '/cluster': { body: { members: [member('pg-0', 'replica', 'running', { lag: 777 }), member('pg-1', 'leader'), member('pg-2', 'sync_standby')] } },
    };
    patroni['pg-1'] = {
      '/patroni': {
        body: {
          state: 'running',
          role: 'master',
          xlog: { location: replayed + lag },
          replication: [
            { application_name: 'pg-2', state: 'streaming', sync_state: 'sync' },
            { application_name: 'pg-0', state: streaming ? 'streaming' : 'startup', sync_state: 'async' },
          ],
        },
      },
    };
  }

  test('a primary: IsPrimary 1, no lag, PostgreSQL running, DCS age, etcd healthy; to the namespace and region', async () => {
    fakeAws();
    asPrimary(7);
    const result = await publishOnce();
    expect(result.code).toBe(0);
    expect(result.args).toEqual([
      'cloudwatch', 'put-metric-data', '--region', 'eu-west-1', '--namespace', 'CdkFailover/orders-db',
      '--metric-data', expect.stringMatching(new RegExp(`^file://${path.join(root, 'tmp')}/cdk-failover-metrics-\\w+\\.json$`)),
    ]);
    const { DcsLastSeenAgeSeconds, ...rest } = gauges(result.data);
    expect(rest).toEqual({ IsPrimary: 1, IsReplica: 0, HealthyReplica: 0, ReplicationLagBytes: 0, PostgresRunning: 1, EtcdHealthy: 1, TimingAdjusted: 0 });
    expect(DcsLastSeenAgeSeconds).toBeGreaterThanOrEqual(7);
    expect(DcsLastSeenAgeSeconds).toBeLessThanOrEqual(10);
    // Without backups, every gauge but the backup ones.
    expect(result.data!.map((d) => d.MetricName)).toEqual(Object.values(NODE_GAUGES).filter((n) => ![...BACKUP_NODE_GAUGES, ...STANDBY_NODE_GAUGES, ...TLS_NODE_GAUGES].includes(n)));
    // The same data on stdout, and no temporary file left behind.
    expect(JSON.parse(result.stdout)).toEqual(result.data);
    expect(fs.readdirSync(path.join(root, 'tmp'))).toEqual([]);
  });

  test.each([
    ['4.0.0', FAST_TIMING, 1],
    ['3.2.0', FAST_TIMING, 1],
    ['3.0.2', FAST_TIMING, 0],
    ['4.0.0', DEFAULT_TIMING, 0],
    ['4.0.0.dev1', FAST_TIMING, undefined],
    ['', FAST_TIMING, undefined],
  ])('TimingAdjusted from the running Patroni %j against the declared timing %j: %s (an unreadable version is left out)', async (version, timing, expected) => {
    fakeAws();
    asPrimary(3, version);
    fs.writeFileSync(script, renderMetricsPublisher({ ...spec, timing }, 'pg-0'), { mode: 0o755 });
    const result = await publishOnce();
    expect(result.code).toBe(0);
    expect(gauges(result.data).TimingAdjusted).toBe(expected);
  });

  test('a streaming replica within the lag limit is a healthy replica; lag from the leader\'s own answer', async () => {
    fakeAws();
    asReplica(5000);
    const result = await publishOnce();
    expect(gauges(result.data)).toMatchObject({ IsPrimary: 0, IsReplica: 1, HealthyReplica: 1, ReplicationLagBytes: 5000, PostgresRunning: 1, EtcdHealthy: 1 });
  });

  describe('a standby cluster', () => {
    /** pg-1 the standby leader, its last replayed commit `ageSeconds` old; pg-0 `role`, streaming from it `lag` bytes behind. */
    function asStandby(role: 'replica' | 'standby_leader', ageSeconds = 90, lag = 4096) {
      const replayed = 2_000_000;
      const stamp = new Date((now() - ageSeconds) * 1000).toISOString().replace('T', ' ').replace('Z', '+00:00');
      const standbyLeader = { state: 'running', role: 'standby_leader', xlog: { received_location: replayed, replayed_location: replayed, replayed_timestamp: stamp, paused: false } };
      const members = [member('pg-0', role), member('pg-1', role === 'replica' ? 'standby_leader' : 'replica'), member('pg-2', 'replica')];
      if (role === 'standby_leader') {
        patroni['pg-0'] = { '/patroni': { body: { ...standbyLeader, dcs_last_seen: now() - 1 } }, '/cluster': { body: { members } } };
        return;
      }
      patroni['pg-0'] = {
        '/patroni': { body: { state: 'running', role: 'replica', xlog: { received_location: replayed - lag, replayed_location: replayed - lag, paused: false }, dcs_last_seen: now() - 1 } },
        '/cluster': { body: { members } },
      };
      patroni['pg-1'] = { '/patroni': { body: { ...standbyLeader, replication: [{ application_name: 'pg-0', state: 'streaming', sync_state: 'async' }] } } };
    }

    test("the standby leader publishes how old the last commit it replayed is; it is neither primary nor replica", async () => {
      fakeAws();
      asStandby('standby_leader', 90);
      const g = gauges((await publishOnce()).data);
      expect(g).toMatchObject({ IsPrimary: 0, IsReplica: 0, HealthyReplica: 0, PostgresRunning: 1 });
      expect(g.StandbyReplayAgeSeconds).toBeGreaterThanOrEqual(90);
      expect(g.StandbyReplayAgeSeconds).toBeLessThanOrEqual(95);
      expect(g.ReplicationLagBytes).toBeUndefined();
    });

    test('its replicas stream from the standby leader: healthy, with their lag behind what it replayed; no primary marked', async () => {
      fakeAws();
      asStandby('replica', 90, 4096);
      const g = gauges((await publishOnce()).data);
      expect(g).toMatchObject({ IsPrimary: 0, IsReplica: 1, HealthyReplica: 1, ReplicationLagBytes: 4096 });
      expect(g.StandbyReplayAgeSeconds).toBeUndefined();
      expect(fs.existsSync(markFile())).toBe(false);
    });

    test("a streaming standby leader adds its lag in bytes behind the primary's reported position (psql over the local socket); not streaming (-1) or psql failing: left out, the age still published", async () => {
      fakeAws();
      const standbySpec = (host?: string) => ({ ...spec, backup: { ...BACKUP_SPEC, standbyOf: { stanza: 'orders', path: '/orders', ...(host ? { host, port: 5432 } : {}) } } });
      fs.writeFileSync(script, renderMetricsPublisher(standbySpec('orders-db.example'), 'pg-0'));
      const psql = (lines: string[]) => fs.writeFileSync(path.join(bin, 'psql'), ['#!/bin/bash', `printf '%s\\n' "$@" >'${root}/psql-args'`, ...lines, ''].join('\n'), { mode: 0o755 });
      asStandby('standby_leader', 90);
      psql(["echo '16384'"]);
      const streaming = gauges((await publishOnce()).data);
      expect(streaming.StandbyReplayLagBytes).toBe(16384);
      expect(streaming.StandbyReplayAgeSeconds).toBeGreaterThanOrEqual(90);
      const args = fs.readFileSync(path.join(root, 'psql-args'), 'utf8').trim().split('\n');
      expect(args.slice(-1)[0]).toMatch(/FROM pg_stat_wal_receiver WHERE status = 'streaming' AND latest_end_lsn IS NOT NULL\), -1\)$/);
      expect(args).not.toContainEqual(expect.stringContaining('pg_stat_archiver'));

      psql(["echo '-1'"]);
      const repositoryOnly = await publishOnce();
      expect(gauges(repositoryOnly.data)).not.toHaveProperty('StandbyReplayLagBytes');
      expect(repositoryOnly.stderr).not.toContain('unknown');

      psql(['echo "could not connect" >&2', 'exit 2']);
      const failing = await publishOnce();
      expect(gauges(failing.data)).not.toHaveProperty('StandbyReplayLagBytes');
      expect(gauges(failing.data).StandbyReplayAgeSeconds).toBeGreaterThanOrEqual(90);
      expect(failing.stderr).toContain('metrics publisher pg-0: standby lag in bytes unknown (psql: ValueError(');

      // Its replicas ask nothing, nor does a standby leader configured without streaming.
      fs.rmSync(path.join(root, 'psql-args'));
      asStandby('replica');
      expect(gauges((await publishOnce()).data)).not.toHaveProperty('StandbyReplayLagBytes');
      expect(fs.existsSync(path.join(root, 'psql-args'))).toBe(false);
      fs.writeFileSync(script, renderMetricsPublisher(standbySpec(), 'pg-0'));
      asStandby('standby_leader', 90);
      psql(["echo '16384'"]);
      const notConfigured = gauges((await publishOnce()).data);
      expect(notConfigured).not.toHaveProperty('StandbyReplayLagBytes');
      expect(notConfigured.StandbyReplayAgeSeconds).toBeGreaterThanOrEqual(90);
      expect(fs.existsSync(path.join(root, 'psql-args'))).toBe(false);
    });

    test('a standby leader with no commit replayed yet, or an unreadable time, publishes no age (missing data: the alarm breaches)', async () => {
      fakeAws();
      for (const stamp of [null, 'yesterday']) {
        asStandby('standby_leader');
        (patroni['pg-0']!['/patroni']!.body as { xlog: Record<string, unknown> }).xlog.replayed_timestamp = stamp;
        expect(gauges((await publishOnce()).data).StandbyReplayAgeSeconds).toBeUndefined();
      }
    });
  });

  test('with TLS: seconds until the first of the node\'s certificate files ends (its own, the database\'s, the CAs\'); an unreadable one is logged and left out', async () => {
    fakeAws();
    const tlsSpec = { ...spec, tls: ec2Spec({ tls: true } as Partial<ClusterSpec>).tls };
    fs.writeFileSync(script, renderMetricsPublisher(tlsSpec, 'pg-0'));
    const paths = tlsSpec.nodes[0]!.paths!;
    const write = (file: 'caCert' | 'databaseCaCert' | 'nodeCert' | 'databaseCert', pem: string) => {
      fs.mkdirSync(path.dirname(tlsFilePath(paths, file)), { recursive: true });
      fs.writeFileSync(tlsFilePath(paths, file), pem);
    };
    const issue = (days: number) => issueClusterCertificates({ clusterName: 'orders-db', nodes: [{ name: 'pg-0', address: '10.0.1.10' }], days });
    const long = issue(300);
    const short = issue(20);
    write('caCert', long.ca.certificatePem);
    write('databaseCaCert', long.databaseCa.certificatePem);
    write('nodeCert', long.nodes['pg-0']!.certificatePem);
    write('databaseCert', short.database.certificatePem); // the first to end: 20 days
    let g = gauges((await publishOnce()).data);
    expect(g.CertificateExpirySeconds).toBeGreaterThan(20 * 86_400 - 60);
    expect(g.CertificateExpirySeconds).toBeLessThanOrEqual(20 * 86_400);
    // Unreadable: left out with one line; the others still count.
    fs.writeFileSync(tlsFilePath(paths, 'databaseCert'), 'not a certificate\n');
    const unreadable = await publishOnce();
    expect(unreadable.stderr).toMatch(/certificate \S+database\.crt unreadable/);
    g = gauges(unreadable.data);
    expect(g.CertificateExpirySeconds).toBeGreaterThan(300 * 86_400 - 60);
    expect(g.CertificateExpirySeconds).toBeLessThanOrEqual(300 * 86_400);
    // Gone: left out too (the CA stays: without it the publisher cannot reach Patroni and does not start).
    for (const file of ['databaseCaCert', 'nodeCert'] as const) fs.rmSync(tlsFilePath(paths, file));
    g = gauges((await publishOnce()).data);
    expect(g.CertificateExpirySeconds).toBeGreaterThan(600 * 86_400 - 60);
    expect(g.CertificateExpirySeconds).toBeLessThanOrEqual(600 * 86_400);
  });

  test('a replica exactly at the limit is healthy, one byte over is not', async () => {
    fakeAws();
    asReplica(spec.replicaMaxLagBytes);
    expect(gauges((await publishOnce()).data)).toMatchObject({ HealthyReplica: 1, ReplicationLagBytes: 16777216 });
    asReplica(spec.replicaMaxLagBytes + 1);
    expect(gauges((await publishOnce()).data)).toMatchObject({ IsReplica: 1, HealthyReplica: 0, ReplicationLagBytes: 16777217 });
  });

  test('a replica the leader does not list as streaming is not a healthy replica', async () => {
    fakeAws();
    asReplica(0, false);
    expect(gauges((await publishOnce()).data)).toMatchObject({ IsReplica: 1, HealthyReplica: 0, ReplicationLagBytes: 0 });
  });

  test('when the leader does not answer: the DCS\'s lag, not healthy, and no healthy primary marked', async () => {
    fakeAws();
    asReplica(5000);
    patroni['pg-1'] = {};
    fs.writeFileSync(markFile(), '1700000000 pg-1\n');
    expect(gauges((await publishOnce()).data)).toMatchObject({ IsReplica: 1, HealthyReplica: 0, ReplicationLagBytes: 777 });
    expect(fs.readFileSync(markFile(), 'utf8')).toBe('1700000000 pg-1\n');
  });

  test('stopped PostgreSQL: not running, neither primary nor replica, no lag', async () => {
    fakeAws();
    patroni['pg-0'] = {
      '/patroni': { body: { state: 'stopped', role: 'replica', dcs_last_seen: now() - 2 } },
      '/cluster': { body: { members: [member('pg-0', 'replica', 'stopped'), member('pg-1', 'leader')] } },
    };
    const data = gauges((await publishOnce()).data);
    expect(data).toMatchObject({ IsPrimary: 0, IsReplica: 0, HealthyReplica: 0, PostgresRunning: 0, EtcdHealthy: 1 });
    expect(data).not.toHaveProperty('ReplicationLagBytes');
    expect(data.DcsLastSeenAgeSeconds).toBeGreaterThanOrEqual(2);
  });

  test('REST API down: zeros, and no lag or DCS age (unknown is left out, not guessed)', async () => {
    fakeAws();
    await close(servers[0]);
    const result = await publishOnce();
    expect(result.code).toBe(0);
    expect(gauges(result.data)).toEqual({ IsPrimary: 0, IsReplica: 0, HealthyReplica: 0, PostgresRunning: 0, EtcdHealthy: 1 });
    expect(fs.existsSync(markFile())).toBe(false);
  });

  test('etcd unhealthy (503) or down: EtcdHealthy 0', async () => {
    fakeAws();
    asPrimary();
    etcd = { '/health': { status: 503, body: { health: 'false' } } };
    expect(gauges((await publishOnce()).data)).toMatchObject({ IsPrimary: 1, EtcdHealthy: 0 });
    await close(servers[3]);
    expect(gauges((await publishOnce()).data)).toMatchObject({ IsPrimary: 1, EtcdHealthy: 0 });
  });

  describe('the last-healthy-primary mark', () => {
    test('a replica marks the leader when the leader answers as a running primary', async () => {
      asReplica(0);
      const before = now();
      await publishOnce();
      const [epoch, leader] = fs.readFileSync(markFile(), 'utf8').trim().split(' ');
      expect(leader).toBe('pg-1');
      expect(Number(epoch)).toBeGreaterThanOrEqual(before);
      expect(Number(epoch)).toBeLessThanOrEqual(now());
    });

    test('a leader the DCS names but whose REST says it is not a running primary is not marked', async () => {
      asReplica(0);
      patroni['pg-1']['/patroni'] = { body: { state: 'stopping', role: 'master' } };
      await publishOnce();
      expect(fs.existsSync(markFile())).toBe(false);
    });

    test('a primary refreshes its own mark, or makes one when there is none', async () => {
      asPrimary();
      await publishOnce();
      expect(fs.readFileSync(markFile(), 'utf8')).toMatch(/^\d+ pg-0\n$/);
      fs.writeFileSync(markFile(), '1700000000 pg-0\n');
      await publishOnce();
      expect(Number(fs.readFileSync(markFile(), 'utf8').split(' ')[0])).toBeGreaterThan(1700000000);
    });

    test('a just-promoted primary leaves another node\'s mark for the role-change callback to read', async () => {
      asPrimary();
      fs.writeFileSync(markFile(), '1700000000 pg-1\n');
      await publishOnce();
      expect(fs.readFileSync(markFile(), 'utf8')).toBe('1700000000 pg-1\n');
    });
  });

  test('without an aws command: the data on stdout, one line on stderr, exit 0', async () => {
    asPrimary();
    const result = await publishOnce();
    expect(result.code).toBe(0);
    expect(gauges(JSON.parse(result.stdout))).toMatchObject({ IsPrimary: 1 });
    expect(result.stderr).toBe('metrics publisher pg-0: no aws command on PATH: metrics are not published\n');
  });

  test('a failing aws command is logged, not fatal', async () => {
    fakeAws('echo "no credentials" >&2; exit 3');
    asPrimary();
    const result = await publishOnce();
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('no credentials');
    expect(result.stderr).toContain('metrics publisher pg-0: metrics not published (aws: 3)');
  });

  test('a hanging aws command is killed after its timeout', async () => {
    fakeAws('exec /usr/bin/sleep 300');
    asPrimary();
    const started = Date.now();
    const result = await publishOnce();
    expect(result.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(result.stderr).toContain('metrics not published (aws: killed after 20 s)');
    expect(fs.readdirSync(path.join(root, 'tmp'))).toEqual([]);
  }, 60_000);

  test('without spec.awsRegion, no --region (the AWS CLI resolves it)', async () => {
    fakeAws();
    asPrimary();
    fs.writeFileSync(script, renderMetricsPublisher({ ...spec, awsRegion: undefined }, 'pg-0'));
    expect((await publishOnce()).args!.slice(0, 4)).toEqual(['cloudwatch', 'put-metric-data', '--namespace', 'CdkFailover/orders-db']);
  });

  test('any namespace and cluster name reach the aws command unchanged', async () => {
    fakeAws();
    asPrimary();
    const awkward = `a'''b\\"c\\`;
    fs.writeFileSync(script, renderMetricsPublisher({ ...spec, metricsNamespace: awkward, clusterName: `x'y` }, 'pg-0'));
    const result = await publishOnce();
    expect(result.args!.slice(4, 6)).toEqual(['--namespace', awkward]);
    expect(result.data![0].Dimensions[0]).toEqual({ Name: 'ClusterName', Value: `x'y` });
  });

  test('in a loop: publishes at once, then keeps sampling (the mark moves) until stopped', async () => {
    fakeAws();
    asReplica(0);
    const publisher = start('/usr/bin/python3', ['-I', script], { env: { PATH: bin, TMPDIR: path.join(root, 'tmp') }, stdio: 'ignore' });
    await publisher.started();
    try {
      // The fake aws writes with `cat >file`: the file exists, empty, before its data is in.
      let first: Parameters<typeof gauges>[0] | undefined;
      await waitFor('the first put-metric-data', 15_000, async () => {
        first = JSON.parse(fs.readFileSync(path.join(root, 'aws-data'), 'utf8'));
        return true;
      });
      expect(gauges(first!)).toMatchObject({ HealthyReplica: 1 });
      const firstMark = fs.readFileSync(markFile(), 'utf8');
      await waitFor('a later sample to move the mark', 15_000, async () => fs.readFileSync(markFile(), 'utf8') !== firstMark);
      expect(publisher.finished).toBe(false);
    } finally {
      await publisher.stop();
    }
  }, 40_000);

  describe('with backups: the primary adds the archiver (psql) and the repository (pgbackrest info)', () => {
    /** Stand-ins: psql prints `psqlOut` (and records its arguments); pgbackrest runs `pgbackrestTail`. */
    function standIns(psqlOut: string, pgbackrestTail: string) {
      fs.writeFileSync(script, renderMetricsPublisher({ ...spec, backup: BACKUP_SPEC }, 'pg-0'));
      const write = (name: string, lines: string[]) => fs.writeFileSync(path.join(bin, name), ['#!/bin/bash', ...lines, ''].join('\n'), { mode: 0o755 });
      write('psql', [`printf '%s\\n' "$@" >'${root}/psql-args'`, psqlOut]);
      write('pgbackrest', [`printf '%s\\n' "$@" >>'${root}/pgbackrest-args'`, pgbackrestTail]);
    }
    const info = (backups: object[]) => `echo '${JSON.stringify([{ name: 'other', backup: [] }, { name: 'orders-db', backup: backups }])}'`;
    const backup = (stop: number, delta: number) => ({ type: 'full', timestamp: { start: stop - 60, stop }, info: { repository: { size: delta * 2, delta } } });
    const read = (name: string) => fs.readFileSync(path.join(root, name), 'utf8').trim().split('\n');

    test('backup age from the newest backup, the backups\' size, the archiver\'s state; over the local socket and repository 1', async () => {
      fakeAws();
      asPrimary();
      standIns("echo '1 42 1700000000'", info([backup(now() - 7200, 1000), backup(now() - 600, 250)]));
      const g = gauges((await publishOnce()).data);
      expect(g).toMatchObject({ IsPrimary: 1, BackupRepositorySizeBytes: 1250, WalArchiveFailing: 1, WalArchiveWaitSeconds: 42 });
      expect(g.BackupAgeSeconds).toBeGreaterThanOrEqual(600);
      expect(g.BackupAgeSeconds).toBeLessThanOrEqual(605);
      const paths = nodeTree(root, 'pg-0');
      expect(read('psql-args').slice(0, 12)).toEqual(['-XAtq', '-h', paths.socketDir, '-p', String(spec.ports.postgres), '-U', 'postgres', '-d', 'postgres', '-F', ' ', '-c']);
      expect(read('psql-args').slice(12).join(' ')).toMatch(/FROM pg_stat_archiver$/);
      expect(read('pgbackrest-args')).toEqual([`--config=${paths.configDir}/pgbackrest.conf`, '--stanza=orders-db', '--repo=1', '--output=json', 'info']);
    });

    test('no backup yet: a size of 0, and the age of the database itself (its data never backed up)', async () => {
      fakeAws();
      asPrimary();
      standIns(`echo '0 0 ${now() - 3600}'`, info([]));
      const g = gauges((await publishOnce()).data);
      expect(g).toMatchObject({ BackupRepositorySizeBytes: 0, WalArchiveFailing: 0, WalArchiveWaitSeconds: 0 });
      expect(g.BackupAgeSeconds).toBeGreaterThanOrEqual(3600);
      expect(g.BackupAgeSeconds).toBeLessThanOrEqual(3605);
    });

    test('no backup yet and the repository unreadable: no age at all (missing data: BackupTooOld breaches)', async () => {
      fakeAws();
      asPrimary();
      standIns(`echo '0 0 ${now() - 3600}'`, 'exit 39');
      expect(gauges((await publishOnce()).data)).not.toHaveProperty('BackupAgeSeconds');
    });

    test('a failing pgbackrest or psql: those values are left out, each with one line, the rest published', async () => {
      fakeAws();
      asPrimary();
      standIns('echo "could not connect" >&2; exit 2', 'echo "ERROR: [039]: HTTP request failed" >&2; exit 39');
      const result = await publishOnce();
      const g = gauges(result.data);
      expect(g).toMatchObject({ IsPrimary: 1, EtcdHealthy: 1 });
      for (const name of BACKUP_NODE_GAUGES) expect(g).not.toHaveProperty(name);
      expect(result.stderr).toContain('metrics publisher pg-0: backup age unknown (pgbackrest info: 39)');
      expect(result.stderr).toContain('metrics publisher pg-0: archiver state unknown (psql: ValueError(');
    });

    test('malformed info is unknown, not a crash', async () => {
      fakeAws();
      asPrimary();
      standIns("echo '0 0 1700000000'", `echo '[{"name": "orders-db", "backup": [{"timestamp": {}}]}]'`);
      const result = await publishOnce();
      expect(gauges(result.data)).not.toHaveProperty('BackupAgeSeconds');
      expect(result.stderr).toContain("backup age unknown (pgbackrest info: KeyError('stop'))");
    });

    test('a replica asks neither the repository nor PostgreSQL, and publishes no backup value', async () => {
      fakeAws();
      asReplica(0);
      standIns("echo '0 0 1700000000'", info([backup(now(), 1)]));
      const g = gauges((await publishOnce()).data);
      expect(g).toMatchObject({ IsReplica: 1 });
      for (const name of BACKUP_NODE_GAUGES) expect(g).not.toHaveProperty(name);
      expect(fs.existsSync(path.join(root, 'psql-args'))).toBe(false);
      expect(fs.existsSync(path.join(root, 'pgbackrest-args'))).toBe(false);
    });
  });

  test('compiles, is deterministic and refuses an unknown node', async () => {
    const compiled = await run('/usr/bin/python3', ['-I', '-c', 'import ast, sys; ast.parse(open(sys.argv[1]).read())', script]);
    expect(compiled).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(renderMetricsPublisher(spec, 'pg-0')).toBe(fs.readFileSync(script, 'utf8'));
    expect(renderMetricsPublisher(spec, 'pg-1')).not.toBe(renderMetricsPublisher(spec, 'pg-0'));
    expect(() => renderMetricsPublisher(spec, 'pg-7')).toThrow("nodeName 'pg-7' is not a node of cluster 'orders-db'");
  });
});
