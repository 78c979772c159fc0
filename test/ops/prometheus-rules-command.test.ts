process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { parse } from 'yaml';
import { prometheusRulesOf } from '../../lib/cli/ops';
import { resolveTarget } from '../../lib/ops/targets';
import { FakePatroni } from './fake-patroni';

const d = (key: string) => `cdk-failover:PatroniCluster:Shop/Db:${key}`;
const outputs = (extra: Record<string, string>) =>
  Object.entries({
    clusterName: 'orders',
    writerEndpoint: 'db.example.com:5432',
    readerEndpoint: 'db.example.com:5433',
    superuserSecretArn: 'arn:su',
    restApiSecretArn: 'arn:rest',
    metricsNamespace: 'CdkFailover/orders',
    nodeInstanceIds: 'i-1,i-2,i-3',
    nodeAddresses: '10.0.1.10,10.0.2.10,10.0.3.10',
    ...extra,
  }).map(([k, v]) => ({ OutputKey: k, OutputValue: v, Description: d(k) }));

describe('failover prometheus-rules', () => {
  let fake: FakePatroni;
  let url: string;
  let config: object;

  beforeAll(async () => {
    fake = new FakePatroni();
    url = await fake.start();
    fake.handler = (req) => (req.path === '/config' ? { status: 200, body: config } : { status: 500, body: 'unexpected' });
  });
  afterAll(async () => {
    await fake.stop();
  });

  const stackTarget = (extra: Record<string, string>) => {
    const cfn = new CloudFormationClient({ region: 'eu-west-1' });
    mockClient(cfn).on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'Shop', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), Outputs: outputs(extra) }] });
    return resolveTarget({ stack: 'Shop', patroniUrl: [url] }, { env: {}, cloudFormation: () => cfn });
  };

  test("a deployed stack's rules: its name and lag limit from the outputs, the ttl Patroni runs with", async () => {
    config = { ttl: 7, loop_wait: 1, retry_timeout: 3 };
    const file = parse(await prometheusRulesOf(await stackTarget({ replicaMaxLagBytes: '16777216' })));
    expect(file.groups.map((g: { name: string }) => g.name)).toEqual(['cdk-failover-orders']);
    const rules = file.groups[0].rules as { alert: string; expr: string; annotations: { runbook: string } }[];
    expect(rules.find((r) => r.alert === 'DbReplicationLagHigh')!.expr).toMatch(/> 16777216$/);
    expect(rules.map((r) => r.alert)).toContain('SlowerThanDeclared');
    expect(rules[0]!.annotations.runbook).toMatch(/^Shop\.runbook\.md, database Shop\/Db: section 7 \(Verify\)/);

    config = { ttl: 30, loop_wait: 10, retry_timeout: 10 };
    const slow = parse(await prometheusRulesOf(await stackTarget({ replicaMaxLagBytes: '16777216' })));
    expect(slow.groups[0].rules.map((r: { alert: string }) => r.alert)).not.toContain('SlowerThanDeclared');
  });

  test('refused: a stack without the lag output, Patroni without a ttl, Patroni URLs alone', async () => {
    config = { ttl: 7, loop_wait: 1, retry_timeout: 3 };
    await expect(prometheusRulesOf(await stackTarget({}))).rejects.toThrow(
      'stack Shop: PatroniCluster Shop/Db has no replicaMaxLagBytes output (deployed with an older cdk-failover): redeploy it, or take the rules from cdk synth',
    );
    config = { ttl: 7 };
    await expect(prometheusRulesOf(await stackTarget({ replicaMaxLagBytes: '1024' }))).rejects.toThrow("Patroni's /config has no ttl, loop_wait and retry_timeout: is this Patroni?");
    await expect(prometheusRulesOf(await resolveTarget({ patroniUrl: [url] }))).rejects.toThrow('Patroni URLs do not name the cluster: give --stack or --local');
  });
});
