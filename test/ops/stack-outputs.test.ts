process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { parseStackOutputs, readStackOutputs, selectConstruct } from '../../lib/ops/stack-outputs';
import { UsageError } from '../../lib/ops/errors';
import { resolveTarget } from '../../lib/ops/targets';

const d = (kind: string, path: string, key: string) => `cdk-failover:${kind}:${path}:${key}`;
const OUTPUTS = [
  { OutputKey: 'ApiDnsPrimaryHealthCheckIdOutputA1', OutputValue: 'hc-1', Description: d('DnsFailover', 'Shop/Api/Dns', 'primaryHealthCheckId') },
  { OutputKey: 'ApiDnsSecondaryHealthCheckIdOutputB2', OutputValue: 'hc-2', Description: d('DnsFailover', 'Shop/Api/Dns', 'secondaryHealthCheckId') },
  { OutputKey: 'ApiDnsRecordNameOutputC3', OutputValue: 'api.example.com', Description: d('DnsFailover', 'Shop/Api/Dns', 'recordName') },
  { OutputKey: 'ApiDnsHostedZoneIdOutputD4', OutputValue: 'Z123', Description: d('DnsFailover', 'Shop/Api/Dns', 'hostedZoneId') },
  { OutputKey: 'ApiDnsWorstCaseFailoverSecondsOutputE5', OutputValue: '162', Description: d('DnsFailover', 'Shop/Api/Dns', 'worstCaseFailoverSeconds') },
  { OutputKey: 'DbClusterName', OutputValue: 'shop-db', Description: d('PatroniCluster', 'Shop/Db', 'clusterName') },
  { OutputKey: 'DbWriter', OutputValue: 'db-nlb.elb.amazonaws.com:5432', Description: d('PatroniCluster', 'Shop/Db', 'writerEndpoint') },
  { OutputKey: 'DbReader', OutputValue: 'db-nlb.elb.amazonaws.com:5433', Description: d('PatroniCluster', 'Shop/Db', 'readerEndpoint') },
  { OutputKey: 'DbSuper', OutputValue: 'arn:aws:secretsmanager:eu-west-1:1:secret:su', Description: d('PatroniCluster', 'Shop/Db', 'superuserSecretArn') },
  { OutputKey: 'DbRest', OutputValue: 'arn:aws:secretsmanager:eu-west-1:1:secret:rest', Description: d('PatroniCluster', 'Shop/Db', 'restApiSecretArn') },
  { OutputKey: 'DbNs', OutputValue: 'CdkFailover/shop-db', Description: d('PatroniCluster', 'Shop/Db', 'metricsNamespace') },
  { OutputKey: 'DbIds', OutputValue: 'i-1,i-2,i-3', Description: d('PatroniCluster', 'Shop/Db', 'nodeInstanceIds') },
  { OutputKey: 'DbAddrs', OutputValue: '10.0.1.10,10.0.2.10,10.0.3.10', Description: d('PatroniCluster', 'Shop/Db', 'nodeAddresses') },
  { OutputKey: 'SomethingElse', OutputValue: 'x', Description: 'an output of the app itself' },
];

describe('stack-output discovery', () => {
  test('groups the outputs by construct from their descriptions', () => {
    const parsed = parseStackOutputs('Shop', OUTPUTS);
    expect(parsed.dnsFailovers).toEqual([
      { path: 'Shop/Api/Dns', primaryHealthCheckId: 'hc-1', secondaryHealthCheckId: 'hc-2', recordName: 'api.example.com', hostedZoneId: 'Z123', worstCaseFailoverSeconds: 162 },
    ]);
    expect(parsed.clusters).toEqual([
      {
        path: 'Shop/Db',
        clusterName: 'shop-db',
        writerEndpoint: 'db-nlb.elb.amazonaws.com:5432',
        readerEndpoint: 'db-nlb.elb.amazonaws.com:5433',
        superuserSecretArn: 'arn:aws:secretsmanager:eu-west-1:1:secret:su',
        restApiSecretArn: 'arn:aws:secretsmanager:eu-west-1:1:secret:rest',
        metricsNamespace: 'CdkFailover/shop-db',
        nodeInstanceIds: ['i-1', 'i-2', 'i-3'],
        nodeAddresses: ['10.0.1.10', '10.0.2.10', '10.0.3.10'],
      },
    ]);
  });

  test("a cluster with TLS carries its operator secret's ARN; one without has none", () => {
    const withTls = [...OUTPUTS, { OutputKey: 'DbTls', OutputValue: 'arn:aws:secretsmanager:eu-west-1:1:secret:tls', Description: d('PatroniCluster', 'Shop/Db', 'operatorTlsSecretArn') }];
    expect(parseStackOutputs('Shop', withTls).clusters[0]!.operatorTlsSecretArn).toBe('arn:aws:secretsmanager:eu-west-1:1:secret:tls');
    expect(parseStackOutputs('Shop', OUTPUTS).clusters[0]).not.toHaveProperty('operatorTlsSecretArn');
  });

  test('names the construct and the missing key when an output is absent', () => {
    const without = OUTPUTS.filter((o) => !o.Description.endsWith(':hostedZoneId'));
    expect(() => parseStackOutputs('Shop', without)).toThrow('stack Shop: DnsFailover Shop/Api/Dns lacks the output(s) hostedZoneId (deployed with an older cdk-failover?)');
  });

  test('reads the outputs with DescribeStacks and reports a missing stack in one line', async () => {
    const cfn = new CloudFormationClient({ region: 'eu-west-1' });
    const mock = mockClient(cfn);
    mock.on(DescribeStacksCommand, { StackName: 'Shop' }).resolves({ Stacks: [{ StackName: 'Shop', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), Outputs: OUTPUTS }] });
    mock.on(DescribeStacksCommand, { StackName: 'Nope' }).rejects(Object.assign(new Error('Stack with id Nope does not exist'), { name: 'ValidationError' }));
    const parsed = await readStackOutputs(cfn, 'Shop');
    expect(parsed.dnsFailovers.map((x) => x.path)).toEqual(['Shop/Api/Dns']);
    await expect(readStackOutputs(cfn, 'Nope')).rejects.toThrow('stack Nope does not exist in this region');
  });

  test('selects one construct by its path or the path\'s tail', () => {
    const items = [{ path: 'Shop/Api/Dns' }, { path: 'Shop/Admin/Dns' }];
    expect(selectConstruct(items, 'Api/Dns', 'DnsFailover', 'Shop')).toEqual({ path: 'Shop/Api/Dns' });
    expect(() => selectConstruct(items, undefined, 'DnsFailover', 'Shop')).toThrow('stack Shop has 2 DnsFailovers (Shop/Api/Dns, Shop/Admin/Dns): choose one with --construct <path>');
    expect(() => selectConstruct(items, 'Web', 'DnsFailover', 'Shop')).toThrow("no DnsFailover at 'Web' in stack Shop (found: Shop/Api/Dns, Shop/Admin/Dns)");
  });

  test('a --stack target: DNS from the outputs, Patroni at the node addresses, credentials from the environment', async () => {
    const cfn = new CloudFormationClient({ region: 'eu-west-1' });
    mockClient(cfn).on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'Shop', StackStatus: 'CREATE_COMPLETE', CreationTime: new Date(), Outputs: OUTPUTS }] });
    let asked: string | undefined;
    const target = await resolveTarget(
      { stack: 'Shop', region: 'eu-west-1' },
      { env: { PATRONI_REST_PASSWORD: 'pw' }, cloudFormation: (region) => ((asked = region), cfn) },
    );
    expect(asked).toBe('eu-west-1');
    expect(target.environment).toBe('aws:Shop@eu-west-1');
    expect(target.dnsFailovers.map((x) => x.recordName)).toEqual(['api.example.com']);
    expect(target.patroni().urls).toEqual(['http://10.0.1.10:8008', 'http://10.0.2.10:8008', 'http://10.0.3.10:8008']);
    expect(() => target.sql()).toThrow('set PGPASSWORD to the superuser password (secret arn:aws:secretsmanager:eu-west-1:1:secret:su) or give --writer-uri');
  });

  test('a --stack target without a PatroniCluster: asking for Patroni is a usage error, not a crash', async () => {
    const cfn = new CloudFormationClient({ region: 'eu-west-1' });
    const dnsOnly = OUTPUTS.filter((o) => o.Description.includes(':DnsFailover:'));
    mockClient(cfn).on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'Shop', StackStatus: 'CREATE_COMPLETE', CreationTime: new Date(), Outputs: dnsOnly }] });
    const target = await resolveTarget({ stack: 'Shop' }, { env: {}, cloudFormation: () => cfn });
    expect(target.noDatabase).toBe('stack Shop has no PatroniCluster');
    expect(() => target.patroni()).toThrow(new UsageError('stack Shop has no PatroniCluster outputs'));
  });

  test('usage errors: no target, both targets, incomplete health check IDs', async () => {
    await expect(resolveTarget({})).rejects.toThrow(/^no target: give --local/);
    await expect(resolveTarget({ local: true, stack: 'Shop' })).rejects.toThrow('give either --local or --stack, not both');
    await expect(resolveTarget({ healthCheckId: 'hc-1' })).rejects.toThrow('a DNS drill by IDs needs --hosted-zone-id, --record-name');
    const byIds = await resolveTarget({ healthCheckId: 'hc-1', hostedZoneId: '/hostedzone/Z9', recordName: 'api.example.com' });
    expect(byIds.dnsFailovers).toEqual([{ path: '', primaryHealthCheckId: 'hc-1', secondaryHealthCheckId: undefined, hostedZoneId: 'Z9', recordName: 'api.example.com' }]);
    expect(byIds.noDatabase).toBe('no --patroni-url given');
  });
});
