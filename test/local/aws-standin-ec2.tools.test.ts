// The stand-in's EC2 answers, read by Debian 12's botocore (what the node's awscli runs): the task
// and the errors come out as the node agent reads them (`ReplaceRootVolumeTask.ReplaceRootVolumeTaskId`,
// `ReplaceRootVolumeTasks[0].TaskState`, the error's Code).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startAwsStandIn, type RunningStandIn } from '../../lib/local/boot/aws-standin';
import { run } from '../../lib/util/command';
import { testStandInConfig } from './stand-in-kit';

const NODE_A = { address: '127.0.0.1', instanceId: 'i-0aaaaaaaaaaaaaaa1', availabilityZone: 'eu-west-1a' };
const NODE_B = { address: '127.0.0.3', instanceId: 'i-0bbbbbbbbbbbbbbb2', availabilityZone: 'eu-west-1b' };

// Debian's python3 (not another on PATH) with Debian's python3-botocore. The endpoint is the
// stand-in's port; the Host header is EC2's regional name, as the node's /etc/hosts makes it.
const SCRIPT = `
import json, sys, urllib.request, botocore.session, botocore.exceptions
imds_port, api_port = sys.argv[1], sys.argv[2]
def imds(path, token=None):
    headers = {'X-aws-ec2-metadata-token-ttl-seconds': '60'} if token is None else {'X-aws-ec2-metadata-token': token}
    req = urllib.request.Request('http://127.0.0.1:' + imds_port + path, method='PUT' if token is None else 'GET', headers=headers)
    return urllib.request.urlopen(req).read().decode()
token = imds('/latest/api/token')
c = json.loads(imds('/latest/meta-data/iam/security-credentials/Rehearsal-DatabaseNodeRole1234', token))
ec2 = botocore.session.get_session().create_client('ec2', region_name='eu-west-1', endpoint_url='http://127.0.0.1:' + api_port,
    aws_access_key_id=c['AccessKeyId'], aws_secret_access_key=c['SecretAccessKey'], aws_session_token=c['Token'])
def host(request, **kwargs):
    request.headers['Host'] = 'ec2.eu-west-1.amazonaws.com'
ec2.meta.events.register('before-send.ec2', host)
out = {'botocore': botocore.__version__}
task = ec2.create_replace_root_volume_task(InstanceId='${NODE_A.instanceId}', ImageId='ami-0fedcba9876543210', DeleteReplacedRootVolume=True)['ReplaceRootVolumeTask']
out['created'] = task
out['described'] = ec2.describe_replace_root_volume_tasks(ReplaceRootVolumeTaskIds=[task['ReplaceRootVolumeTaskId']])['ReplaceRootVolumeTasks']
errors = []
for kwargs in [dict(InstanceId='${NODE_B.instanceId}', ImageId='ami-0fedcba9876543210'), dict(InstanceId='i-0ccccccccccccccc3', ImageId='ami-0fedcba9876543210'), dict(InstanceId='${NODE_A.instanceId}')]:
    try:
        ec2.create_replace_root_volume_task(**kwargs)
        errors.append(None)
    except botocore.exceptions.ClientError as e:
        errors.append([e.response['ResponseMetadata']['HTTPStatusCode'], e.response['Error']['Code'], len(e.response['ResponseMetadata'].get('RequestId', ''))])
out['errors'] = errors
print(json.dumps(out))
`;

describe("the stand-in's EC2 through Debian 12's botocore", () => {
  let dir: string;
  let standIn: RunningStandIn;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aws-standin-ec2-tools-'));
    standIn = await startAwsStandIn(testStandInConfig(dir, [NODE_A, NODE_B]));
  });
  afterAll(async () => {
    await standIn?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('CreateReplaceRootVolumeTask and DescribeReplaceRootVolumeTasks parse into the fields the agent reads; the refusals into their codes', async () => {
    const r = await run('/usr/bin/python3', ['-c', SCRIPT, String(standIn.imdsPort), String(standIn.apiPort)], { allowFailure: true, timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { botocore: string; created: Record<string, unknown>; described: Array<Record<string, unknown>>; errors: unknown[] };
    expect(out.botocore).toMatch(/^1\.29\./);
    const task = {
      ReplaceRootVolumeTaskId: expect.stringMatching(/^replacevol-[0-9a-f]{17}$/),
      InstanceId: NODE_A.instanceId,
      TaskState: 'pending',
      StartTime: expect.any(String),
      Tags: [],
      ImageId: 'ami-0fedcba9876543210',
      DeleteReplacedRootVolume: true,
    };
    expect(out.created).toEqual(task);
    expect(out.described).toEqual([{ ...task, ReplaceRootVolumeTaskId: out.created.ReplaceRootVolumeTaskId }]);
    expect(out.errors).toEqual([
      [403, 'UnauthorizedOperation', 36],
      [400, 'InvalidInstanceID.NotFound', 36],
      [400, 'UnsupportedOperation', 36],
    ]);
  });
});
