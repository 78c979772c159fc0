process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { stackPromote } from '../../lib/ops/stack-promote';
import { PROMOTED_LINE } from '../../lib/ops/stack-promote-scripts';

/** A stack's outputs for one PatroniCluster at `path`. */
function outputs(path: string, values: Record<string, string>) {
  return Object.entries(values).map(([key, value]) => ({ OutputKey: key.replace(/\W/g, ''), OutputValue: value, Description: `cdk-failover:PatroniCluster:${path}:${key}` }));
}
const cluster = (name: string, ids: string) => ({
  clusterName: name,
  writerEndpoint: `${name}.elb.amazonaws.com:5432`,
  readerEndpoint: `${name}.elb.amazonaws.com:5433`,
  superuserSecretArn: 'arn:aws:secretsmanager:eu-west-1:1:secret:su',
  restApiSecretArn: 'arn:aws:secretsmanager:eu-west-1:1:secret:rest',
  metricsNamespace: `CdkFailover/${name}`,
  nodeInstanceIds: ids,
  nodeAddresses: '10.0.1.10,10.0.2.10,10.0.3.10',
});
const STANDBY = outputs('Dr/Db', { ...cluster('orders-dr', 's-0,s-1,s-2'), primaryClusterName: 'orders' });
const PRIMARY = outputs('Shop/Db', cluster('orders', 'p-0,p-1,p-2'));

type Invocation = { Status: string; StatusDetails?: string; ResponseCode?: number; StandardOutputContent?: string; StandardErrorContent?: string };
const ok = (stdout: string): Invocation => ({ Status: 'Success', ResponseCode: 0, StandardOutputContent: stdout });
const failed = (stderr: string, code = 1): Invocation => ({ Status: 'Failed', StatusDetails: 'Failed', ResponseCode: code, StandardErrorContent: `${stderr}\nfailed to run commands: exit status ${code}\n` });
const MEMBERS_RUNNING = JSON.stringify([
  { Member: 'orders-0', Role: 'Leader', State: 'running' },
  { Member: 'orders-1', Role: 'Replica', State: 'streaming' },
]);

/**
 * Clients: CloudFormation answers each stack by name (a missing one: the region lost), SSM answers
 * each node's invocation from `answer(script, instance)`. `sent` records each command's script and nodes.
 */
function clients(answer: (script: string, instance: string) => Invocation, stacks: Record<string, ReturnType<typeof outputs> | Error> = { Dr: STANDBY, Shop: PRIMARY }) {
  const cfn = new CloudFormationClient({ region: 'eu-west-1' });
  mockClient(cfn)
    .on(DescribeStacksCommand)
    .callsFake((input: { StackName: string }) => {
      const found = stacks[input.StackName];
      if (found instanceof Error) throw found;
      if (!found) throw Object.assign(new Error('connect ETIMEDOUT cloudformation.us-east-1.amazonaws.com'), { name: 'TimeoutError' });
      return { Stacks: [{ StackName: input.StackName, StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(0), Outputs: found }] };
    });
  const sent: { script: string; instances: string[]; region: string | undefined }[] = [];
  // One client per region, so that each command is seen in the region it was sent to.
  const byRegion = new Map<string | undefined, SSMClient>();
  const ssmIn = (region: string | undefined) => {
    if (!byRegion.has(region)) {
      const ssm = new SSMClient({ region: region ?? 'eu-west-1' });
      const mock = mockClient(ssm);
      mock.on(SendCommandCommand).callsFake((input: { InstanceIds: string[]; Parameters: { commands: string[] } }) => {
        sent.push({ script: input.Parameters.commands.join('\n'), instances: input.InstanceIds, region });
        return { Command: { CommandId: `cmd-${sent.length - 1}` } };
      });
      mock.on(GetCommandInvocationCommand).callsFake((input: { CommandId: string; InstanceId: string }) => answer(sent[Number(input.CommandId.slice(4))]!.script, input.InstanceId));
      byRegion.set(region, ssm);
    }
    return byRegion.get(region)!;
  };
  return { sent, deps: { env: {}, cloudFormation: () => cfn, ssm: ssmIn, pollIntervalMs: 1 } };
}

/** A standby whose s-1 is the standby leader, fence and backup working; the primary's nodes answer `primary`. */
const healthy = (primary: (script: string) => Invocation) => (script: string, instance: string): Invocation => {
  if (instance.startsWith('p-')) return primary(script);
  if (script.includes('aws s3 cp')) return ok('cdk-failover promote: fenced orders: s3://orders-repository-eu-west-1/orders/fence.json\n');
  if (script.includes('edit-config')) return ok(instance === 's-1' ? `${PROMOTED_LINE}\n` : 'cdk-failover promote: this node is Replica, not the standby leader\n');
  if (script.includes('backup full')) {
    return instance === 's-0'
      ? { Status: 'Success', ResponseCode: 0, StandardErrorContent: 'cdk-failover backup orders-dr-0: full backup done in every repository\n' }
      : ok('');
  }
  throw new Error(`unexpected script on ${instance}: ${script}`);
};

describe('failover promote --stack (Run Command, mocked)', () => {
  const target = { stack: 'Dr', region: 'eu-west-1' };

  test('the primary stopped first with --force: looked at, stopped on every node, then the fence on one standby node, the promotion on all, the first backup', async () => {
    const { deps, sent } = clients(healthy((script) => (script.includes('list -f json') ? ok(MEMBERS_RUNNING) : ok('cdk-failover promote: stopped ip-10-0-1-10\n'))));
    const result = await stackPromote(target, { force: true, primaryStack: 'Shop', primaryRegion: 'us-east-1' }, deps);
    expect(result).toEqual({
      cluster: 'orders-dr',
      primary: 'orders',
      primaryCheck: 'stopped',
      fence: 'cdk-failover promote: fenced orders: s3://orders-repository-eu-west-1/orders/fence.json',
      leaderInstance: 's-1',
      backup: { instanceId: 's-0', seconds: expect.any(Number) },
    });
    expect(sent.map((c) => [c.instances.join(','), c.region])).toEqual([
      ['p-0,p-1,p-2', 'us-east-1'],
      ['p-0,p-1,p-2', 'us-east-1'],
      ['s-0', 'eu-west-1'],
      ['s-0,s-1,s-2', 'eu-west-1'],
      ['s-0,s-1,s-2', 'eu-west-1'],
    ]);
    expect(sent[1]!.script).toContain('systemctl stop cdk-failover-haproxy.service cdk-failover-patroni.service');
    expect(sent[2]!.script).toContain(`aws s3 cp - "s3://$bucket/orders/fence.json"`);
    expect(sent[2]!.script).toMatch(/"fenced":"orders","promoted":"orders-dr","at":"\d{4}-/);
    expect(sent[3]!.script).toContain('edit-config --force -s standby_cluster=null');
  });

  test('refused, and nothing sent to the standby, while the primary runs without --force; the message says whether it takes writes', async () => {
    const { deps, sent } = clients(healthy(() => ok(MEMBERS_RUNNING)));
    await expect(stackPromote(target, { primaryStack: 'Shop', primaryRegion: 'us-east-1' }, deps)).rejects.toThrow(
      "the primary 'orders' still accepts writes (leader orders-0): promoting Dr/Db would risk two writable clusters; promote with --force to stop every node of it first",
    );
    expect(sent.every((c) => c.instances.every((i) => i.startsWith('p-')))).toBe(true);
  });

  test('a primary with every member stopped is promoted past without --force; one that runs without a leader is refused', async () => {
    const stopped = clients(healthy(() => ok(JSON.stringify([{ Member: 'orders-0', Role: 'Replica', State: 'stopped' }]))));
    expect((await stackPromote(target, { primaryStack: 'Shop', primaryRegion: 'us-east-1' }, stopped.deps)).primaryCheck).toBe('not running');
    const between = clients(healthy(() => ok(JSON.stringify([{ Member: 'orders-2', Role: 'Replica', State: 'running' }]))));
    await expect(stackPromote(target, { primaryStack: 'Shop', primaryRegion: 'us-east-1' }, between.deps)).rejects.toThrow("the primary 'orders' still runs (orders-2 running) and may lead again");
    // Any state but stopped is a Patroni that may start or keep PostgreSQL.
    const starting = clients(healthy(() => ok(JSON.stringify([{ Member: 'orders-0', Role: 'Replica', State: 'starting' }, { Member: 'orders-1', Role: 'Replica', State: 'stopped' }]))));
    await expect(stackPromote(target, { primaryStack: 'Shop', primaryRegion: 'us-east-1' }, starting.deps)).rejects.toThrow("the primary 'orders' still runs (orders-0 starting) and may lead again");
  });

  test('agents that answer without a member list: refused without --force; with it, every node is stopped all the same', async () => {
    const unreadable = (script: string) => (script.includes('list -f json') ? failed('Error: etcd cluster is unavailable') : ok('cdk-failover promote: stopped ip-10-0-1-10\n'));
    const refused = clients(healthy(unreadable));
    await expect(stackPromote(target, { primaryStack: 'Shop', primaryRegion: 'us-east-1' }, refused.deps)).rejects.toThrow(
      /^the primary 'orders' answers but its member list cannot be read \(p-0: Failed \(exit 1\): Error: etcd cluster is unavailable; .*\): promoting Dr\/Db would risk two writable clusters/,
    );
    const forced = clients(healthy(unreadable));
    expect((await stackPromote(target, { force: true, primaryStack: 'Shop', primaryRegion: 'us-east-1' }, forced.deps)).primaryCheck).toBe('stopped');
    expect(forced.sent[1]!.script).toContain('systemctl stop');
  });

  test('a primary stack that does not exist, or that cannot be read for lack of rights, is a mistake, never a lost region: refused even with --force', async () => {
    const absent = Object.assign(new Error('Stack with id Shop does not exist'), { name: 'ValidationError' });
    const gone = clients(healthy(() => ok(MEMBERS_RUNNING)), { Dr: STANDBY, Shop: absent });
    await expect(stackPromote(target, { force: true, primaryStack: 'Shop', primaryRegion: 'us-east-1' }, gone.deps)).rejects.toThrow(
      /^the primary's stack Shop in us-east-1 cannot be read \(.*does not exist.*\): nothing promoted$/,
    );
    const denied = Object.assign(new Error('User is not authorized to perform: cloudformation:DescribeStacks'), { name: 'AccessDenied' });
    const noRights = clients(healthy(() => ok(MEMBERS_RUNNING)), { Dr: STANDBY, Shop: denied });
    await expect(stackPromote(target, { force: true, primaryStack: 'Shop', primaryRegion: 'us-east-1' }, noRights.deps)).rejects.toThrow(/cannot be read .*not authorized.*: nothing promoted$/);
    for (const c of [gone, noRights]) expect(c.sent).toEqual([]);
    const noRegion = clients(healthy(() => ok(MEMBERS_RUNNING)));
    await expect(stackPromote(target, { primaryStack: 'Shop' }, { ...noRegion.deps, env: { AWS_REGION: 'eu-west-1' } })).rejects.toThrow('give --primary-region: which region stack Shop is in');
  });

  test('a primary that cannot be looked at (its region lost) is refused without --force (failing closed), promoted past with it', async () => {
    const lost = { Dr: STANDBY };
    const refused = clients(healthy(() => ok(MEMBERS_RUNNING)), lost);
    await expect(stackPromote(target, { primaryStack: 'Shop', primaryRegion: 'us-east-1' }, refused.deps)).rejects.toThrow(
      "the primary 'orders' cannot be looked at (connect ETIMEDOUT cloudformation.us-east-1.amazonaws.com): if its region is lost, promote Dr/Db with --force",
    );
    expect(refused.sent).toEqual([]);
    const forced = clients(healthy(() => ok(MEMBERS_RUNNING)), lost);
    expect((await stackPromote(target, { force: true, primaryStack: 'Shop', primaryRegion: 'us-east-1' }, forced.deps)).primaryCheck).toBe('unreachable');
  });

  test('bad input, nothing sent: no primary stack and no --force; a primary stack without that cluster; a stack that is no standby', async () => {
    const none = clients(healthy(() => ok(MEMBERS_RUNNING)));
    await expect(stackPromote(target, {}, none.deps)).rejects.toThrow("give --primary-stack (and --primary-region) so that the primary 'orders' is looked at first, or --force when its region is lost");
    const wrong = clients(healthy(() => ok(MEMBERS_RUNNING)), { Dr: STANDBY, Shop: outputs('Shop/Db', cluster('billing', 'p-0')) });
    await expect(stackPromote(target, { primaryStack: 'Shop', primaryRegion: 'us-east-1' }, wrong.deps)).rejects.toThrow("stack Shop has no PatroniCluster 'orders' (found: billing)");
    const primaryItself = clients(healthy(() => ok(MEMBERS_RUNNING)));
    await expect(stackPromote({ stack: 'Shop', region: 'us-east-1' }, { force: true }, primaryItself.deps)).rejects.toThrow(
      'Shop/Db in stack Shop is not a standby cluster (no primaryClusterName output): nothing to promote',
    );
    for (const c of [none, wrong, primaryItself]) expect(c.sent).toEqual([]);
  });

  test('a fence that cannot be written stops before the promotion; no standby leader is one line; a failed first backup is reported, not thrown', async () => {
    const noFence = clients((script, instance) => (script.includes('aws s3 cp') ? failed('upload failed: An error occurred (AccessDenied)') : healthy(() => ok(''))(script, instance)));
    await expect(stackPromote(target, { force: true }, noFence.deps)).rejects.toThrow("the fence of 'orders' could not be written, nothing promoted: s-0: Failed (exit 1): upload failed: An error occurred (AccessDenied)");
    expect(noFence.sent.some((c) => c.script.includes('edit-config'))).toBe(false);
    const noLeader = clients((script, instance) => (script.includes('edit-config') ? ok('cdk-failover promote: this node is Replica, not the standby leader\n') : healthy(() => ok(''))(script, instance)));
    await expect(stackPromote(target, { force: true }, noLeader.deps)).rejects.toThrow(/^no node of Dr\/Db is a running standby leader \(s-0: cdk-failover promote: this node is Replica, not the standby leader; s-1: .*\): nothing promoted$/);
    const noBackup = clients((script, instance) => (script.includes('backup full') ? failed('cdk-failover backup orders-dr-1: full backup into repository 1 failed: ERROR: [039]: HTTP request failed') : healthy(() => ok(''))(script, instance)));
    const result = await stackPromote(target, { force: true }, noBackup.deps);
    expect(result.primaryCheck).toBe('not looked at (--force)');
    expect(result.backup).toEqual({ error: expect.stringContaining('ERROR: [039]: HTTP request failed') });
  });
});
