// The output contract end to end: what a construct publishes, read back as a deployed stack's
// DescribeStacks answer would give it, is enough to import the construct elsewhere and alarm on it
// exactly as on the original.
import { Duration, Size, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as route53 from 'aws-cdk-lib/aws-route53';
import {
  DnsFailover,
  DnsFailoverAttributes,
  FailoverAlarms,
  FailoverEndpoint,
  HealthCheckProtocol,
  IDnsFailover,
  IPatroniCluster,
  PatroniCluster,
  PatroniClusterAttributes,
} from '../../lib';
import { DnsFailoverOutputs, parseStackOutputs, PatroniClusterOutputs } from '../../lib/ops/stack-outputs';
import { DNS_FAILOVER_OUTPUTS, outputDescription, parseOutputDescription, PATRONI_CLUSTER_OUTPUTS } from '../../lib/util/output-contract';
import { testApp } from '../app';
import { setupCluster } from '../patroni/cluster-fixture';

const env = { region: 'eu-west-1' };

/** What CloudFormation would put in place of an intrinsic: deterministic stand-ins for deploy-time values. */
function deployed(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  const v = value as Record<string, unknown>;
  if ('Ref' in v) return `ref-${String(v.Ref).toLowerCase()}`;
  if ('Fn::GetAtt' in v) {
    const [resource, attribute] = v['Fn::GetAtt'] as [string, string];
    return `${attribute.toLowerCase()}-of-${resource.toLowerCase()}`;
  }
  if ('Fn::Join' in v) {
    const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(deployed).join(separator);
  }
  throw new Error(`no stand-in for ${JSON.stringify(value)}`);
}

/** Any JSON with its intrinsics replaced by their stand-ins. */
function deployedDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(deployedDeep);
  if (value && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::'))) return deployed(value);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, deployedDeep(v)]));
  }
  return value;
}

/** The stack's outputs as DescribeStacks would return them after a deploy. */
function describeStacksOutputs(stack: Stack) {
  const outputs = Template.fromStack(stack).toJSON().Outputs as Record<string, { Description?: string; Value: unknown }>;
  return Object.entries(outputs).map(([key, o]) => ({ OutputKey: key, Description: o.Description, OutputValue: deployed(o.Value) }));
}

// Every attribute, from the outputs: a new attribute without an output does not compile here.
const CLUSTER_ATTRIBUTES: { [K in keyof Required<PatroniClusterAttributes>]: (o: PatroniClusterOutputs) => PatroniClusterAttributes[K] } = {
  clusterName: (o) => o.clusterName,
  nodes: (o) => o.nodeAddresses.length,
  endpointHostname: (o) => o.writerEndpoint.replace(/:\d+$/, ''),
  securityGroupId: (o) => o.securityGroupId!,
  nodeInstanceIds: (o) => o.nodeInstanceIds,
  nodeAddresses: (o) => o.nodeAddresses,
  replicaMaxLag: (o) => Size.bytes(o.replicaMaxLagBytes!),
  loadBalancerFullName: (o) => o.loadBalancerFullName,
  writerTargetGroupFullName: (o) => o.writerTargetGroupFullName,
  backupLimits: (o) =>
    o.maxBackupAgeSeconds === undefined
      ? undefined
      : { maxBackupAge: Duration.seconds(o.maxBackupAgeSeconds), maxArchiveWait: Duration.seconds(o.maxArchiveWaitSeconds!) },
  primaryClusterName: (o) => o.primaryClusterName,
  certificateValidity: (o) => (o.certificateValiditySeconds === undefined ? undefined : Duration.seconds(o.certificateValiditySeconds)),
};

const DNS_ATTRIBUTES: { [K in keyof Required<DnsFailoverAttributes>]: (o: DnsFailoverOutputs) => DnsFailoverAttributes[K] } = {
  recordName: (o) => o.recordName,
  hostedZoneId: (o) => o.hostedZoneId,
  primaryHealthCheckId: (o) => o.primaryHealthCheckId,
  secondaryHealthCheckId: (o) => o.secondaryHealthCheckId,
  latencyRegions: (o) => o.latencyRegions,
  https: (o) => o.https,
};

function attributesOf<A, O>(mapping: { [K in keyof A]: (o: O) => A[K] }, outputs: O): A {
  return Object.fromEntries(Object.entries(mapping).map(([k, f]) => [k, (f as (o: O) => unknown)(outputs)])) as A;
}

/**
 * What each alarm of the FailoverAlarms `Alarms` watches and when it fires, with deploy-time values
 * as their stand-ins (the cluster's own EC2 recovery alarms are not FailoverAlarms').
 */
function alarmShapes(stack: Stack): unknown[] {
  const alarms = Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm');
  return Object.entries(alarms)
    .filter(([logicalId]) => logicalId.startsWith('Alarms'))
    .map(([, a]) => {
      const p = a.Properties as Record<string, unknown>;
      return deployedDeep({
        MetricName: p.MetricName,
        Namespace: p.Namespace,
        Dimensions: p.Dimensions,
        Metrics: p.Metrics,
        Statistic: p.Statistic,
        Threshold: p.Threshold,
        ComparisonOperator: p.ComparisonOperator,
        EvaluationPeriods: p.EvaluationPeriods,
        TreatMissingData: p.TreatMissingData,
      });
    })
    .map((shape) => JSON.stringify(shape))
    .sort();
}

function dnsStack(measureLatency: boolean, protocol = HealthCheckProtocol.HTTPS): { stack: Stack; dns: DnsFailover } {
  const stack = new Stack(testApp(), 'Dns', { env: { region: 'us-east-1' } });
  const zone = new route53.PublicHostedZone(stack, 'Zone', { zoneName: 'example.com' });
  const dns = new DnsFailover(stack, 'Api', {
    zone,
    recordName: 'api',
    primary: FailoverEndpoint.ipAddress('203.0.113.10'),
    secondary: FailoverEndpoint.ipAddress('198.51.100.10'),
    healthCheck: { measureLatency, protocol },
  });
  return { stack, dns };
}

describe('PatroniCluster outputs: a deployed stack\'s outputs are its attributes', () => {
  const { stack, cluster } = setupCluster({ replicaMaxLag: Size.mebibytes(32), backup: {} }, undefined, (s, _vpc, c) => {
    new FailoverAlarms(s, 'Alarms', { clusters: [c] });
  });
  const outputs = parseStackOutputs('Test', describeStacksOutputs(stack));

  test('every output of the contract is published, under its construct ID; a primary has no primaryClusterName', () => {
    const published = Object.keys(Template.fromStack(stack).toJSON().Outputs);
    // A standby's output: test/patroni/standby-cluster.test.ts checks it there.
    const standbyOnly: string[] = [PATRONI_CLUSTER_OUTPUTS.primaryClusterName.id];
    for (const spec of Object.values(PATRONI_CLUSTER_OUTPUTS)) {
      expect([spec.id, published.some((logicalId) => logicalId.startsWith(`Db${spec.id}`))]).toEqual([spec.id, !standbyOnly.includes(spec.id)]);
    }
  });

  test('an import from the outputs has every attribute of the construct', () => {
    const imported = PatroniCluster.fromClusterAttributes(new Stack(testApp(), 'Other', { env }), 'Orders', attributesOf(CLUSTER_ATTRIBUTES, outputs.clusters[0]!));
    const attributes = (c: IPatroniCluster) => ({
      clusterName: c.clusterName,
      metricsNamespace: c.metricsNamespace,
      nodeNames: c.nodeNames,
      nodeInstanceIds: c.nodeInstanceIds,
      nodeAddresses: c.nodeAddresses,
      replicaMaxLagBytes: c.replicaMaxLag.toBytes(),
      writerEndpoint: c.writerEndpoint.socketAddress,
      readerEndpoint: c.readerEndpoint.socketAddress,
      loadBalancerFullName: c.loadBalancerFullName,
      writerTargetGroupFullName: c.writerTargetGroupFullName,
      securityGroupIds: c.connections.securityGroups.map((g) => g.securityGroupId),
      backupLimits: c.backupLimits && { age: c.backupLimits.maxBackupAge.toSeconds(), wait: c.backupLimits.maxArchiveWait.toSeconds() },
    });
    expect(attributes(imported)).toEqual(deployedDeep(stack.resolve(attributes(cluster))));
    expect(imported.nodeAddresses).toHaveLength(3);
    expect(imported.backupLimits).toBeDefined();
  });

  test('FailoverAlarms on the import watch the same metrics with the same thresholds as on the construct', () => {
    const other = new Stack(testApp(), 'Monitoring', { env });
    const imported = PatroniCluster.fromClusterAttributes(other, 'Orders', attributesOf(CLUSTER_ATTRIBUTES, outputs.clusters[0]!));
    new FailoverAlarms(other, 'Alarms', { clusters: [imported] });
    const mine = alarmShapes(stack);
    expect(mine.length).toBeGreaterThan(10);
    expect(alarmShapes(other)).toEqual(mine);
  });

  test('a stack deployed before the new outputs still parses: they are optional', () => {
    const older = describeStacksOutputs(stack).filter((o) => !/securityGroupId|FullName|maxBackupAge|maxArchiveWait/.test(o.Description ?? ''));
    const parsed = parseStackOutputs('Test', older).clusters[0]!;
    expect(parsed.securityGroupId).toBeUndefined();
    expect(parsed.loadBalancerFullName).toBeUndefined();
    expect(parsed.maxBackupAgeSeconds).toBeUndefined();
    expect(parsed.clusterName).toBe('orders');
  });
});

describe('DnsFailover outputs: a deployed stack\'s outputs are its attributes', () => {
  test.each([
    [true, HealthCheckProtocol.HTTPS],
    [false, HealthCheckProtocol.HTTPS],
    [true, HealthCheckProtocol.HTTP],
  ])('an import from the outputs (latency measured: %s, %s) has every attribute and the same alarms', (measureLatency, protocol) => {
    const { stack, dns } = dnsStack(measureLatency, protocol);
    new FailoverAlarms(stack, 'Alarms', { dnsFailovers: [dns] });
    const outputs = parseStackOutputs('Dns', describeStacksOutputs(stack)).dnsFailovers[0]!;
    const other = new Stack(testApp(), 'Monitoring', { env: { region: 'us-east-1' } });
    const imported = DnsFailover.fromDnsFailoverAttributes(other, 'Api', attributesOf(DNS_ATTRIBUTES, outputs));
    const attributes = (d: IDnsFailover) => ({
      recordName: d.recordName,
      hostedZoneId: d.hostedZoneId,
      primaryHealthCheckId: d.primaryHealthCheckId,
      secondaryHealthCheckId: d.secondaryHealthCheckId,
      latencyRegions: d.latencyRegions,
      https: d.https,
    });
    expect(attributes(imported)).toEqual(deployedDeep(stack.resolve(attributes(dns))));
    expect(imported.latencyRegions.length > 0).toBe(measureLatency);
    expect(imported.https).toBe(protocol === HealthCheckProtocol.HTTPS);
    new FailoverAlarms(other, 'Alarms', { dnsFailovers: [imported] });
    expect(alarmShapes(other)).toEqual(alarmShapes(stack));
  });
});

describe('parsing what a stack holds, bad values included', () => {
  const cluster = (extra: Record<string, string>) => {
    const d = (key: string) => outputDescription('PatroniCluster', 'S/Db', key);
    const base: Record<string, string> = {
      clusterName: 'orders',
      writerEndpoint: 'db.internal:5432',
      readerEndpoint: 'db.internal:5433',
      superuserSecretArn: 'arn:su',
      restApiSecretArn: 'arn:rest',
      metricsNamespace: 'CdkFailover/Patroni/orders',
      nodeInstanceIds: 'i-0,i-1,i-2',
      nodeAddresses: '10.0.0.1, 10.0.0.2,10.0.0.3',
    };
    return parseStackOutputs('S', Object.entries({ ...base, ...extra }).map(([k, v]) => ({ Description: d(k), OutputValue: v }))).clusters[0]!;
  };
  const dns = (extra: Record<string, string>) => {
    const d = (key: string) => outputDescription('DnsFailover', 'S/Api', key);
    const base: Record<string, string> = { primaryHealthCheckId: 'hc-1', recordName: 'api.example.com', hostedZoneId: 'Z1' };
    return parseStackOutputs('S', Object.entries({ ...base, ...extra }).map(([k, v]) => ({ Description: d(k), OutputValue: v }))).dnsFailovers[0]!;
  };

  test('lists are split and trimmed', () => {
    expect(cluster({}).nodeAddresses).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    expect(dns({ latencyRegions: 'us-east-1, eu-west-1' }).latencyRegions).toEqual(['us-east-1', 'eu-west-1']);
    expect(dns({ latencyRegions: '' }).latencyRegions).toEqual([]);
  });

  test.each([['true', true], ['false', false], ['TRUE', undefined], ['yes', undefined], ['', undefined]])('https %p reads as %p', (value, expected) => {
    expect(dns({ https: value }).https).toBe(expected);
  });

  test.each(['1.5', 'abc', '-3', ''])('a backup limit of %p is not a number of seconds: the pair is left out', (value) => {
    const parsed = cluster({ maxBackupAgeSeconds: value, maxArchiveWaitSeconds: '360' });
    expect(parsed.maxBackupAgeSeconds).toBeUndefined();
    expect(parsed.maxArchiveWaitSeconds).toBeUndefined();
  });

  test('half of a pair is left out whole (fromClusterAttributes takes both or neither)', () => {
    expect(cluster({ loadBalancerFullName: 'net/db/1' })).not.toHaveProperty('loadBalancerFullName');
    expect(cluster({ maxArchiveWaitSeconds: '360' })).not.toHaveProperty('maxArchiveWaitSeconds');
    expect(cluster({ loadBalancerFullName: 'net/db/1', writerTargetGroupFullName: 'targetgroup/w/2' })).toMatchObject({
      loadBalancerFullName: 'net/db/1',
      writerTargetGroupFullName: 'targetgroup/w/2',
    });
    expect(cluster({ maxBackupAgeSeconds: '108000', maxArchiveWaitSeconds: '360' })).toMatchObject({ maxBackupAgeSeconds: 108000, maxArchiveWaitSeconds: 360 });
  });

  test('a DnsFailover deployed before latencyRegions and https still parses', () => {
    const parsed = dns({});
    expect(parsed).not.toHaveProperty('latencyRegions');
    expect(parsed).not.toHaveProperty('https');
    expect(parsed.recordName).toBe('api.example.com');
  });
});

describe('output descriptions', () => {
  test('round-trip through outputDescription and parseOutputDescription, a path with colons included', () => {
    for (const [kind, path, key] of [
      ['PatroniCluster', 'App/Db', 'clusterName'],
      ['DnsFailover', 'Stage/Api/Dns', 'recordName'],
      ['DnsFailover', 'a:b/Api', 'https'],
    ] as const) {
      expect(parseOutputDescription(outputDescription(kind, path, key))).toEqual({ kind, path, key });
    }
  });

  test.each([
    [undefined],
    [''],
    ['an output of somebody else'],
    ['cdk-failover:'],
    ['cdk-failover:PatroniCluster'],
    ['cdk-failover:PatroniCluster:clusterName'],
    ['cdk-failover:Unknown:App/Db:clusterName'],
    ['cdk-failover::App/Db:clusterName'],
  ])('%p is not one of ours', (description) => {
    expect(parseOutputDescription(description)).toBeUndefined();
  });

  test('the CLI refuses a construct whose required outputs are missing, naming them', () => {
    const d = (key: string) => outputDescription('DnsFailover', 'S/Api', key);
    expect(() => parseStackOutputs('S', [{ Description: d('recordName'), OutputValue: 'api.example.com' }])).toThrow(
      'stack S: DnsFailover S/Api lacks the output(s) primaryHealthCheckId, hostedZoneId (deployed with an older cdk-failover?)',
    );
    expect(Object.entries(DNS_FAILOVER_OUTPUTS).filter(([, s]) => s.required).map(([k]) => k)).toEqual(['primaryHealthCheckId', 'recordName', 'hostedZoneId']);
  });
});
