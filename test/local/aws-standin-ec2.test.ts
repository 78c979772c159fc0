// The stand-in's EC2 (an image change: a node replaces its own root volume) and IMDS's ami-id.
// The XML's shape here; aws-standin-ec2.tools.test.ts hands it to Debian 12's botocore.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAwsStandInConfig } from '../../lib/local/boot/aws-standin-main';
import { startAwsStandIn, type AwsStandInConfig, type RunningStandIn } from '../../lib/local/boot/aws-standin';
import { REHEARSAL_IMAGE_ID } from '../../lib/local/boot/rehearsal-names';
import { call, signedHeaders, testStandInConfig, type Reply } from './stand-in-kit';
import { instanceImage, markRootAttached, readRootVolumeTasks, setRootVolumeTaskState, type RootVolumeTask } from '../../lib/local/boot/root-volume-tasks';

const NODE_A = { address: '127.0.0.1', instanceId: 'i-0aaaaaaaaaaaaaaa1', availabilityZone: 'eu-west-1a' };
const NODE_B = { address: '127.0.0.3', instanceId: 'i-0bbbbbbbbbbbbbbb2', availabilityZone: 'eu-west-1b', imageId: 'ami-0123456789abcdef0' };
const EC2_HOST = 'ec2.eu-west-1.amazonaws.com';
const NEW_IMAGE = 'ami-0fedcba9876543210';
const XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

let dir: string;
let config: AwsStandInConfig;
let standIn: RunningStandIn;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aws-standin-ec2-'));
  config = testStandInConfig(dir, [NODE_A, NODE_B], { processRoleArn: 'arn:aws:iam::111122223333:role/Rehearsal-DatabaseProcessRole5678' });
  standIn = await startAwsStandIn(config);
});

afterAll(async () => {
  await standIn?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => fs.writeFileSync(config.rootVolumeTasksFile!, ''));

async function imds(p: string, localAddress = NODE_A.address): Promise<string> {
  const token = await call(standIn.imdsPort, { method: 'PUT', path: '/latest/api/token', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' }, localAddress });
  const reply = await call(standIn.imdsPort, { path: p, headers: { 'X-aws-ec2-metadata-token': token.body }, localAddress });
  expect(reply.status).toBe(200);
  return reply.body;
}

async function credentials(localAddress = NODE_A.address): Promise<{ AccessKeyId: string; Token: string }> {
  return JSON.parse(await imds(`/latest/meta-data/iam/security-credentials/${config.roleName}`, localAddress)) as { AccessKeyId: string; Token: string };
}

/** A call as botocore sends it: form-encoded, signed with the node's role keys (the stand-in reads the key ID and token). */
async function ec2(form: Record<string, string>, localAddress = NODE_A.address, signed = true): Promise<Reply> {
  const auth = signed ? signedHeaders(await credentials(localAddress), 'ec2') : {};
  return call(standIn.apiPort, {
    method: 'POST',
    localAddress,
    headers: { Host: EC2_HOST, 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8', ...auth },
    body: new URLSearchParams({ Version: '2016-11-15', ...form }).toString(),
  });
}

const create = (form: Record<string, string>, localAddress?: string) => ec2({ Action: 'CreateReplaceRootVolumeTask', ...form }, localAddress);
const describeTasks = (form: Record<string, string> = {}) => ec2({ Action: 'DescribeReplaceRootVolumeTasks', ...form });
const ownTask = { InstanceId: NODE_A.instanceId, ImageId: NEW_IMAGE, DeleteReplacedRootVolume: 'true' };

function field(xml: string, name: string): string {
  const value = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
  if (value === undefined) throw new Error(`no <${name}> in ${xml}`);
  return value;
}

function errorOf(reply: Reply): [number, string] {
  expect(reply.body).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<Response><Errors><Error><Code>[^<]+<\/Code><Message>[^<]*<\/Message><\/Error><\/Errors><RequestID>[0-9a-f-]{36}<\/RequestID><\/Response>$/);
  return [reply.status, field(reply.body, 'Code')];
}

describe('EC2 CreateReplaceRootVolumeTask', () => {
  test("the caller's own instance from an image: a pending task in EC2's XML (no Result wrapper, lowerCamel, its namespace, requestId), recorded in the tasks file", async () => {
    const reply = await create(ownTask);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('text/xml;charset=UTF-8');
    const id = field(reply.body, 'replaceRootVolumeTaskId');
    expect(id).toMatch(/^replacevol-[0-9a-f]{17}$/);
    expect(reply.body).toMatch(
      new RegExp(
        `^<\\?xml version="1.0" encoding="UTF-8"\\?>\\n<CreateReplaceRootVolumeTaskResponse xmlns="${XMLNS.replace(/[./]/g, '\\$&')}"><requestId>[0-9a-f-]{36}</requestId>` +
          `<replaceRootVolumeTask><replaceRootVolumeTaskId>${id}</replaceRootVolumeTaskId><instanceId>${NODE_A.instanceId}</instanceId><taskState>pending</taskState>` +
          `<startTime>\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z</startTime><tagSet/><imageId>${NEW_IMAGE}</imageId><deleteReplacedRootVolume>true</deleteReplacedRootVolume>` +
          '</replaceRootVolumeTask></CreateReplaceRootVolumeTaskResponse>$',
      ),
    );
    expect(readRootVolumeTasks(config.rootVolumeTasksFile!)).toEqual([
      { replaceRootVolumeTaskId: id, instanceId: NODE_A.instanceId, taskState: 'pending', startTime: expect.any(String), imageId: NEW_IMAGE, deleteReplacedRootVolume: true },
    ]);
  });

  test('a retried call with the same ClientToken gets the same task; another while one is unfinished is IncorrectState', async () => {
    const first = field((await create({ ...ownTask, ClientToken: 'token-1' })).body, 'replaceRootVolumeTaskId');
    expect(field((await create({ ...ownTask, ClientToken: 'token-1' })).body, 'replaceRootVolumeTaskId')).toBe(first);
    expect(errorOf(await create({ ...ownTask, ClientToken: 'token-1', ImageId: 'ami-12345678' }))).toEqual([400, 'IdempotentParameterMismatch']);
    expect(errorOf(await create({ ...ownTask, ClientToken: 'token-2' }))).toEqual([400, 'IncorrectState']);
    setRootVolumeTaskState(config.rootVolumeTasksFile!, first, 'succeeded');
    expect((await create({ ...ownTask, ClientToken: 'token-2' })).status).toBe(200);
    expect(readRootVolumeTasks(config.rootVolumeTasksFile!)).toHaveLength(2);
  });

  test.each([
    ['an instance that is not of the cluster', { InstanceId: 'i-0ccccccccccccccc3' }, 400, 'InvalidInstanceID.NotFound'],
    ["another instance of the cluster (the rehearsal lets a node replace its own root only; the construct's policy, any of the cluster's)", { InstanceId: NODE_B.instanceId }, 403, 'UnauthorizedOperation'],
    ['no InstanceId', { InstanceId: '' }, 400, 'MissingParameter'],
    ['no ImageId (the rehearsal replaces from an image only)', { ImageId: '' }, 400, 'UnsupportedOperation'],
    ['a snapshot', { SnapshotId: 'snap-0123456789abcdef0' }, 400, 'UnsupportedOperation'],
    ['an image ID of no AMI shape', { ImageId: 'ami-xyz' }, 400, 'InvalidAMIID.Malformed'],
    ['DryRun', { DryRun: 'true' }, 412, 'DryRunOperation'],
  ])('%s is refused in EC2\'s error XML, nothing recorded', async (_what, change, status, code) => {
    const form: Record<string, string> = { ...ownTask, ...change };
    for (const key of Object.keys(form)) if (form[key] === '') delete form[key];
    expect(errorOf(await create(form))).toEqual([status, code]);
    expect(readRootVolumeTasks(config.rootVolumeTasksFile!)).toEqual([]);
  });

  test('unsigned is AuthFailure; another action is InvalidAction, logged as an ec2 call', async () => {
    expect(errorOf(await ec2({ Action: 'CreateReplaceRootVolumeTask', ...ownTask }, NODE_A.address, false))).toEqual([401, 'AuthFailure']);
    expect(errorOf(await ec2({ Action: 'TerminateInstances', 'InstanceId.1': NODE_A.instanceId }))).toEqual([400, 'InvalidAction']);
    const requests = fs.readFileSync(config.requestLogFile!, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(requests.pop()).toMatchObject({ caller: NODE_A.address, instanceId: NODE_A.instanceId, service: 'ec2', action: 'TerminateInstances', status: 400, error: 'InvalidAction' });
  });
});

describe('EC2 DescribeReplaceRootVolumeTasks', () => {
  test("by ID: the task's state as the host moves it, completeTime once finished; in replaceRootVolumeTaskSet items", async () => {
    const id = field((await create(ownTask)).body, 'replaceRootVolumeTaskId');
    const describe = async () => (await describeTasks({ 'ReplaceRootVolumeTaskId.1': id })).body;
    expect(field(await describe(), 'taskState')).toBe('pending');
    setRootVolumeTaskState(config.rootVolumeTasksFile!, id, 'in-progress');
    expect(await describe()).not.toContain('<completeTime>');
    expect(field(await describe(), 'taskState')).toBe('in-progress');
    setRootVolumeTaskState(config.rootVolumeTasksFile!, id, 'succeeded');
    const body = await describe();
    expect(body).toMatch(
      new RegExp(
        `^<\\?xml version="1.0" encoding="UTF-8"\\?>\\n<DescribeReplaceRootVolumeTasksResponse xmlns="[^"]+"><requestId>[0-9a-f-]{36}</requestId><replaceRootVolumeTaskSet><item>` +
          `<replaceRootVolumeTaskId>${id}</replaceRootVolumeTaskId><instanceId>${NODE_A.instanceId}</instanceId><taskState>succeeded</taskState><startTime>[^<]+</startTime>` +
          `<completeTime>[^<]+</completeTime><tagSet/><imageId>${NEW_IMAGE}</imageId><deleteReplacedRootVolume>true</deleteReplacedRootVolume></item></replaceRootVolumeTaskSet>` +
          '</DescribeReplaceRootVolumeTasksResponse>$',
      ),
    );
  });

  test('without IDs every task of the cluster, by instance-id filter its own; an unknown ID matches nothing; another filter is refused', async () => {
    const id = field((await create(ownTask)).body, 'replaceRootVolumeTaskId');
    const ids = (body: string) => [...body.matchAll(/<replaceRootVolumeTaskId>([^<]+)</g)].map((m) => m[1]);
    expect(ids((await describeTasks()).body)).toEqual([id]);
    expect(ids((await describeTasks({ 'Filter.1.Name': 'instance-id', 'Filter.1.Value.1': NODE_A.instanceId })).body)).toEqual([id]);
    expect(ids((await describeTasks({ 'Filter.1.Name': 'instance-id', 'Filter.1.Value.1': NODE_B.instanceId })).body)).toEqual([]);
    const none = await describeTasks({ 'ReplaceRootVolumeTaskId.1': 'replacevol-0123456789abcdef0' });
    expect([none.status, ids(none.body), none.body]).toEqual([200, [], expect.stringContaining('<replaceRootVolumeTaskSet></replaceRootVolumeTaskSet>')]);
    expect(errorOf(await describeTasks({ 'Filter.1.Name': 'task-state', 'Filter.1.Value.1': 'pending' }))).toEqual([400, 'InvalidParameterValue']);
  });
});

describe("IMDS's ami-id", () => {
  test('the launch image (REHEARSAL_IMAGE_ID unless the instance names one) until a task of the instance succeeds, then its image; also in the identity document', async () => {
    const ami = (address: string) => imds('/latest/meta-data/ami-id', address);
    const identityImage = async (address: string) => (JSON.parse(await imds('/latest/dynamic/instance-identity/document', address)) as { imageId: string }).imageId;
    expect(await ami(NODE_A.address)).toBe(REHEARSAL_IMAGE_ID);
    expect(await ami(NODE_B.address)).toBe(NODE_B.imageId);
    const id = field((await create(ownTask)).body, 'replaceRootVolumeTaskId');
    setRootVolumeTaskState(config.rootVolumeTasksFile!, id, 'in-progress');
    expect(await ami(NODE_A.address)).toBe(REHEARSAL_IMAGE_ID);
    // The new root is in place and boots: the instance runs the new image (EC2 marks the task succeeded about then).
    markRootAttached(config.rootVolumeTasksFile!, id);
    expect(await ami(NODE_A.address)).toBe(NEW_IMAGE);
    setRootVolumeTaskState(config.rootVolumeTasksFile!, id, 'succeeded');
    expect([await ami(NODE_A.address), await identityImage(NODE_A.address)]).toEqual([NEW_IMAGE, NEW_IMAGE]);
    expect([await ami(NODE_B.address), await identityImage(NODE_B.address)]).toEqual([NODE_B.imageId, NODE_B.imageId]);
  });

  test('survives a restart of the stand-in (the tasks file is read for every call)', async () => {
    const id = field((await create(ownTask)).body, 'replaceRootVolumeTaskId');
    setRootVolumeTaskState(config.rootVolumeTasksFile!, id, 'succeeded');
    await standIn.close();
    standIn = await startAwsStandIn(config);
    expect(await imds('/latest/meta-data/ami-id')).toBe(NEW_IMAGE);
  });

  test('a failed task leaves the image the instance had, even after its root was attached', () => {
    const task = (state: RootVolumeTask['taskState'], imageId: string, rootAttached?: boolean): RootVolumeTask => ({
      replaceRootVolumeTaskId: `replacevol-0${imageId.slice(-16)}`,
      instanceId: NODE_A.instanceId,
      taskState: state,
      startTime: '2026-01-01T00:00:00.000Z',
      imageId,
      deleteReplacedRootVolume: true,
      ...(rootAttached ? { rootAttached } : {}),
    });
    expect(instanceImage([task('succeeded', NEW_IMAGE), task('failed', 'ami-0999999999999999a', true)], NODE_A.instanceId, REHEARSAL_IMAGE_ID)).toBe(NEW_IMAGE);
    expect(instanceImage([task('failed', NEW_IMAGE, true)], NODE_A.instanceId, REHEARSAL_IMAGE_ID)).toBe(REHEARSAL_IMAGE_ID);
    expect(instanceImage([task('succeeded', NEW_IMAGE)], NODE_B.instanceId, 'ami-12345678')).toBe('ami-12345678');
  });

  test("the config file keeps the tasks file and an instance's launch image; a wrong one is named", () => {
    const parsed = parseAwsStandInConfig(JSON.parse(JSON.stringify(config)));
    expect(parsed.rootVolumeTasksFile).toBe(config.rootVolumeTasksFile);
    expect(parsed.instances.map((i) => i.imageId)).toEqual([undefined, NODE_B.imageId]);
    expect(() => parseAwsStandInConfig({ ...config, rootVolumeTasksFile: 3 })).toThrow(/^rootVolumeTasksFile must be a non-empty string$/);
    expect(() => parseAwsStandInConfig({ ...config, instances: [{ ...NODE_B, imageId: '' }] })).toThrow(/^instances\[0\]\.imageId must be a non-empty string$/);
  });
});
