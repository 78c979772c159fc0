import * as fs from 'fs';
import * as path from 'path';
import { Duration, Size, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ALARM_CATALOGUE, AlarmKind, AlarmOverrides, DnsFailover, LatencyMetric, overrideKey, FailoverAlarms, FailoverAlarmsProps, FailoverEndpoint, PatroniCluster, ClusterTls } from '../../lib';
import { App, CfnParameter, Names } from 'aws-cdk-lib';
import { testApp } from '../app';

function setup(props: Partial<FailoverAlarmsProps> & { region?: string; withDns?: boolean; withCluster?: boolean; measureLatency?: boolean } = {}) {
  const app = testApp();
  const stack = new Stack(app, 'Test', { env: { region: props.region ?? 'us-east-1' } });
  const zone = new route53.PublicHostedZone(stack, 'Zone', { zoneName: 'example.com' });
  const dns = new DnsFailover(stack, 'Api', {
    zone,
    recordName: 'api',
    primary: FailoverEndpoint.ipAddress('203.0.113.10'),
    secondary: FailoverEndpoint.ipAddress('198.51.100.10'),
    healthCheck: { measureLatency: props.measureLatency },
  });
  const vpc = new ec2.Vpc(stack, 'Vpc', { availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'], natGateways: 1 });
  const cluster = new PatroniCluster(stack, 'Db', { vpc, clusterName: 'orders', replicaMaxLag: Size.mebibytes(32) });
  const alarms = new FailoverAlarms(stack, 'Alarms', {
    dnsFailovers: props.withDns === false ? undefined : [dns],
    clusters: props.withCluster === false ? undefined : [cluster],
    ...props,
  });
  return { app, stack, dns, cluster, alarms, template: Template.fromStack(stack) };
}

type AlarmProps = Record<string, unknown>;

function alarmByDescription(template: Template, fragment: string): AlarmProps {
  const found = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((a) =>
    String(a.Properties.AlarmDescription).includes(fragment),
  );
  if (found.length !== 1) throw new Error(`${found.length} alarms match '${fragment}'`);
  return found[0].Properties;
}

describe('FailoverAlarms: each alarm\'s metric, statistic, threshold, comparison and missing data', () => {
  const { template, stack } = setup();

  test('DNS failover triggered: primary HealthCheckStatus Minimum < 1, keeps state when data is missing', () => {
    const a = alarmByDescription(template, 'the primary endpoint is unhealthy');
    expect(a).toMatchObject({
      Namespace: 'AWS/Route53',
      MetricName: 'HealthCheckStatus',
      Statistic: 'Minimum',
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'missing',
      Period: 60,
    });
    expect(JSON.stringify(a.Dimensions)).toMatch(/ApiPrimaryHealthCheck/);
  });

  test('no healthy DNS target: secondary HealthCheckStatus < 1 for 2 minutes', () => {
    const a = alarmByDescription(template, 'the secondary endpoint is unhealthy');
    expect(a).toMatchObject({ MetricName: 'HealthCheckStatus', Statistic: 'Minimum', Threshold: 1, ComparisonOperator: 'LessThanThreshold', EvaluationPeriods: 2 });
    expect(JSON.stringify(a.Dimensions)).toMatch(/ApiSecondaryHealthCheck/);
  });

  test('database failover occurred: Promotion Sum >= 1, no data means none happened', () => {
    const a = alarmByDescription(template, 'a node was promoted');
    expect(a).toMatchObject({
      Namespace: 'CdkFailover/Patroni/orders',
      MetricName: 'Promotion',
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      Dimensions: [{ Name: 'ClusterName', Value: 'orders' }],
    });
  });

  test('failover took too long: FailoverDurationSeconds Maximum > 60 s', () => {
    const a = alarmByDescription(template, 'a failover took longer');
    expect(a).toMatchObject({ MetricName: 'FailoverDurationSeconds', Statistic: 'Maximum', Threshold: 60, ComparisonOperator: 'GreaterThanThreshold' });
  });

  const mathAlarm = (fragment: string) => {
    const a = alarmByDescription(template, fragment);
    const metrics = a.Metrics as Array<{ Id: string; Expression?: string; MetricStat?: { Metric: { MetricName: string; Dimensions: unknown }; Stat: string } }>;
    const expression = metrics.find((m) => m.Expression)!;
    const inputs = metrics.filter((m) => m.MetricStat);
    return { a, expression: expression.Expression, inputs };
  };

  test('no primary: the sum over nodes of IsPrimary (Maximum) < 1 for 2 minutes, silence breaching', () => {
    const { a, expression, inputs } = mathAlarm('no node reports itself primary');
    expect(expression).toBe('SUM([FILL(isPrimary0, 0), FILL(isPrimary1, 0), FILL(isPrimary2, 0)])');
    expect(inputs.map((m) => [m.MetricStat!.Metric.MetricName, m.MetricStat!.Stat])).toEqual([
      ['IsPrimary', 'Maximum'],
      ['IsPrimary', 'Maximum'],
      ['IsPrimary', 'Maximum'],
    ]);
    expect(a).toMatchObject({ Threshold: 1, ComparisonOperator: 'LessThanThreshold', EvaluationPeriods: 2, TreatMissingData: 'breaching' });
  });

  test('split brain: the sum of IsPrimary Minimum (primary the whole minute) > 1, so a clean switchover does not trip it', () => {
    const { a, inputs } = mathAlarm('more than one node was primary');
    expect(inputs.every((m) => m.MetricStat!.Stat === 'Minimum')).toBe(true);
    expect(a).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 1, TreatMissingData: 'notBreaching' });
  });

  test('no healthy replica: sum of HealthyReplica < 1 for 3 minutes', () => {
    const { a, inputs } = mathAlarm('no streaming replica');
    expect(inputs[0].MetricStat!.Metric.MetricName).toBe('HealthyReplica');
    expect(a).toMatchObject({ Threshold: 1, ComparisonOperator: 'LessThanThreshold', EvaluationPeriods: 3, TreatMissingData: 'breaching' });
  });

  test('replication lag high: the worst ReplicationLagBytes > the cluster\'s replicaMaxLag for 5 minutes', () => {
    const { a, expression } = mathAlarm('further behind than the threshold');
    expect(expression).toMatch(/^MAX\(/);
    expect(a).toMatchObject({ Threshold: 32 * 1024 * 1024, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 5 });
  });

  test('etcd: a member unhealthy below 3 healthy, quorum at risk at 2 or fewer', () => {
    expect(mathAlarm('an etcd member is unhealthy').a).toMatchObject({ Threshold: 3, ComparisonOperator: 'LessThanThreshold', TreatMissingData: 'breaching' });
    expect(mathAlarm('down to the quorum').a).toMatchObject({ Threshold: 2, ComparisonOperator: 'LessThanOrEqualToThreshold' });
  });

  test("slower than declared: the worst TimingAdjusted >= 1 for 3 minutes; silence (an old publisher) is not an alarm", () => {
    const { a, expression, inputs } = mathAlarm('raised the declared timing');
    expect(expression).toMatch(/^MAX\(/);
    expect(inputs.map((m) => m.MetricStat!.Metric.MetricName)).toEqual(['TimingAdjusted', 'TimingAdjusted', 'TimingAdjusted']);
    expect(a).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', EvaluationPeriods: 3, TreatMissingData: 'notBreaching' });
  });

  test('certificates expiring: the first CertificateExpirySeconds (Minimum, over the nodes\' Minimum) < 30 days for 3 minutes; silence keeps the state', () => {
    const { a, expression, inputs } = mathAlarm('ends sooner than the threshold');
    expect(expression).toBe('MIN([certificateExpirySeconds0, certificateExpirySeconds1, certificateExpirySeconds2])');
    expect(inputs.map((m) => [m.MetricStat!.Metric.MetricName, m.MetricStat!.Stat])).toEqual([
      ['CertificateExpirySeconds', 'Minimum'],
      ['CertificateExpirySeconds', 'Minimum'],
      ['CertificateExpirySeconds', 'Minimum'],
    ]);
    expect(a).toMatchObject({ Threshold: 30 * 86_400, ComparisonOperator: 'LessThanThreshold', EvaluationPeriods: 3, TreatMissingData: 'missing' });
  });

  test('certificates expiring: a third of a validity shorter than 90 days; none without TLS; an import only with its certificateValidity', () => {
    const app = testApp();
    const stack = new Stack(app, 'S', { env: { region: 'us-east-1' } });
    const vpc = new ec2.Vpc(stack, 'Vpc', { availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'], natGateways: 1 });
    const short = new PatroniCluster(stack, 'Short', { vpc, clusterName: 'short', tls: ClusterTls.issued({ validity: Duration.days(30) }) });
    const off = new PatroniCluster(stack, 'Off', { vpc, clusterName: 'off', tls: ClusterTls.OFF });
    const attrs = { nodes: 3, endpointHostname: 'db.internal', securityGroupId: 'sg-0a1b2c3d4e5f60718' };
    const known = PatroniCluster.fromClusterAttributes(stack, 'Known', { ...attrs, clusterName: 'known', certificateValidity: Duration.days(365) });
    const unknown = PatroniCluster.fromClusterAttributes(stack, 'Unknown', { ...attrs, clusterName: 'unknown' });
    expect(short.certificateValidity?.toDays()).toBe(30);
    expect(off.certificateValidity).toBeUndefined();
    const alarms = new FailoverAlarms(stack, 'Alarms', { clusters: [short, off, known, unknown] });
    const expiring = Object.keys(alarms.alarms).filter((k) => k.endsWith('/CertificatesExpiring')).sort();
    expect(expiring).toEqual(['Cluster-known/CertificatesExpiring', 'Cluster-short/CertificatesExpiring']);
    const threshold = (k: string) => stack.resolve((alarms.alarms[k]!.node.defaultChild as cloudwatch.CfnAlarm).threshold);
    expect(threshold('Cluster-short/CertificatesExpiring')).toBe(10 * 86_400);
    expect(threshold('Cluster-known/CertificatesExpiring')).toBe(30 * 86_400);
    // An override still wins.
    const tuned = new FailoverAlarms(stack, 'Tuned', { clusters: [short], overrides: { certificatesExpiring: { threshold: 5 * 86_400 } } });
    expect(stack.resolve((tuned.alarms['Cluster-short/CertificatesExpiring']!.node.defaultChild as cloudwatch.CfnAlarm).threshold)).toBe(5 * 86_400);
  });

  test('a status-check alarm per node', () => {
    const statusAlarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((a) => a.Properties.MetricName === 'StatusCheckFailed');
    expect(statusAlarms).toHaveLength(3);
    expect(statusAlarms[0].Properties).toMatchObject({ Namespace: 'AWS/EC2', Statistic: 'Maximum', Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', EvaluationPeriods: 2 });
  });

  test('every alarm notifies the topic on ALARM and on OK', () => {
    const ours = Object.entries(template.findResources('AWS::CloudWatch::Alarm')).filter(([id]) => id.startsWith('Alarms'));
    expect(ours).toHaveLength(2 + 10 + 3);
    for (const [, a] of ours) {
      expect(a.Properties.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^AlarmsTopic/) }]);
      expect(a.Properties.OKActions).toEqual([{ Ref: expect.stringMatching(/^AlarmsTopic/) }]);
    }
  });

  test('a composite "failover in progress" alarm over DNS failover, promotion and no primary', () => {
    const composite = Object.values(template.findResources('AWS::CloudWatch::CompositeAlarm'))[0].Properties;
    const rule = JSON.stringify(stack.resolve(composite.AlarmRule));
    expect(rule.match(/ALARM\(/g)).toHaveLength(3);
    expect(rule).toMatch(/AlarmsDnsapiexamplecomDnsFailoverTriggered/);
    expect(rule).toMatch(/AlarmsClusterordersDbFailoverOccurred/);
    expect(rule).toMatch(/AlarmsClusterordersDbNoPrimary/);
  });

  test('the created topic is KMS-encrypted with rotation, SSL-only, and CloudWatch may use the key', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: { Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] })]) },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  test('a dashboard with health status, primaries, lag and role changes', () => {
    const body = JSON.stringify(stack.resolve(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody));
    for (const title of ['health check status', 'primaries', 'max replication lag', 'promotions and role changes', 'healthy replicas and etcd members']) {
      expect(body).toContain(title);
    }
  });

  test('cdk-nag AwsSolutions finds nothing on the alarms, topic and key (the test VPC itself has no flow log)', () => {
    const { app } = setup();
    const violations = new AwsSolutionsChecks().validateScope(app).violations;
    expect(violations.length).toBeGreaterThan(0); // the check ran: it reports the bare test VPC
    expect(violations.filter((v) => v.violatingResources.some((r) => (r.constructPath ?? '').startsWith('Test/Alarms/')))).toEqual([]);
  });
});

describe('FailoverAlarms options', () => {
  test('latency per checker region on the dashboard when measureLatency is on', () => {
    const { template, stack } = setup({ measureLatency: true });
    const body = JSON.stringify(stack.resolve(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody));
    expect(body).toContain('TimeToFirstByte');
    for (const region of ['us-east-1', 'us-west-2', 'eu-west-1']) expect(body).toMatch(new RegExp(`Region[\\\\"]+,[\\\\"]+${region}`));
  });

  test('e-mail subscriptions, an existing topic, and no OK notifications', () => {
    const app = testApp();
    const stack = new Stack(app, 'T', { env: { region: 'eu-west-1' } });
    const topic = new sns.Topic(stack, 'Existing');
    const vpc = new ec2.Vpc(stack, 'Vpc', { availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'], natGateways: 1 });
    const cluster = new PatroniCluster(stack, 'Db', { vpc, clusterName: 'x' });
    new FailoverAlarms(stack, 'Alarms', { clusters: [cluster], topic, emails: ['oncall@example.com'], notifyOnOk: false });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com', TopicArn: { Ref: Match.stringLikeRegexp('^Existing') } });
    Object.values(template.findResources('AWS::CloudWatch::Alarm'))
      .filter((a) => a.Properties.AlarmActions?.[0]?.Ref?.startsWith('Existing'))
      .forEach((a) => expect(a.Properties.OKActions).toBeUndefined());
  });

  test('overrides change threshold, period, evaluation periods and missing-data treatment', () => {
    const { template } = setup({
      overrides: {
        dbFailoverTooSlow: { threshold: 30 },
        dnsSecondaryUnhealthy: { period: Duration.minutes(5), evaluationPeriods: 3, datapointsToAlarm: 2, treatMissingData: cloudwatch.TreatMissingData.BREACHING },
      },
    });
    expect(alarmByDescription(template, 'a failover took longer').Threshold).toBe(30);
    expect(alarmByDescription(template, 'the secondary endpoint is unhealthy')).toMatchObject({
      Period: 300,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
      TreatMissingData: 'breaching',
    });
  });

  test.each([
    [{ Nope: { threshold: 1 } }, /overrides: 'Nope' is not an alarm of FailoverAlarms \(known: dnsFailoverTriggered, /],
    [{ dbNoPrimary: { evaluationPeriods: 0 } }, /overrides.dbNoPrimary.evaluationPeriods must be a whole number of at least 1, got 0/],
    [{ dbNoPrimary: { datapointsToAlarm: 5 } }, /overrides.dbNoPrimary.datapointsToAlarm must be 1 to evaluationPeriods \(2\), got 5/],
    [{ dbNoPrimary: { period: Duration.seconds(45) } }, /overrides.dbNoPrimary.period must be 10 s, 30 s or a multiple of 60 s .* got 45 s/],
  ])('refuses the override %j', (overrides, message) => {
    expect(() => setup({ overrides: overrides as AlarmOverrides })).toThrow(message); // as JavaScript could pass it
  });

  test('day two: changing overrides changes alarm properties only, never a node or any other resource', () => {
    const before = setup().template.toJSON().Resources as Record<string, { Type: string }>;
    const after = setup({ overrides: { dbFailoverTooSlow: { threshold: 30 }, dbNoPrimary: { evaluationPeriods: 3 } } }).template.toJSON().Resources as Record<
      string,
      { Type: string }
    >;
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    const changed = Object.keys(before).filter((id) => JSON.stringify(before[id]) !== JSON.stringify(after[id]));
    expect(changed.map((id) => before[id]!.Type)).toEqual(['AWS::CloudWatch::Alarm', 'AWS::CloudWatch::Alarm']);
  });

  test('AlarmOverrides has a property for every alarm of the catalogue, and nothing else', () => {
    type Missing = Exclude<Uncapitalize<AlarmKind>, keyof AlarmOverrides>;
    type Extra = Exclude<keyof AlarmOverrides, Uncapitalize<AlarmKind>>;
    const exact: [Missing | Extra] extends [never] ? true : false = true; // a compile error otherwise
    expect(exact).toBe(true);
    const every = Object.fromEntries((Object.keys(ALARM_CATALOGUE) as AlarmKind[]).map((k) => [overrideKey(k), { evaluationPeriods: 9 }]));
    const { alarms, stack } = setup({ overrides: every as AlarmOverrides });
    const periods = Object.values(alarms.alarms).map((a) => stack.resolve((a.node.defaultChild as cloudwatch.CfnAlarm).evaluationPeriods));
    expect(periods).toHaveLength(2 + 10 + 3);
    expect(new Set(periods)).toEqual(new Set([9]));
  });

  test('refuses Route 53 alarms outside us-east-1, explaining how to place them', () => {
    expect(() => setup({ region: 'eu-west-1' })).toThrow(
      /FailoverAlarms with dnsFailovers must be in a us-east-1 stack, but this stack's region is eu-west-1: Route 53 publishes health-check metrics only in us-east-1.*env: \{ region: 'us-east-1' \}/,
    );
  });

  test('refuses an environment-agnostic stack with DNS failovers', () => {
    const stack = new Stack(testApp(), 'T');
    const dns = new DnsFailover(stack, 'Api', {
      zone: new route53.PublicHostedZone(stack, 'Zone', { zoneName: 'example.com' }),
      recordName: 'api',
      primary: FailoverEndpoint.ipAddress('203.0.113.10'),
      secondary: FailoverEndpoint.ipAddress('198.51.100.10'),
    });
    expect(() => new FailoverAlarms(stack, 'Alarms', { dnsFailovers: [dns] })).toThrow(/region is not set \(environment-agnostic\)/);
  });

  test('cluster-only alarms may live in any region', () => {
    const { template } = setup({ region: 'eu-west-1', withDns: false });
    expect(Object.values(template.findResources('AWS::CloudWatch::Alarm')).some((a) => a.Properties.Namespace === 'AWS/Route53')).toBe(false);
  });

  test('refuses a cluster in another region, and nothing to watch, and a malformed e-mail', () => {
    const app = testApp();
    const east = new Stack(app, 'East', { env: { region: 'us-east-1' } });
    const west = new Stack(app, 'West', { env: { region: 'us-west-2' } });
    const vpc = new ec2.Vpc(west, 'Vpc', { availabilityZones: ['us-west-2a', 'us-west-2b', 'us-west-2c'], natGateways: 1 });
    const cluster = new PatroniCluster(west, 'Db', { vpc, clusterName: 'w' });
    expect(() => new FailoverAlarms(east, 'A1', { clusters: [cluster] })).toThrow(/clusters: West\/Db is in us-west-2 but this FailoverAlarms is in us-east-1/);
    expect(() => new FailoverAlarms(east, 'A2', {})).toThrow(/needs at least one of dnsFailovers or clusters/);
    expect(() => new FailoverAlarms(west, 'A3', { clusters: [cluster], emails: ['not-an-address'] })).toThrow(/emails: 'not-an-address' is not an e-mail address/);
  });
});

describe('README', () => {
  test("every row of docs/alarms.md's alarm table matches the catalogue", () => {
    const readme = fs.readFileSync(path.join(__dirname, '../../docs/alarms.md'), 'utf8');
    const symbols: Record<string, string> = { '<': 'LessThanThreshold', '>': 'GreaterThanThreshold', '>=': 'GreaterThanOrEqualToThreshold', '<=': 'LessThanOrEqualToThreshold' };
    const rows = readme.split('\n').filter((l) => /^\| `[A-Za-z]+` \| [<>=]+ /.test(l));
    expect(rows.map((r) => r.split('`')[1]).sort()).toEqual(Object.keys(ALARM_CATALOGUE).sort());
    for (const row of rows) {
      const [kind, fires, evaluation, missing, meaning] = row.split('|').slice(1, -1).map((c) => c.trim());
      const d = ALARM_CATALOGUE[kind.replace(/`/g, '') as AlarmKind];
      const [symbol, threshold] = fires.split(' ');
      expect([symbols[symbol], Number(threshold), Number(evaluation.split(' ')[0]), missing, meaning]).toEqual([
        d.comparison,
        d.threshold,
        d.evaluationPeriods,
        d.treatMissingData,
        d.description,
      ]);
    }
  });
});

describe('FailoverAlarms on constructs of other stacks, imported ones, and colliding names', () => {
  function dnsIn(stack: Stack, id: string, name: string): DnsFailover {
    const zone = new route53.PublicHostedZone(stack, `${id}Zone`, { zoneName: 'example.com' });
    return new DnsFailover(stack, id, {
      zone,
      recordName: name,
      primary: FailoverEndpoint.ipAddress('203.0.113.10'),
      secondary: FailoverEndpoint.ipAddress('198.51.100.10'),
    });
  }
  function clusterIn(stack: Stack, id: string, clusterName: string): PatroniCluster {
    const vpc = new ec2.Vpc(stack, `${id}Vpc`, { availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'], natGateways: 1 });
    return new PatroniCluster(stack, id, { vpc, clusterName });
  }
  const env = { region: 'us-east-1', account: '111111111111' };

  test('a cluster and a DNS failover of another stack in the region: alarms reference them across stacks', () => {
    const app: App = testApp();
    const data = new Stack(app, 'Data', { env });
    const cluster = clusterIn(data, 'Db', 'orders');
    const dns = dnsIn(data, 'Api', 'api');
    const ops = new Stack(app, 'Ops', { env });
    const alarms = new FailoverAlarms(ops, 'Alarms', { clusters: [cluster], dnsFailovers: [dns] });
    const template = Template.fromStack(ops);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 2 + 10 + 3);
    const statusChecks = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((a) => a.Properties.MetricName === 'StatusCheckFailed');
    expect(JSON.stringify(statusChecks[0].Properties.Dimensions)).toMatch(/"Fn::GetStackOutput":\{"StackName":"Data"/);
    expect(Object.keys(alarms.alarms).sort().slice(0, 3)).toEqual(['Cluster-orders/CertificatesExpiring', 'Cluster-orders/DbFailoverOccurred', 'Cluster-orders/DbFailoverTooSlow']);
    expect(alarms.alarms['Dns-api.example.com/DnsFailoverTriggered']).toBeDefined();
  });

  test('two watched constructs with the same leaf ID in different stacks do not collide', () => {
    const app = testApp();
    const one = new Stack(app, 'One', { env });
    const two = new Stack(app, 'Two', { env });
    const ops = new Stack(app, 'Ops', { env });
    const alarms = new FailoverAlarms(ops, 'Alarms', {
      dnsFailovers: [dnsIn(one, 'Api', 'api'), dnsIn(two, 'Api', 'shop')],
      clusters: [clusterIn(one, 'Db', 'orders'), clusterIn(two, 'Db', 'billing')],
    });
    const scopes = new Set(Object.keys(alarms.alarms).map((k) => k.split('/')[0]));
    expect([...scopes].sort()).toEqual(['Cluster-billing', 'Cluster-orders', 'Dns-api.example.com', 'Dns-shop.example.com']);
    Template.fromStack(ops).resourceCountIs('AWS::CloudWatch::Alarm', 2 * 2 + 2 * (10 + 3));
  });

  test('a watched construct named like a child of FailoverAlarms (Dashboard, Topic) does not collide', () => {
    const app = testApp();
    const stack = new Stack(app, 'S', { env });
    const alarms = new FailoverAlarms(stack, 'Alarms', { clusters: [clusterIn(stack, 'Dashboard', 'orders'), clusterIn(stack, 'Topic', 'billing')] });
    expect(alarms.dashboard.node.id).toBe('Dashboard');
    expect(Object.keys(alarms.alarms).filter((k) => k.endsWith('/DbNoPrimary')).sort()).toEqual(['Cluster-billing/DbNoPrimary', 'Cluster-orders/DbNoPrimary']);
  });

  test('the sub-scope IDs are stable: the same app gives the same logical IDs', () => {
    const ids = () => {
      const app = testApp();
      const stack = new Stack(app, 'S', { env });
      new FailoverAlarms(stack, 'Alarms', { clusters: [clusterIn(stack, 'Db', 'orders')] });
      return Object.keys(Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm')).sort();
    };
    expect(ids()).toEqual(ids());
  });

  test('a cluster name known only at deploy time: the scope is named after the construct', () => {
    const app = testApp();
    const stack = new Stack(app, 'S', { env });
    const name = new CfnParameter(stack, 'ClusterName').valueAsString;
    const imported = PatroniCluster.fromClusterAttributes(stack, 'Db', { clusterName: name, nodes: 3, endpointHostname: 'db.internal', securityGroupId: 'sg-0a1b2c3d4e5f60718' });
    const alarms = new FailoverAlarms(stack, 'Alarms', { clusters: [imported] });
    expect(Object.keys(alarms.alarms)).toContain(`Cluster-${Names.nodeUniqueId(imported.node)}/DbNoPrimary`);
  });

  test('refuses the same record name twice: the alarms could not be told apart', () => {
    const app = testApp();
    const one = new Stack(app, 'One', { env });
    const two = new Stack(app, 'Two', { env });
    expect(() => new FailoverAlarms(two, 'Alarms', { dnsFailovers: [dnsIn(one, 'Api', 'api'), dnsIn(two, 'Api', 'api')] })).toThrow(
      "dnsFailovers: two are for 'api.example.com'; their alarms could not be told apart: watch each record name once",
    );
  });

  test('refuses the same cluster name twice: the metrics would be the same', () => {
    const app = testApp();
    const stack = new Stack(app, 'S', { env });
    const imported = PatroniCluster.fromClusterAttributes(stack, 'Other', { clusterName: 'orders', nodes: 3, endpointHostname: 'db.internal', securityGroupId: 'sg-0a1b2c3d4e5f60718' });
    expect(() => new FailoverAlarms(stack, 'Alarms', { clusters: [clusterIn(stack, 'Db', 'orders'), imported] })).toThrow(
      "clusters: two clusters are named 'orders'; their metrics would be the same (the ClusterName dimension): watch each cluster once",
    );
  });

  test('an imported cluster: the same metrics by name, status-check alarms only with instance IDs', () => {
    const app = testApp();
    const stack = new Stack(app, 'S', { env });
    const bare = PatroniCluster.fromClusterAttributes(stack, 'Bare', { clusterName: 'orders', nodes: 5, endpointHostname: 'db.internal', securityGroupId: 'sg-0a1b2c3d4e5f60718' });
    const full = PatroniCluster.fromClusterAttributes(stack, 'Full', {
      clusterName: 'billing',
      nodes: 3,
      endpointHostname: 'db2.internal',
      securityGroupId: 'sg-0a1b2c3d4e5f60729',
      nodeInstanceIds: ['i-0', 'i-1', 'i-2'],
      replicaMaxLag: Size.mebibytes(64),
      loadBalancerFullName: 'net/db/abc',
      writerTargetGroupFullName: 'targetgroup/w/def',
    });
    expect(bare.nodeNames).toEqual(['orders-0', 'orders-1', 'orders-2', 'orders-3', 'orders-4']);
    expect(bare.metricsNamespace).toBe('CdkFailover/Patroni/orders');
    expect(full.writerEndpoint.socketAddress).toBe('db2.internal:5432');
    expect(full.readerEndpoint.socketAddress).toBe('db2.internal:5433');
    expect(() => bare.metricNodeStatusCheckFailed(0)).toThrow(/needs the nodes' instance IDs/);
    expect(() => bare.metricHealthyHaproxyCount()).toThrow(/needs the load balancer's and writer target group's full names/);
    expect(stack.resolve(full.metricHealthyHaproxyCount().dimensions)).toEqual({ LoadBalancer: 'net/db/abc', TargetGroup: 'targetgroup/w/def' });
    new FailoverAlarms(stack, 'Alarms', { clusters: [bare, full] });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 9 + (9 + 3));
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'StatusCheckFailed', Dimensions: [{ Name: 'InstanceId', Value: 'i-1' }] });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmDescription: Match.stringLikeRegexp('^cluster billing: '), Threshold: 64 * 1024 * 1024 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmDescription: Match.stringLikeRegexp('^cluster orders: .*etcd'), Threshold: 5 });
    // The HAProxy graph only for the import that gave its load balancer's names.
    const body = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody);
    expect(body.match(/healthy HAProxy targets behind the writer/g)).toHaveLength(1);
    expect(body).toContain('billing: healthy HAProxy targets');
  });

  test('an imported cluster: clients are allowed through its security group to both endpoints', () => {
    const app = testApp();
    const stack = new Stack(app, 'S', { env });
    const db = PatroniCluster.fromClusterAttributes(stack, 'Db', { clusterName: 'orders', nodes: 3, endpointHostname: 'db.internal', securityGroupId: 'sg-0123456789abcdef0' });
    const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0 });
    const app1 = new ec2.SecurityGroup(stack, 'App', { vpc });
    db.connections.allowDefaultPortFrom(app1);
    Template.fromStack(stack).hasResourceProperties('AWS::EC2::SecurityGroupIngress', { GroupId: 'sg-0123456789abcdef0', FromPort: 5432, ToPort: 5433 });
  });

  test('fromClusterAttributes refuses a node count, instance IDs or load balancer names that cannot be', () => {
    const stack = new Stack(testApp(), 'S', { env });
    const base = { clusterName: 'orders', endpointHostname: 'db.internal', securityGroupId: 'sg-0a1b2c3d4e5f60718' };
    expect(() => PatroniCluster.fromClusterAttributes(stack, 'A', { ...base, nodes: 4 })).toThrow("nodes must be 3 or 5 (a PatroniCluster's node count), got 4");
    expect(() => PatroniCluster.fromClusterAttributes(stack, 'B', { ...base, nodes: 3, nodeInstanceIds: ['i-0'] })).toThrow(
      'nodeInstanceIds must list 3 instance IDs (one per node), got 1',
    );
    expect(() => PatroniCluster.fromClusterAttributes(stack, 'C', { ...base, nodes: 3, loadBalancerFullName: 'net/x/y' })).toThrow(
      'loadBalancerFullName and writerTargetGroupFullName go together: give both or neither',
    );
  });

  test('an imported DNS failover: health status alarms, a secondary one only with its ID, latency only with regions', () => {
    const app = testApp();
    const stack = new Stack(app, 'S', { env });
    const withSecondary = DnsFailover.fromDnsFailoverAttributes(stack, 'Api', {
      recordName: 'api.example.com',
      hostedZoneId: 'Z1',
      primaryHealthCheckId: 'hc-primary',
      secondaryHealthCheckId: 'hc-secondary',
      latencyRegions: ['us-east-1', 'eu-west-1', 'us-west-2'],
    });
    const primaryOnly = DnsFailover.fromDnsFailoverAttributes(stack, 'Shop', { recordName: 'shop.example.com', hostedZoneId: 'Z1', primaryHealthCheckId: 'hc-shop' });
    expect(() => primaryOnly.metricSecondaryHealthy()).toThrow(/needs a secondary health check/);
    expect(() => primaryOnly.metricPrimaryLatency(LatencyMetric.CONNECTION_TIME)).toThrow(/latency metrics need healthCheck.measureLatency: true/);
    expect(stack.resolve(withSecondary.metricPrimaryLatency(LatencyMetric.CONNECTION_TIME, { checkerRegion: 'eu-west-1' }).dimensions)).toEqual({
      HealthCheckId: 'hc-primary',
      Region: 'eu-west-1',
    });
    new FailoverAlarms(stack, 'Alarms', { dnsFailovers: [withSecondary, primaryOnly] });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 3);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { Dimensions: [{ Name: 'HealthCheckId', Value: 'hc-secondary' }] });
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', {
      DashboardBody: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([Match.stringLikeRegexp('time to first byte')])]) }),
    });
  });
});

describe('FailoverAlarms: backup alarms for a cluster with backups', () => {
  const env = { region: 'us-east-1', account: '111111111111' };
  function backedUp(backup: object = {}, overrides?: AlarmOverrides) {
    const app = testApp();
    const stack = new Stack(app, 'Data', { env });
    const vpc = new ec2.Vpc(stack, 'Vpc', { availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'], natGateways: 1 });
    const cluster = new PatroniCluster(stack, 'Db', { vpc, clusterName: 'orders', backup });
    new FailoverAlarms(stack, 'Alarms', { clusters: [cluster], overrides });
    return { cluster, template: Template.fromStack(stack) };
  }
  /** The alarm's metric math: the expression, and the metric names it reads. */
  function math(a: AlarmProps): { expression: string; metricNames: string[] } {
    const metrics = a.Metrics as { Expression?: string; MetricStat?: { Metric: { MetricName: string } } }[];
    return {
      expression: metrics.find((m) => m.Expression)!.Expression!,
      metricNames: [...new Set(metrics.filter((m) => m.MetricStat).map((m) => m.MetricStat!.Metric.MetricName))],
    };
  }

  test('three alarms: backup age over maxBackupAge (breaching when silent), archiving failing, WAL waiting over archiveTimeout + 5 min', () => {
    const { template, cluster } = backedUp({ archiveTimeout: Duration.seconds(90) });
    expect(cluster.backupLimits?.maxBackupAge.toSeconds()).toBe(30 * 3600);
    const age = alarmByDescription(template, 'the newest backup (before');
    expect(age).toMatchObject({ Threshold: 30 * 3600, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 15, TreatMissingData: 'breaching' });
    // Only the primary publishes: no FILL, so that silence stays missing data.
    expect(math(age)).toEqual({ expression: 'MAX([backupAgeSeconds0, backupAgeSeconds1, backupAgeSeconds2])', metricNames: ['BackupAgeSeconds'] });
    const failing = alarmByDescription(template, 'WAL archiving has failed');
    expect(failing).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', EvaluationPeriods: 5, TreatMissingData: 'notBreaching' });
    expect(math(failing).metricNames).toEqual(['WalArchiveFailing']);
    const late = alarmByDescription(template, 'waited longer than the threshold');
    expect(late).toMatchObject({ Threshold: (2 + 5) * 60, EvaluationPeriods: 3 });
    expect(math(late).metricNames).toEqual(['WalArchiveWaitSeconds']);
    expect(String(age.AlarmDescription)).toMatch(/^cluster orders: /);
  });

  test('the dashboard shows the backup age, the archive wait and the repository size', () => {
    const body = JSON.stringify(Object.values(backedUp().template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody);
    expect(body).toContain('orders: newest backup age and oldest WAL waiting for the archive (s)');
    expect(body).toContain('BackupRepositorySizeBytes');
  });

  test('a cluster without backups has none of them, nor their graphs', () => {
    const { template } = setup({ withDns: false });
    const descriptions = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => String(a.Properties.AlarmDescription));
    expect(descriptions.filter((d) => /backup|WAL/.test(d))).toEqual([]);
    expect(JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'))).not.toContain('BackupAgeSeconds');
  });

  test('overrides and maxBackupAge change the thresholds', () => {
    const { template } = backedUp({ maxBackupAge: Duration.days(8) }, { walArchiveLate: { threshold: 900 } });
    expect(alarmByDescription(template, 'the newest backup (before').Threshold).toBe(8 * 86400);
    expect(alarmByDescription(template, 'waited longer than the threshold').Threshold).toBe(900);
  });

  test('day two: a changed maxBackupAge changes one alarm threshold and nothing else', () => {
    const before = backedUp().template.toJSON().Resources as Record<string, unknown>;
    const after = backedUp({ maxBackupAge: Duration.hours(50) }).template.toJSON().Resources as Record<string, unknown>;
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    const changed = Object.keys(after).filter((id) => JSON.stringify(after[id]) !== JSON.stringify(before[id]));
    expect(changed).toHaveLength(1);
    expect(JSON.stringify(after[changed[0]])).toContain('"Threshold":180000');
  });

  test('maxBackupAge must be whole minutes of at least one', () => {
    expect(() => backedUp({ maxBackupAge: Duration.seconds(30) })).toThrow('backup.maxBackupAge must be whole minutes, at least 1 minute (the backup alarms\' period), got 30 seconds');
    expect(() => backedUp({ maxBackupAge: Duration.seconds(90) })).toThrow(/backup.maxBackupAge must be whole minutes.*got 1 minute 30 seconds/);
  });

  test('an imported cluster gets the backup alarms only with backupLimits, which are checked', () => {
    const app = testApp();
    const stack = new Stack(app, 'S', { env });
    const attrs = { nodes: 3, endpointHostname: 'db.internal', securityGroupId: 'sg-0a1b2c3d4e5f60718' };
    const withLimits = PatroniCluster.fromClusterAttributes(stack, 'A', {
      ...attrs,
      clusterName: 'a',
      backupLimits: { maxBackupAge: Duration.hours(26), maxArchiveWait: Duration.minutes(10) },
    });
    const without = PatroniCluster.fromClusterAttributes(stack, 'B', { ...attrs, clusterName: 'b' });
    new FailoverAlarms(stack, 'Alarms', { clusters: [withLimits, without] });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 9 + 3 + 9);
    expect(alarmByDescription(template, 'cluster a: the newest backup').Threshold).toBe(26 * 3600);
    expect(alarmByDescription(template, 'cluster a: a finished WAL segment').Threshold).toBe(600);
    expect(() =>
      PatroniCluster.fromClusterAttributes(stack, 'C', { ...attrs, clusterName: 'c', backupLimits: { maxBackupAge: Duration.hours(1), maxArchiveWait: Duration.seconds(0) } }),
    ).toThrow(/backupLimits.maxArchiveWait must be whole minutes, at least 1 minute.*got 0 seconds/);
  });
});
