// PatroniCluster as a standby cluster of another (regional recovery): what it renders, grants and
// creates, what it refuses at synth, and what changing it does to a deployed stack.
import { Duration, Fn, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { ClusterTls, FailoverAlarms, PatroniCluster, PatroniClusterProps } from '../../lib';
import { policyStatements as statements, setupCluster } from './cluster-fixture';
import { unpackNode } from './user-data-helpers';
import { issueClusterCertificates } from '../../lib/tls/cluster-certificates';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const ARN = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbCdEf`;

/** The primary in another region, by attributes, and the props a standby of it needs. */
function standbyProps(stack: Stack, overrides: Partial<PatroniClusterProps> = {}, primary: Partial<Parameters<typeof PatroniCluster.fromClusterAttributes>[2]> = {}): Partial<PatroniClusterProps> {
  return {
    clusterName: 'orders-dr',
    standbyOf: PatroniCluster.fromClusterAttributes(stack, 'Primary', {
      clusterName: 'orders',
      nodes: 3,
      endpointHostname: 'orders-db.elb.us-east-1.amazonaws.com',
      securityGroupId: 'sg-12345678',
      backupLimits: { maxBackupAge: Duration.hours(30), maxArchiveWait: Duration.minutes(6) },
      ...primary,
    }),
    backup: { bucket: s3.Bucket.fromBucketName(stack, 'Repo', 'orders-repository-eu-west-1') },
    databaseSecrets: {
      superuser: secretsmanager.Secret.fromSecretCompleteArn(stack, 'Su', ARN('orders-superuser')),
      replication: secretsmanager.Secret.fromSecretCompleteArn(stack, 'Repl', ARN('orders-replication')),
      rewind: secretsmanager.Secret.fromSecretCompleteArn(stack, 'Rw', ARN('orders-rewind')),
    },
    ...overrides,
  };
}


describe('PatroniCluster standbyOf', () => {
  const { template, cluster } = setupCluster((stack) => standbyProps(stack));

  test("the nodes follow the primary's stanza through the repository: standby_cluster in bootstrap.dcs, the standby leader from its backup", () => {
    const text = unpackNode(template, 0).text;
    expect(text).toMatch(/standby_cluster:\n\s+restore_command: pgbackrest --config=\S+ --stanza=orders --repo1-path=\/orders --pg1-path=\S+ --repo=1 archive-get %f "%p"/);
    expect(text).toMatch(/pgbackrest_standby:\n\s+command: pgbackrest --config=\S+ --stanza=orders --repo1-path=\/orders --pg1-path=\S+ --repo=1 --delta restore/);
    // Its own stanza for after the promotion.
    expect(text).toContain('--stanza=orders-dr archive-push');
  });

  test("the role reads the primary's prefix only, and writes its own", () => {
    const s3Statements = statements(template, 'ProcessRole').filter((s) => JSON.stringify(s.Resource).includes('orders-repository-eu-west-1'));
    const on = (prefix: string) => s3Statements.filter((s) => JSON.stringify(s.Resource).includes(`/${prefix}/*`)).map((s) => [s.Action].flat().sort());
    expect(on('orders')).toEqual([['s3:GetObject']]);
    expect(on('orders-dr')).toEqual([['s3:DeleteObject', 's3:GetObject', 's3:PutObject']]);
  });

  test("the node role (root's, which runs failover promote --stack) may put the primary's fence and nothing else of its prefix; the process role may not", () => {
    const fence = (role: string) =>
      statements(template, role)
        .filter((s) => JSON.stringify(s.Resource).includes('/orders/fence.json'))
        .map((s) => [s.Action].flat().sort());
    expect(fence('NodeRole')).toEqual([['s3:PutObject']]);
    expect(fence('ProcessRole')).toEqual([]);
  });

  test("the database roles' secrets are the primary's (none created, read by the nodes); the REST API's is its own", () => {
    const secrets = template.findResources('AWS::SecretsManager::Secret');
    const users = Object.values(secrets)
      .map((s: Json) => String(s.Properties.Description))
      .filter((d) => d.includes(' of Patroni cluster '));
    expect(users).toEqual(['Patroni REST API user of Patroni cluster orders-dr']);
    expect(cluster.superuserSecret.secretArn).toBe(ARN('orders-superuser'));
    const read = statements(template, 'NodeRole').filter((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]).includes('secretsmanager:GetSecretValue'));
    const readable = JSON.stringify(read.map((s) => s.Resource));
    for (const name of ['orders-superuser', 'orders-replication', 'orders-rewind']) expect(readable).toContain(ARN(name));
  });

  test("FailoverAlarms watch a standby's readiness instead of its primary and backups; the same cluster without standbyOf gets the primary's", () => {
    const kinds = (standby: boolean) => {
      let alarms: FailoverAlarms | undefined;
      setupCluster(
        (stack) => standbyProps(stack, standby ? {} : { standbyOf: undefined }),
        undefined,
        (stack, _vpc, c) => {
          alarms = new FailoverAlarms(stack, 'Alarms', { clusters: [c], overrides: { standbyNotReady: { threshold: 600 } } });
        },
      );
      return Object.keys(alarms!.alarms).filter((k) => !k.includes('/Node')).map((k) => k.split('/').pop()!).sort();
    };
    const standby = kinds(true);
    expect(standby).toContain('StandbyNotReady');
    expect(standby).not.toContain('DbNoPrimary');
    expect(standby.filter((k) => /Backup|WalArchive/.test(k))).toEqual([]);
    const promoted = kinds(false);
    expect(promoted).not.toContain('StandbyNotReady');
    expect(promoted).toEqual(expect.arrayContaining(['DbNoPrimary', 'BackupTooOld', 'WalArchiveFailing', 'WalArchiveLate']));
    // Both keep the rest.
    expect(standby.filter((k) => k !== 'StandbyNotReady')).toEqual(promoted.filter((k) => !['DbNoPrimary', 'BackupTooOld', 'WalArchiveFailing', 'WalArchiveLate'].includes(k)));
  });

  test('StandbyNotReady: the maximum of the nodes\' StandbyReplayAgeSeconds over the threshold given, no standby leader breaching', () => {
    let alarms: FailoverAlarms | undefined;
    const { template: t } = setupCluster((stack) => standbyProps(stack), undefined, (stack, _vpc, c) => {
      alarms = new FailoverAlarms(stack, 'Alarms', { clusters: [c], overrides: { standbyNotReady: { threshold: 600 } } });
    });
    const id = Object.entries(t.findResources('AWS::CloudWatch::Alarm')).find(([, a]: [string, Json]) => String(a.Properties.AlarmDescription).includes('secondary region not ready'))!;
    const p = (id[1] as Json).Properties;
    expect(p.AlarmDescription).toBe("cluster orders-dr: secondary region not ready: the standby cluster's last replayed commit of its primary is older than the threshold (seconds), or no standby leader publishes it (none runs, or it has replayed no commit since it started)");
    expect({ threshold: p.Threshold, comparison: p.ComparisonOperator, missing: p.TreatMissingData, periods: p.EvaluationPeriods }).toEqual({
      threshold: 600,
      comparison: 'GreaterThanThreshold',
      missing: 'breaching',
      periods: 3,
    });
    expect(JSON.stringify(p.Metrics)).toContain('StandbyReplayAgeSeconds');
    expect(JSON.stringify(p.Metrics)).toMatch(/MAX\(/);
    expect(alarms!.alarms['Cluster-orders-dr/StandbyNotReady']).toBeDefined();
  });

  test('it says whom it follows: primaryClusterName and its output', () => {
    expect(cluster.primaryClusterName).toBe('orders');
    template.hasOutput('*', { Value: 'orders', Description: `cdk-failover:PatroniCluster:${cluster.node.path}:primaryClusterName` });
  });

  test.each<[string, (stack: Stack) => Partial<PatroniClusterProps>, string]>([
    ['itself', (stack) => standbyProps(stack, { clusterName: 'orders' }), "standbyOf: a cluster cannot follow itself ('orders')"],
    ['a primary named as no cluster is', (stack) => standbyProps(stack, {}, { clusterName: 'Orders DB' }), "standbyOf: the primary's clusterName must be a cluster name (lowercase letters, digits, hyphens), got 'Orders DB'"],
    [
      'a primary whose name is a deploy-time value',
      (stack) => standbyProps(stack, {}, { clusterName: Fn.importValue('OrdersClusterName') }),
      "standbyOf: the primary's clusterName is a deploy-time value; it names the primary's stanza in the repository, which the nodes' configuration needs at synth",
    ],
    [
      'a standby',
      (stack) => standbyProps(stack, {}, { primaryClusterName: 'orders-main' }),
      "standbyOf: 'orders' is itself a standby of 'orders-main': a standby of a standby is not supported; follow 'orders-main'",
    ],
    [
      'a primary without backups',
      (stack) => standbyProps(stack, {}, { backupLimits: undefined }),
      "standbyOf: the primary 'orders' declares no backups: a standby follows the primary's pgBackRest repository (give the primary backup; an import, its backupLimits attribute)",
    ],
    ['no backup', (stack) => standbyProps(stack, { backup: undefined }), "standbyOf needs backup.bucket: the bucket that holds the primary 'orders''s repository in this region"],
    ['a new bucket', (stack) => standbyProps(stack, { backup: {} }), 'a new bucket holds none'],
    [
      'restoreFrom too',
      (stack) => ({ ...standbyProps(stack), backup: { bucket: s3.Bucket.fromBucketName(stack, 'R2', 'old-repository'), restoreFrom: { clusterName: 'old' } } }),
      'standbyOf and backup.restoreFrom exclude each other: a standby cluster is made from its primary',
    ],
    ['no databaseSecrets', (stack) => standbyProps(stack, { databaseSecrets: undefined }), "standbyOf needs databaseSecrets: the primary 'orders''s superuser, replication and rewind secrets"],
  ])('refuses a standby of %s at synth', (_what, props, message) => {
    expect(() => setupCluster(props)).toThrow(message);
  });

  test('a primary in the same app without backups is refused too', () => {
    expect(() =>
      setupCluster((stack, vpc) => {
        const primary = new PatroniCluster(stack, 'Main', { vpc, clusterName: 'orders' });
        return { ...standbyProps(stack), standbyOf: primary };
      }),
    ).toThrow("standbyOf: the primary 'orders' declares no backups");
  });

  test('day two: removing standbyOf after the promotion (secrets kept) changes no instance, only the generation; nothing re-creates the secrets', () => {
    const after = setupCluster((stack) => standbyProps(stack, { standbyOf: undefined }));
    const instances = (t: typeof template) => Object.fromEntries(Object.entries(t.findResources('AWS::EC2::Instance')).map(([id, r]: [string, Json]) => [id, r.Properties]));
    expect(Object.keys(instances(template))).toHaveLength(3);
    expect(instances(after.template)).toEqual(instances(template));
    expect(after.template.findResources('AWS::SecretsManager::Secret')).toEqual(template.findResources('AWS::SecretsManager::Secret'));
    // Only bootstrap.dcs changes: Patroni reads it at a cluster's first boot only; the promoted cluster keeps its /config.
    const patroniYml = (t: typeof template) => unpackNode(t, 0).bundle.files.find((f) => f.path.endsWith('/patroni.yml'))!.content;
    expect(patroniYml(template)).toContain('standby_cluster');
    expect(patroniYml(after.template)).not.toContain('standby_cluster');
    expect(unpackNode(after.template, 0).document.generation).not.toBe(unpackNode(template, 0).document.generation);
  });
});

describe('PatroniCluster standbyStreaming', () => {
  const issued = issueClusterCertificates({ clusterName: 'orders', days: 30, now: new Date('2026-12-01T00:00:00Z'), nodes: [{ name: 'pg-0', address: '10.0.0.10' }] });
  const primaryCa = issued.databaseCa.certificatePem;
  const streaming = (more: Partial<PatroniClusterProps['standbyStreaming']> = {}) => ({ primaryNetwork: ec2.Peer.ipv4('10.1.0.0/16'), primaryDatabaseCa: primaryCa, ...more });
  const { template } = setupCluster((stack) => standbyProps(stack, { standbyStreaming: streaming() }));
  const repositoryOnly = setupCluster((stack) => standbyProps(stack)).template;
  const instances = (t: typeof template) => Object.fromEntries(Object.entries(t.findResources('AWS::EC2::Instance')).map(([id, r]: [string, Json]) => [id, r.Properties]));

  test("standby_cluster streams from the primary's writer endpoint besides the repository, and the nodes' agents get the primary's database CA to trust", () => {
    const node = unpackNode(template, 0);
    expect(node.text).toMatch(/standby_cluster:\n\s+host: orders-db\.elb\.us-east-1\.amazonaws\.com\n\s+port: 5432\n\s+restore_command: pgbackrest /);
    expect(node.bundle.tls?.primaryDatabaseCa).toBe('__PRIMARY_DATABASE_CA__');
    expect(node.document.values.__PRIMARY_DATABASE_CA__).toBe(primaryCa);
    expect(unpackNode(repositoryOnly, 0).bundle.tls?.primaryDatabaseCa).toBeUndefined();
  });

  test("the nodes may reach the primary's network on the writer port, and nothing more is opened", () => {
    const egress = (t: typeof template) =>
      Object.values(t.findResources('AWS::EC2::SecurityGroup'))
        .flatMap((r: Json) => r.Properties.SecurityGroupEgress ?? [])
        .concat(Object.values(t.findResources('AWS::EC2::SecurityGroupEgress')).map((r: Json) => r.Properties));
    const added = egress(template).filter((rule: Json) => !egress(repositoryOnly).some((r: Json) => JSON.stringify(r) === JSON.stringify(rule)));
    expect(added).toEqual([expect.objectContaining({ CidrIp: '10.1.0.0/16', IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432 })]);
  });

  test('day two: adding streaming to a standby changes no instance, only what the agents roll out (a new generation)', () => {
    expect(instances(template)).toEqual(instances(repositoryOnly));
    expect(unpackNode(template, 0).document.generation).not.toBe(unpackNode(repositoryOnly, 0).document.generation);
  });

  test('host and port may be given (a name the primary\'s certificate holds, resolvable from this VPC)', () => {
    const other = setupCluster((stack) => standbyProps(stack, { standbyStreaming: streaming({ host: 'orders-writer.internal.example', port: 6432 }) })).template;
    expect(unpackNode(other, 0).text).toMatch(/standby_cluster:\n\s+host: orders-writer\.internal\.example\n\s+port: 6432\n/);
  });

  test('without TLS there is no CA to give', () => {
    const plain = setupCluster((stack) => standbyProps(stack, { tls: ClusterTls.OFF, standbyStreaming: { primaryNetwork: ec2.Peer.ipv4('10.1.0.0/16') } })).template;
    expect(unpackNode(plain, 0).text).toContain('host: orders-db.elb.us-east-1.amazonaws.com');
    expect(unpackNode(plain, 0).bundle.tls).toBeUndefined();
  });

  test.each<[string, (stack: Stack) => Partial<PatroniClusterProps>, string]>([
    ['without standbyOf', (stack) => ({ ...standbyProps(stack), standbyOf: undefined, databaseSecrets: undefined, standbyStreaming: streaming() }), 'standbyStreaming goes with standbyOf'],
    [
      'without the CA, with TLS',
      (stack) => standbyProps(stack, { standbyStreaming: streaming({ primaryDatabaseCa: undefined }) }),
      "standbyStreaming.primaryDatabaseCa is required with TLS: replication checks the primary's endpoint against it",
    ],
    [
      'a CA without TLS',
      (stack) => standbyProps(stack, { tls: ClusterTls.OFF, standbyStreaming: streaming() }),
      'standbyStreaming.primaryDatabaseCa needs TLS: with ClusterTls.OFF replication checks no certificate',
    ],
    ['a CA that is no PEM', (stack) => standbyProps(stack, { standbyStreaming: streaming({ primaryDatabaseCa: 'MIIB...' }) }), 'standbyStreaming.primaryDatabaseCa must be one PEM certificate'],
    [
      'two certificates',
      (stack) => standbyProps(stack, { standbyStreaming: streaming({ primaryDatabaseCa: `${primaryCa}\n${primaryCa}` }) }),
      'standbyStreaming.primaryDatabaseCa must be one PEM certificate',
    ],
    [
      'a certificate that is no CA',
      (stack) => standbyProps(stack, { standbyStreaming: streaming({ primaryDatabaseCa: issued.database.certificatePem }) }),
      'standbyStreaming.primaryDatabaseCa must be a CA certificate, got one for CN=',
    ],
    [
      'a broken certificate',
      (stack) => standbyProps(stack, { standbyStreaming: streaming({ primaryDatabaseCa: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' }) }),
      'standbyStreaming.primaryDatabaseCa is not a readable certificate',
    ],
    [
      'a host that is a deploy-time value',
      (stack) => standbyProps(stack, { standbyStreaming: streaming() }, { endpointHostname: Fn.importValue('OrdersEndpoint') }),
      "standbyStreaming.host: the primary's writer endpoint host name is a deploy-time value",
    ],
    [
      'a CA that is a deploy-time value',
      (stack) => standbyProps(stack, { standbyStreaming: streaming({ primaryDatabaseCa: Fn.importValue('OrdersDatabaseCa') }) }),
      'standbyStreaming.primaryDatabaseCa must be known at synth (the PEM text): a deploy-time value that changed would not roll out to the nodes',
    ],
    [
      'every address as the primary network',
      (stack) => standbyProps(stack, { standbyStreaming: streaming({ primaryNetwork: ec2.Peer.anyIpv4() }) }),
      "standbyStreaming.primaryNetwork must be the primary's network (its VPC's CIDR), not every address (0.0.0.0/0)",
    ],
    [
      'a host given as a deploy-time value',
      (stack) => standbyProps(stack, { standbyStreaming: streaming({ host: Fn.importValue('OrdersEndpoint') }) }),
      "standbyStreaming.host is a deploy-time value; the nodes' configuration needs it at synth (give it as a string)",
    ],
    ['a host with a space', (stack) => standbyProps(stack, { standbyStreaming: streaming({ host: 'orders db' }) }), "standbyStreaming.host must be a host name or an IP address, got 'orders db'"],
    ['port 0', (stack) => standbyProps(stack, { standbyStreaming: streaming({ port: 0 }) }), 'standbyStreaming.port must be a port from 1 to 65535 known at synth, got 0'],
    ['port 70000', (stack) => standbyProps(stack, { standbyStreaming: streaming({ port: 70000 }) }), 'standbyStreaming.port must be a port from 1 to 65535 known at synth, got 70000'],
  ])('refuses streaming %s at synth', (_what, props, message) => {
    expect(() => setupCluster(props)).toThrow(message);
  });
});

describe('PatroniCluster databaseSecretReplicaRegions', () => {
  const replicas = (t: ReturnType<typeof setupCluster>['template']) =>
    Object.values(t.findResources('AWS::SecretsManager::Secret')).map((s: Json) => [String(s.Properties.Description).split(' of ')[0], s.Properties.ReplicaRegions]);

  test("the database roles' secrets are replicated into the regions given; the REST API's is not (a standby makes its own)", () => {
    const { template } = setupCluster({ clusterName: 'orders', databaseSecretReplicaRegions: ['us-west-2', 'eu-central-1'] });
    const both = [{ Region: 'us-west-2' }, { Region: 'eu-central-1' }];
    expect(replicas(template)).toEqual([
      ['PostgreSQL superuser', both],
      ['PostgreSQL replication user', both],
      ['PostgreSQL pg_rewind user', both],
      ['Patroni REST API user', undefined],
      // The certificates are the cluster's own: a standby issues its own.
      ['orders: cluster and database CA keys (issued by cdk-failover at deploy time)', undefined],
      ['orders: node and database certificates and keys (issued by cdk-failover at deploy time)', undefined],
      ['orders: operator client certificate and key (issued by cdk-failover at deploy time)', undefined],
    ]);
  });

  test('day two: adding or removing a replica region changes the secrets only (no instance, no secret replaced, same generation)', () => {
    const before = setupCluster({ clusterName: 'orders' }).template;
    const after = setupCluster({ clusterName: 'orders', databaseSecretReplicaRegions: ['us-west-2'] }).template;
    const instances = (t: typeof before) => Object.fromEntries(Object.entries(t.findResources('AWS::EC2::Instance')).map(([id, r]: [string, Json]) => [id, r.Properties]));
    expect(instances(after)).toEqual(instances(before));
    expect(Object.keys(after.findResources('AWS::SecretsManager::Secret'))).toEqual(Object.keys(before.findResources('AWS::SecretsManager::Secret')));
    expect(unpackNode(after, 0).document.generation).toBe(unpackNode(before, 0).document.generation);
  });

  test.each<[string, (stack: Stack) => Partial<PatroniClusterProps>, string]>([
    ['not a region', () => ({ databaseSecretReplicaRegions: ['west'] }), "databaseSecretReplicaRegions[0] must be a region name such as us-west-2, got 'west'"],
    ['its own region', () => ({ databaseSecretReplicaRegions: ['us-west-2', 'eu-west-1'] }), "databaseSecretReplicaRegions[1] is the cluster's own region (eu-west-1): a secret is replicated into other regions"],
    ['a region twice', () => ({ databaseSecretReplicaRegions: ['us-west-2', 'us-west-2'] }), 'databaseSecretReplicaRegions names us-west-2 twice'],
    [
      'with databaseSecrets',
      (stack) => ({ ...standbyProps(stack), databaseSecretReplicaRegions: ['us-west-2'] }),
      'databaseSecretReplicaRegions replicates the secrets the cluster creates; with databaseSecrets, replicate those secrets yourself',
    ],
  ])('refuses %s at synth', (_what, props, message) => {
    expect(() => setupCluster(props)).toThrow(message);
  });
});

describe('PatroniCluster databaseSecrets, day two', () => {
  test("giving a deployed cluster other database secrets changes no instance property; the created secrets leave the template but are retained; the nodes' generation changes (they would log in with the new passwords)", () => {
    const before = setupCluster({ clusterName: 'orders' }).template;
    const after = setupCluster((stack) => ({ clusterName: 'orders', databaseSecrets: standbyProps(stack).databaseSecrets })).template;
    const instances = (t: typeof before) => Object.fromEntries(Object.entries(t.findResources('AWS::EC2::Instance')).map(([id, r]: [string, Json]) => [id, r.Properties]));
    expect(instances(after)).toEqual(instances(before));
    const gone = Object.keys(before.findResources('AWS::SecretsManager::Secret')).filter((id) => !(id in after.findResources('AWS::SecretsManager::Secret')));
    expect(gone.map((id) => id.replace(/[0-9A-F]{8}$/, ''))).toEqual(['DbSuperuserSecret', 'DbReplicationSecret', 'DbRewindSecret']);
    for (const id of gone) expect(before.findResources('AWS::SecretsManager::Secret')[id].DeletionPolicy).toBe('Retain');
    expect(unpackNode(after, 0).document.generation).not.toBe(unpackNode(before, 0).document.generation);
  });
});
