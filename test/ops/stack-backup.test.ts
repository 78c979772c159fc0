process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { stackBackup, stackBackupList } from '../../lib/ops/stack-backup';

const d = (key: string) => `cdk-failover:PatroniCluster:Shop/Db:${key}`;
const OUTPUTS = [
  ['clusterName', 'shop-db'],
  ['writerEndpoint', 'db.elb.amazonaws.com:5432'],
  ['readerEndpoint', 'db.elb.amazonaws.com:5433'],
  ['superuserSecretArn', 'arn:aws:secretsmanager:eu-west-1:1:secret:su'],
  ['restApiSecretArn', 'arn:aws:secretsmanager:eu-west-1:1:secret:rest'],
  ['metricsNamespace', 'CdkFailover/shop-db'],
  ['nodeInstanceIds', 'i-0,i-1,i-2'],
  ['nodeAddresses', '10.0.1.10,10.0.2.10,10.0.3.10'],
].map(([key, value]) => ({ OutputKey: key, OutputValue: value, Description: d(key!) }));
const RUNNER = '/etc/cdk-failover/backup.py';

type Invocation = { Status: string; StatusDetails?: string; ResponseCode?: number; StandardOutputContent?: string; StandardErrorContent?: string };
/** What Run Command appends to the error output of a script that exits non-zero. */
const exited = (code: number) => `failed to run commands: exit status ${code}`;

/** Clients whose SSM answers each node's invocation from `answers` (one per look; the last repeats). */
function clients(answers: Record<string, Array<Invocation | 'not yet'>>) {
  const cfn = new CloudFormationClient({ region: 'eu-west-1' });
  mockClient(cfn).on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'Shop', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(0), Outputs: OUTPUTS }] });
  const ssm = new SSMClient({ region: 'eu-west-1' });
  const mock = mockClient(ssm);
  mock.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
  const looks: Record<string, number> = {};
  mock.on(GetCommandInvocationCommand).callsFake((input: { InstanceId: string }) => {
    const list = answers[input.InstanceId]!;
    const n = (looks[input.InstanceId] = (looks[input.InstanceId] ?? -1) + 1);
    const answer = list[Math.min(n, list.length - 1)]!;
    if (answer === 'not yet') {
      throw Object.assign(new Error('Invocation does not exist'), { name: 'InvocationDoesNotExist' });
    }
    return answer;
  });
  const regions: Array<string | undefined> = [];
  return {
    mock,
    regions,
    deps: {
      env: {},
      cloudFormation: (r: string | undefined) => (regions.push(r), cfn),
      ssm: (r: string | undefined) => (regions.push(r), ssm),
      pollIntervalMs: 1,
    },
  };
}

const stepsAside = (leader: string): Invocation => ({ Status: 'Success', ResponseCode: 0, StandardErrorContent: `cdk-failover backup shop-db-0: ${leader} takes the backup, not this node\n` });
const took: Invocation = {
  Status: 'Success',
  ResponseCode: 0,
  StandardErrorContent: 'cdk-failover backup shop-db-1: full backup into repository 1 from this replica (the leader shop-db-0 spared)\ncdk-failover backup shop-db-1: full backup done in every repository\n',
};

describe('failover backup --stack (Run Command, mocked)', () => {
  test("runs the runner on every node at once; the node that took it is the one that says so; the stack's region is used", async () => {
    const { mock, deps, regions } = clients({ 'i-0': ['not yet', { Status: 'InProgress' }, stepsAside('shop-db-1')], 'i-1': [{ Status: 'Pending' }, { Status: 'InProgress' }, took], 'i-2': [stepsAside('shop-db-1')] });
    const lines: string[] = [];
    const result = await stackBackup({ stack: 'Shop', region: 'eu-west-1' }, 'full', 3600, { ...deps, progress: (l) => lines.push(l) });
    expect(result.instanceId).toBe('i-1');
    expect(regions).toEqual(['eu-west-1', 'eu-west-1']);
    const sent = mock.commandCalls(SendCommandCommand)[0]!.args[0].input;
    expect(sent).toMatchObject({
      DocumentName: 'AWS-RunShellScript',
      InstanceIds: ['i-0', 'i-1', 'i-2'],
      Parameters: { commands: [expect.stringContaining(`[ ! -x ${RUNNER} ]`), `${RUNNER} backup full --once`], executionTimeout: ['3600'] },
    });
    expect(lines[0]).toBe('Shop/Db: full backup started on i-0, i-1, i-2 (the runner picks the node)');
  });

  test("a node's failure is one line naming it, its status and pgBackRest's error (else the runner's last line)", async () => {
    const gaveUp = 'cdk-failover: no full backup completed in repositories 1 within 3 s (runbook: Backups and point-in-time recovery)';
    const failed: Invocation = { Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 1, StandardErrorContent: `noise\n${gaveUp}\n${exited(1)}\n` };
    const { deps } = clients({ 'i-0': [stepsAside('shop-db-1')], 'i-1': [failed], 'i-2': [stepsAside('shop-db-1')] });
    await expect(stackBackup({ stack: 'Shop', region: 'eu-west-1' }, 'full', 60, deps)).rejects.toThrow(`the full backup of Shop/Db failed on i-1: Failed (exit 1): ${gaveUp}`);
    // pgBackRest's own error, when the runner logged one, is the cause (credentials, the network).
    const refused = 'ERROR: [049]: unable to get info for path/file: HTTP request failed with 403 (Forbidden)';
    const denied: Invocation = { ...failed, StandardErrorContent: `cdk-failover backup shop-db-1: full backup into repository 1 failed: ${refused}\n${gaveUp}\n${exited(1)}\n` };
    const { deps: deniedDeps } = clients({ 'i-0': [stepsAside('shop-db-1')], 'i-1': [denied], 'i-2': [stepsAside('shop-db-1')] });
    await expect(stackBackup({ stack: 'Shop', region: 'eu-west-1' }, 'full', 60, deniedDeps)).rejects.toThrow(`the full backup of Shop/Db failed on i-1: Failed (exit 1): ${refused}`);
  });

  test('a node Run Command could not reach is a warning when another took the backup, and the failure when none did', async () => {
    const offline: Invocation = { Status: 'Failed', StatusDetails: 'Undeliverable', ResponseCode: -1 };
    const { deps } = clients({ 'i-0': [offline], 'i-1': [took], 'i-2': [stepsAside('shop-db-1')] });
    const lines: string[] = [];
    expect((await stackBackup({ stack: 'Shop', region: 'eu-west-1' }, 'full', 60, { ...deps, progress: (l) => lines.push(l) })).instanceId).toBe('i-1');
    expect(lines).toContain('warning: i-0: Undeliverable (exit -1): no output');
    const { deps: none } = clients({ 'i-0': [offline], 'i-1': [stepsAside('shop-db-2')], 'i-2': [stepsAside('shop-db-2')] });
    await expect(stackBackup({ stack: 'Shop', region: 'eu-west-1' }, 'full', 60, none)).rejects.toThrow('the full backup of Shop/Db failed on i-0: Undeliverable (exit -1): no output');
  });

  test('every node stepping aside (no leader named) is a failure, not a backup', async () => {
    const none: Invocation = { Status: 'Success', ResponseCode: 0, StandardErrorContent: 'cdk-failover backup shop-db-0: no leader answers: no node is named to back up\n' };
    const { deps } = clients({ 'i-0': [none], 'i-1': [none], 'i-2': [none] });
    await expect(stackBackup({ stack: 'Shop', region: 'eu-west-1' }, 'diff', 60, deps)).rejects.toThrow(
      'no node of Shop/Db took the diff backup: cdk-failover backup shop-db-0: no leader answers: no node is named to back up',
    );
  });

  test('a cluster without backups says so (the runner is missing)', async () => {
    const missing: Invocation = { Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 3, StandardErrorContent: `cdk-failover: this node has no backup runner (the cluster was deployed without the backup prop)\n${exited(3)}\n` };
    const { deps } = clients({ 'i-0': [missing], 'i-1': [missing], 'i-2': [missing] });
    await expect(stackBackup({ stack: 'Shop', region: 'eu-west-1' }, 'full', 60, deps)).rejects.toThrow(
      'failed on i-0: Failed (exit 3): cdk-failover: this node has no backup runner (the cluster was deployed without the backup prop)',
    );
  });

  test('a node not online in Systems Manager is named, with where to look', async () => {
    const { mock, deps } = clients({});
    mock.on(SendCommandCommand).rejects(Object.assign(new Error('Instances [[i-2]] not in a valid state'), { name: 'InvalidInstanceId' }));
    await expect(stackBackup({ stack: 'Shop', region: 'eu-west-1' }, 'full', 60, deps)).rejects.toThrow(
      'Systems Manager cannot run commands on i-0, i-1, i-2: a node is not online in Systems Manager (its SSM agent, or its route to Systems Manager; runbook: Prerequisites)',
    );
  });

  test('no region anywhere is a usage error before any call', async () => {
    const { deps, regions } = clients({});
    await expect(stackBackup({ stack: 'Shop' }, 'full', 60, deps)).rejects.toThrow('give --region (or AWS_REGION): which region stack Shop is in');
    expect(regions).toEqual([]);
    await expect(stackBackup({ stack: 'Shop', construct: 'Other' }, 'full', 60, { ...deps, env: { AWS_REGION: 'eu-west-1' } })).rejects.toThrow(
      "no PatroniCluster at 'Other' in stack Shop (found: Shop/Db)",
    );
  });

  test("backup list: the first node's JSON; output cut short (not JSON) falls to the next node; none is a failure", async () => {
    const info = [{ name: 'shop-db', backup: [{ label: '20261202-010000F', type: 'full' }] }];
    const cut: Invocation = { Status: 'Success', ResponseCode: 0, StandardOutputContent: '[{"name": "shop-db", "backup": [' };
    const ok: Invocation = { Status: 'Success', ResponseCode: 0, StandardOutputContent: JSON.stringify(info) };
    const { deps, mock } = clients({ 'i-0': [cut], 'i-1': [ok], 'i-2': [ok] });
    expect(await stackBackupList({ stack: 'Shop', region: 'eu-west-1' }, deps)).toEqual(info);
    expect(mock.commandCalls(SendCommandCommand)[0]!.args[0].input.Parameters!.commands![1]).toBe(`${RUNNER} info`);
    const { deps: allCut } = clients({ 'i-0': [cut], 'i-1': [cut], 'i-2': [cut] });
    await expect(stackBackupList({ stack: 'Shop', region: 'eu-west-1' }, allCut)).rejects.toThrow(/^no node of Shop\/Db listed its backups: the output was cut or not JSON/);
  });
});
