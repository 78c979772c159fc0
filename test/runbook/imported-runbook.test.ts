// Runbooks of imported constructs (`fromXxxAttributes`): what a stack that only watches a cluster or
// a DNS failover defined elsewhere gets, from the interfaces alone.
import { CfnParameter, Duration, Fn, Size, Stack } from 'aws-cdk-lib';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { DnsFailover, FailoverAlarms, FailoverEndpoint, PatroniCluster, renderStackRunbook, Runbooks } from '../../lib';
import { IMPORTED_RUNBOOK_SECTIONS } from '../../lib/runbook/sections';
import { testApp } from '../app';
import { failoverLines, parse } from './cli-parse';
import { headings, shellLines } from './markdown-support';

const ADDRESSES = ['10.0.1.10', '10.0.2.10', '10.0.3.10'];
/** A string, list or number token as it would print. */
const UNRESOLVED = /[$#]\{Token\[|<token>|-1\.888\d*e\+289/;
const INSTANCES = ['i-0aaaaaaaaaaaaaaa0', 'i-0aaaaaaaaaaaaaaa1', 'i-0aaaaaaaaaaaaaaa2'];

function monitoringStack() {
  const app = testApp();
  const stack = new Stack(app, 'Monitoring', { env: { region: 'us-east-1' } });
  const cluster = PatroniCluster.fromClusterAttributes(stack, 'Orders', {
    clusterName: 'orders',
    nodes: 3,
    endpointHostname: 'orders-db.internal',
    securityGroupId: 'sg-0a1b2c3d4e5f60718',
    nodeInstanceIds: INSTANCES,
    nodeAddresses: ADDRESSES,
    replicaMaxLag: Size.mebibytes(32),
    backupLimits: { maxBackupAge: Duration.hours(30), maxArchiveWait: Duration.minutes(6) },
  });
  const dns = DnsFailover.fromDnsFailoverAttributes(stack, 'Api', {
    recordName: 'api.example.com',
    hostedZoneId: 'Z0123456789ABCDEFGHIJ',
    primaryHealthCheckId: '11111111-2222-3333-4444-555555555555',
    secondaryHealthCheckId: '66666666-7777-8888-9999-000000000000',
  });
  const alarms = new FailoverAlarms(stack, 'Alarms', { clusters: [cluster], dnsFailovers: [dns] });
  return { stack, cluster, dns, alarms, text: renderStackRunbook(stack) };
}

describe('the runbook of a stack that imports a cluster and a DNS failover', () => {
  const { stack, cluster, dns, text } = monitoringStack();

  test('lists both as imported, each with the imported sections', () => {
    expect(text).toContain('| `Monitoring/Orders` | PatroniCluster (imported) | Database failover: orders |');
    expect(text).toContain('| `Monitoring/Api` | DnsFailover (imported) | DNS failover: api.example.com |');
    expect(text).not.toContain('This stack declares no DnsFailover or PatroniCluster');
    expect(headings(text).filter((h) => h.level === 2).map((h) => h.text)).toEqual([
      'DNS failover: api.example.com (`Monitoring/Api`, imported)',
      'Database failover: orders (`Monitoring/Orders`, imported)',
    ]);
    const sections = headings(text).filter((h) => h.level === 3).map((h) => h.text);
    const expected = IMPORTED_RUNBOOK_SECTIONS.map((s, i) => `${i + 1}. ${s}`);
    expect(sections).toEqual([...expected, ...expected]);
  });

  test('states every attribute of the cluster', () => {
    for (const value of [...ADDRESSES, ...INSTANCES, 'orders-0', 'orders-2', 'orders-db.internal:5432', 'orders-db.internal:5433', 'CdkFailover/Patroni/orders']) {
      expect(text).toContain(`\`${value}\``);
    }
    expect(text).toContain('| lag limit of a healthy replica (`replicaMaxLag`) | 32 MiB (33554432 bytes) |');
    expect(text).toContain('| backup alarm limits | newest backup 1 day 6 hours, WAL archive wait 6 minutes |');
  });

  test('names the alarms of this app that watch each import, by logical ID', () => {
    const alarms = alarmsOf(stack);
    for (const kind of ['DbNoPrimary', 'DbSplitBrain', 'DbFailoverOccurred', 'BackupTooOld', 'DnsFailoverTriggered', 'DnsSecondaryUnhealthy']) {
      const ids = alarms.filter((a) => a.kind === kind).map((a) => a.logicalId);
      expect(ids.length).toBeGreaterThan(0);
      expect(text).toContain(`| \`${kind}\` |`);
      for (const id of ids) expect(text).toContain(`\`${id}\``);
    }
  });

  test('reads each node\'s IsPrimary metric, and the CLI lines parse with the real CLI', () => {
    const lines = shellLines(text);
    for (const node of cluster.nodeNames) {
      expect(lines.some((l) => l.includes('--namespace CdkFailover/Patroni/orders --metric-name IsPrimary') && l.includes(`Name=Node,Value=${node} `))).toBe(true);
    }
    const cli = failoverLines(text).map((line) => parse(line.split(' ').slice(2)));
    expect(cli.map((c) => c.command)).toEqual(['status', 'status']);
    expect(cli[0]!.opts).toMatchObject({
      healthCheckId: dns.primaryHealthCheckId,
      secondaryHealthCheckId: dns.secondaryHealthCheckId,
      hostedZoneId: 'Z0123456789ABCDEFGHIJ',
      recordName: 'api.example.com',
    });
    expect(cli[1]!.opts).toMatchObject({
      patroniUrl: ADDRESSES.map((a) => `https://${a}:8008`),
      tlsSecretFile: 'operator-tls.json',
      maxLag: 32 * 1024 * 1024,
    });
  });

  test('Runbooks.forPatroniCluster and forDnsFailover take the imports', () => {
    expect(Runbooks.forPatroniCluster(cluster)).toMatch(/^# Database failover: orders \(`Monitoring\/Orders`, imported\)\n/);
    expect(Runbooks.forDnsFailover(dns)).toMatch(/^# DNS failover: api\.example\.com \(`Monitoring\/Api`, imported\)\n/);
  });
});

describe('imports without the optional attributes, or with deploy-time values', () => {
  test('unknown instance IDs and addresses, no alarms: said, not invented', () => {
    const stack = new Stack(testApp(), 'S', { env: { region: 'eu-west-1' } });
    PatroniCluster.fromClusterAttributes(stack, 'Db', { clusterName: 'billing', nodes: 5, endpointHostname: 'db.internal', securityGroupId: 'sg-0a1b2c3d4e5f60718' });
    const text = renderStackRunbook(stack);
    expect(text).toContain('| node instance IDs | not given to the import |');
    expect(text).toContain('| node addresses | not given to the import |');
    expect(text).toContain('| backup alarm limits | not given (no backup alarms) |');
    expect(text).toContain('No FailoverAlarms in this app watches this import.');
    expect(shellLines(text).filter((l) => l.includes('--metric-name IsPrimary'))).toHaveLength(5);
  });

  test('a cluster name known only at deploy time: no invented commands', () => {
    const stack = new Stack(testApp(), 'S', { env: { region: 'eu-west-1' } });
    const name = new CfnParameter(stack, 'ClusterName').valueAsString;
    PatroniCluster.fromClusterAttributes(stack, 'Db', { clusterName: name, nodes: 3, endpointHostname: 'db.internal', securityGroupId: 'sg-0a1b2c3d4e5f60718' });
    const text = renderStackRunbook(stack);
    expect(text).toContain('Database failover: a cluster named at deploy time (`S/Db`, imported)');
    expect(text).toContain("The cluster's name is known only at deploy time");
    expect(shellLines(text)).toEqual([]);
    expect(text).not.toMatch(UNRESOLVED);
  });

  test('a cluster of another stack of the app, referenced across stacks: its values are deploy-time', () => {
    const app = testApp();
    const db = new Stack(app, 'Db', { env: { region: 'eu-west-1' } });
    const vpc = new ec2.Vpc(db, 'Vpc', { availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'], natGateways: 1 });
    const cluster = new PatroniCluster(db, 'Orders', { vpc, clusterName: 'orders' });
    const mon = new Stack(app, 'Mon', { env: { region: 'eu-west-1' } });
    const imported = PatroniCluster.fromClusterAttributes(mon, 'Orders', {
      clusterName: cluster.clusterName,
      nodes: 3,
      endpointHostname: cluster.writerEndpoint.hostname,
      securityGroupId: cluster.connections.securityGroups[0]!.securityGroupId,
      nodeAddresses: cluster.nodeAddresses,
    });
    new FailoverAlarms(mon, 'Alarms', { clusters: [imported] });
    const text = renderStackRunbook(mon);
    expect(text).toContain('| writer endpoint | known at deploy time (a value of another stack) |');
    expect(text).toContain('| node addresses | known at deploy time (a value of another stack) |');
    expect(text).toContain('The node addresses are known only at deploy time (a value of another stack)');
    expect(failoverLines(text)).toEqual([]);
    expect(text).toContain('| `DbNoPrimary` |');
    expect(text).not.toMatch(UNRESOLVED);
    // The defining stack's runbook still has the whole procedure, and names the alarms of the other stack.
    const full = renderStackRunbook(db);
    expect(full).toContain('### 6. Execute');
    expect(full).toContain('Alarms of `Mon/Alarms`');
  });

  test('deploy-time latency regions and backup limits are said to be, not printed as tokens', () => {
    const stack = new Stack(testApp(), 'S', { env: { region: 'us-east-1' } });
    const regions = new CfnParameter(stack, 'Regions').valueAsString;
    const age = new CfnParameter(stack, 'Age', { type: 'Number' }).valueAsNumber;
    DnsFailover.fromDnsFailoverAttributes(stack, 'Api', {
      recordName: 'api.example.com',
      hostedZoneId: 'Z0123456789ABCDEFGHIJ',
      primaryHealthCheckId: '11111111-2222-3333-4444-555555555555',
      latencyRegions: Fn.split(',', regions, 3),
    });
    PatroniCluster.fromClusterAttributes(stack, 'Db', {
      clusterName: 'orders',
      nodes: 3,
      endpointHostname: 'db.internal',
      securityGroupId: 'sg-0a1b2c3d4e5f60718',
      backupLimits: { maxBackupAge: Duration.seconds(age), maxArchiveWait: Duration.minutes(6) },
    });
    const text = renderStackRunbook(stack);
    expect(text).toContain('| checker regions whose latency is measured | known at deploy time (a value of another stack) |');
    expect(text).toContain('| backup alarm limits | newest backup known at deploy time (a value of another stack), WAL archive wait 6 minutes |');
    expect(text).not.toMatch(UNRESOLVED);
  });

  test('a DnsFailover beside an imported cluster named at deploy time: the DNS runbook names it so', () => {
    const stack = new Stack(testApp(), 'S', { env: { region: 'us-east-1' } });
    const zone = new route53.PublicHostedZone(stack, 'Zone', { zoneName: 'example.com' });
    new DnsFailover(stack, 'Api', {
      zone,
      recordName: 'api',
      primary: FailoverEndpoint.ipAddress('203.0.113.10'),
      secondary: FailoverEndpoint.ipAddress('198.51.100.10'),
    });
    const name = new CfnParameter(stack, 'ClusterName').valueAsString;
    PatroniCluster.fromClusterAttributes(stack, 'Db', { clusterName: name, nodes: 3, endpointHostname: 'db.internal', securityGroupId: 'sg-0a1b2c3d4e5f60718' });
    const text = renderStackRunbook(stack);
    expect(text).toContain('This stack also has the database a cluster named at deploy time (imported) (its own section below).');
    expect(text).not.toMatch(UNRESOLVED);
  });

  test('a DNS failover whose IDs are deploy-time values: no invented commands', () => {
    const stack = new Stack(testApp(), 'S', { env: { region: 'us-east-1' } });
    const id = new CfnParameter(stack, 'HealthCheckId').valueAsString;
    DnsFailover.fromDnsFailoverAttributes(stack, 'Api', { recordName: 'api.example.com', hostedZoneId: 'Z0123456789ABCDEFGHIJ', primaryHealthCheckId: id });
    const text = renderStackRunbook(stack);
    expect(text).toContain('| primary health check ID | known at deploy time (a value of another stack) |');
    expect(text).toContain('| secondary health check ID | none (no secondary health check) |');
    expect(failoverLines(text)).toEqual([]);
  });
});

/** The alarms of a stack's FailoverAlarms, by kind (their construct ID) and logical ID. */
function alarmsOf(stack: Stack): { kind: string; logicalId: string }[] {
  const alarms = stack.node.findAll().find((c): c is FailoverAlarms => c instanceof FailoverAlarms)!.alarms;
  return Object.values(alarms).map((a) => ({ kind: a.node.id, logicalId: stack.getLogicalId(a.node.defaultChild as never) }));
}
