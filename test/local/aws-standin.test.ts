process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CloudFormationClient, DescribeStackResourceCommand, SignalResourceCommand } from '@aws-sdk/client-cloudformation';
import { main, parseAwsStandInConfig } from '../../lib/local/boot/aws-standin-main';
import {
  ImdsTokens,
  MAX_BODY_BYTES,
  normaliseAddress,
  parseTokenTtl,
  readRecordedMetrics,
  readRecordedSignals,
  startAwsStandIn,
  type AwsStandInConfig,
  type RunningStandIn,
  type StandInStack,
} from '../../lib/local/boot/aws-standin';
import { CLOUDFORMATION_STACK_FILE, markStackDeleting, setInstancePhysicalId, setInstanceStatus } from '../../lib/local/boot/booted-nodes';
import { LocalClusterError } from '../../lib/local/errors';
import { start } from '../../lib/util/command';
import { call, signedHeaders, testStandInConfig, type Reply } from './stand-in-kit';

// Loopback is 127.0.0.0/8 on Linux: the client picks its source address to be one instance or another.
const NODE_A = { address: '127.0.0.1', instanceId: 'i-0aaaaaaaaaaaaaaa1', availabilityZone: 'eu-west-1a' };
const NODE_B = { address: '127.0.0.3', instanceId: 'i-0bbbbbbbbbbbbbbb2', availabilityZone: 'eu-west-1b' };
const STRANGER = '127.0.0.2';
const SUPERUSER_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:DatabaseSuperuser1A2B3C4D-Rh3a5l';
const SUPERUSER_SECRET = '{"username":"postgres","password":"s3cret-superuser-pw"}';
const REST_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:DatabaseRestApi5E6F-Rh3a5l';
const REST_SECRET = 'rest-api-pw-0123';
const SM_HOST = 'secretsmanager.eu-west-1.amazonaws.com';
const CW_HOST = 'monitoring.eu-west-1.amazonaws.com';
const CF_HOST = 'cloudformation.eu-west-1.amazonaws.com';
const WAIT_CONDITION_HOST = 'cloudformation-waitcondition-eu-west-1.s3.eu-west-1.amazonaws.com';
const STS_HOST = 'sts.eu-west-1.amazonaws.com';
const INSTANCE_ROLE_ARN = 'arn:aws:iam::111122223333:role/Rehearsal-DatabaseNodeRole1234';
const PROCESS_ROLE_ARN = 'arn:aws:iam::111122223333:role/Rehearsal-DatabaseProcessRole5678';

let dir: string;
let config: AwsStandInConfig;
let standIn: RunningStandIn;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aws-standin-'));
  config = testStandInConfig(dir, [NODE_A, NODE_B], {
    secrets: { [SUPERUSER_ARN]: SUPERUSER_SECRET, [REST_ARN]: REST_SECRET },
    ssmAgentDir: path.join(dir, 'ssm-agent'),
    processRoleArn: PROCESS_ROLE_ARN,
  });
  fs.mkdirSync(config.ssmAgentDir!);
  fs.writeFileSync(path.join(config.ssmAgentDir!, 'amazon-ssm-agent.deb'), Buffer.from([0x21, 0x3c, 0x61, 0x72, 0x63, 0x68, 0x3e, 0x0a, 0xff, 0x00]));
  fs.writeFileSync(path.join(config.ssmAgentDir!, 'amazon-ssm-agent.deb.sig'), 'signature');
  standIn = await startAwsStandIn(config);
});

afterAll(async () => {
  await standIn?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// IMDS

const TOKEN_PATH = '/latest/api/token';

async function imdsToken(localAddress = NODE_A.address, ttl = '21600'): Promise<string> {
  const reply = await call(standIn.imdsPort, { method: 'PUT', path: TOKEN_PATH, headers: { 'X-aws-ec2-metadata-token-ttl-seconds': ttl }, localAddress });
  expect(reply.status).toBe(200);
  return reply.body;
}

async function imdsGet(p: string, token: string | undefined, localAddress = NODE_A.address): Promise<Reply> {
  return call(standIn.imdsPort, { path: p, headers: token === undefined ? {} : { 'X-aws-ec2-metadata-token': token }, localAddress });
}

interface RoleCredentialsDocument {
  Code: string;
  LastUpdated: string;
  Type: string;
  AccessKeyId: string;
  SecretAccessKey: string;
  Token: string;
  Expiration: string;
}

async function roleCredentials(localAddress = NODE_A.address): Promise<RoleCredentialsDocument> {
  const token = await imdsToken(localAddress);
  const reply = await imdsGet(`/latest/meta-data/iam/security-credentials/${config.roleName}`, token, localAddress);
  expect(reply.status).toBe(200);
  return JSON.parse(reply.body) as RoleCredentialsDocument;
}

describe('IMDSv2', () => {
  test('a session token, then the instance metadata of the caller', async () => {
    const put = await call(standIn.imdsPort, { method: 'PUT', path: TOKEN_PATH, headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '300' } });
    expect(put).toMatchObject({ status: 200, headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '300' } });
    expect(put.body).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const get = async (p: string, localAddress?: string, token = put.body) => (await imdsGet(p, token, localAddress)).body;
    expect(await get('/latest/meta-data/instance-id')).toBe(NODE_A.instanceId);
    expect(await get('/latest/meta-data/local-ipv4')).toBe(NODE_A.address);
    expect(await get('/latest/meta-data/placement/region')).toBe('eu-west-1');
    expect(await get('/latest/meta-data/placement/availability-zone')).toBe('eu-west-1a');
    expect(await get('/latest/meta-data/iam/security-credentials/')).toBe(config.roleName);
    const tokenB = await imdsToken(NODE_B.address);
    expect(await get('/latest/meta-data/instance-id', NODE_B.address, tokenB)).toBe(NODE_B.instanceId);
    expect(await get('/latest/meta-data/placement/availability-zone', NODE_B.address, tokenB)).toBe('eu-west-1b');
  });

  test('a GET without a valid token of its own caller is 401', async () => {
    const token = await imdsToken(NODE_A.address);
    expect((await imdsGet('/latest/meta-data/instance-id', undefined)).status).toBe(401);
    expect((await imdsGet('/latest/meta-data/instance-id', 'not-a-token')).status).toBe(401);
    expect((await imdsGet('/latest/meta-data/instance-id', token, NODE_B.address)).status).toBe(401);
    expect((await imdsGet('/latest/meta-data/instance-id', token, NODE_A.address)).status).toBe(200);
  });

  test.each([['0'], ['21601'], ['abc'], ['1.5'], ['-5'], ['']])('a TTL of %j is 400', async (ttl) => {
    const reply = await call(standIn.imdsPort, { method: 'PUT', path: TOKEN_PATH, headers: { 'X-aws-ec2-metadata-token-ttl-seconds': ttl } });
    expect(reply.status).toBe(400);
  });

  test('a token request without a TTL is 400; 1 and 21600 are the bounds', async () => {
    expect((await call(standIn.imdsPort, { method: 'PUT', path: TOKEN_PATH })).status).toBe(400);
    expect(await imdsToken(NODE_A.address, '1')).not.toBe('');
    expect(await imdsToken(NODE_A.address, '21600')).not.toBe('');
  });

  test('anything with X-Forwarded-For is 403, as on EC2', async () => {
    const token = await imdsToken();
    const forwarded = { 'X-Forwarded-For': '10.9.9.9' };
    expect((await call(standIn.imdsPort, { method: 'PUT', path: TOKEN_PATH, headers: { ...forwarded, 'X-aws-ec2-metadata-token-ttl-seconds': '60' } })).status).toBe(403);
    expect((await call(standIn.imdsPort, { path: '/latest/meta-data/instance-id', headers: { ...forwarded, 'X-aws-ec2-metadata-token': token } })).status).toBe(403);
  });

  test('a caller that is no instance gets 404 and no token', async () => {
    const reply = await call(standIn.imdsPort, { method: 'PUT', path: TOKEN_PATH, headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' }, localAddress: STRANGER });
    expect(reply).toMatchObject({ status: 404, body: 'Not Found\n' });
  });

  test.each([
    ['/latest/meta-data/iam/security-credentials/SomeOtherRole'],
    ['/latest/meta-data/'],
    ['/latest/user-data'],
    ['/latest/meta-data/instance-id/extra'],
    ['/'],
  ])('an unknown path %s is 404 (with a valid token)', async (p) => {
    expect((await imdsGet(p, await imdsToken())).status).toBe(404);
  });

  test('other methods and PUT elsewhere are refused', async () => {
    expect((await call(standIn.imdsPort, { method: 'POST', path: '/latest/meta-data/instance-id' })).status).toBe(405);
    expect((await call(standIn.imdsPort, { method: 'PUT', path: '/latest/meta-data/instance-id', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } })).status).toBe(404);
  });

  test("role credentials have EC2's shape, are stable per instance and differ between instances", async () => {
    const a = await roleCredentials(NODE_A.address);
    expect(a).toEqual({
      Code: 'Success',
      LastUpdated: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      Type: 'AWS-HMAC',
      AccessKeyId: expect.stringMatching(/^ASIA[A-Z2-7]{16}$/),
      SecretAccessKey: expect.stringMatching(/^[A-Za-z0-9+/]{40}$/),
      Token: expect.stringMatching(/^[A-Za-z0-9+/=]{100,}$/),
      Expiration: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
    });
    const hoursAhead = (Date.parse(a.Expiration) - Date.now()) / 3600_000;
    expect(hoursAhead).toBeGreaterThan(5);
    expect(hoursAhead).toBeLessThanOrEqual(6);
    const again = await roleCredentials(NODE_A.address);
    expect([again.AccessKeyId, again.SecretAccessKey, again.Token]).toEqual([a.AccessKeyId, a.SecretAccessKey, a.Token]);
    const b = await roleCredentials(NODE_B.address);
    expect(b.AccessKeyId).not.toBe(a.AccessKeyId);
    expect(b.Token).not.toBe(a.Token);
  });

  test('the instance identity document', async () => {
    const reply = await imdsGet('/latest/dynamic/instance-identity/document', await imdsToken(NODE_B.address), NODE_B.address);
    expect(JSON.parse(reply.body)).toMatchObject({
      accountId: '111122223333',
      region: 'eu-west-1',
      availabilityZone: 'eu-west-1b',
      instanceId: NODE_B.instanceId,
      privateIp: NODE_B.address,
      architecture: 'x86_64',
      imageId: expect.stringMatching(/^ami-[0-9a-f]{17}$/),
      instanceType: expect.any(String),
    });
  });

  test('a token expires after its TTL', () => {
    let now = 1_000_000;
    const tokens = new ImdsTokens(() => now);
    const token = tokens.issue('10.0.0.1', 10);
    now += 9_999;
    expect(tokens.valid(token, '10.0.0.1')).toBe(true);
    expect(tokens.valid(token, '10.0.0.2')).toBe(false);
    now += 1;
    expect(tokens.valid(token, '10.0.0.1')).toBe(false);
    expect(tokens.valid(undefined, '10.0.0.1')).toBe(false);
  });

  test('TTL parsing and IPv4-mapped caller addresses', () => {
    expect(['1', '21600', '021600', '21601', '0', '1e3', '', undefined].map(parseTokenTtl)).toEqual([1, 21600, 21600, undefined, undefined, undefined, undefined, undefined]);
    expect(['::ffff:10.0.1.5', '::FFFF:127.0.0.1', '10.0.1.5', '::1', undefined].map(normaliseAddress)).toEqual(['10.0.1.5', '127.0.0.1', '10.0.1.5', '::1', '']);
  });
});

// ---------------------------------------------------------------------------------------------
// The APIs

async function getSecretValue(input: object, headers?: http.OutgoingHttpHeaders, target = 'secretsmanager.GetSecretValue'): Promise<Reply> {
  const auth = headers ?? signedHeaders(await roleCredentials(), 'secretsmanager');
  return call(standIn.apiPort, {
    method: 'POST',
    headers: { Host: SM_HOST, 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': target, ...auth },
    body: JSON.stringify(input),
  });
}

function requestLog(): Array<Record<string, unknown>> {
  return fs
    .readFileSync(config.requestLogFile!, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('Secrets Manager GetSecretValue', () => {
  test('by ARN: the fields botocore reads, CreatedDate in epoch seconds, one stable version', async () => {
    const reply = await getSecretValue({ SecretId: SUPERUSER_ARN });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/x-amz-json-1.1');
    const body = JSON.parse(reply.body) as Record<string, unknown>;
    expect(body).toEqual({
      ARN: SUPERUSER_ARN,
      Name: 'DatabaseSuperuser1A2B3C4D-Rh3a5l',
      SecretString: SUPERUSER_SECRET,
      VersionId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
      VersionStages: ['AWSCURRENT'],
      CreatedDate: expect.any(Number),
    });
    expect(body.CreatedDate as number).toBeGreaterThan(1.7e9);
    expect(body.CreatedDate as number).toBeLessThanOrEqual(Date.now() / 1000);
    const again = JSON.parse((await getSecretValue({ SecretId: SUPERUSER_ARN, VersionStage: 'AWSCURRENT' })).body) as Record<string, unknown>;
    expect(again.VersionId).toBe(body.VersionId);
    const byVersion = await getSecretValue({ SecretId: SUPERUSER_ARN, VersionId: body.VersionId });
    expect(byVersion.status).toBe(200);
  });

  test("by name (the ARN's last segment)", async () => {
    const reply = await getSecretValue({ SecretId: 'DatabaseRestApi5E6F-Rh3a5l' });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toMatchObject({ ARN: REST_ARN, Name: 'DatabaseRestApi5E6F-Rh3a5l', SecretString: REST_SECRET });
  });

  test.each([
    [{ SecretId: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:Nope-abcdef' }],
    [{ SecretId: 'DatabaseRestApi5E6F' }],
    [{ SecretId: SUPERUSER_ARN, VersionStage: 'AWSPREVIOUS' }],
    [{ SecretId: SUPERUSER_ARN, VersionId: '00000000-0000-0000-0000-000000000000' }],
  ])('%j is ResourceNotFoundException, as AWS shapes it', async (input) => {
    const reply = await getSecretValue(input);
    expect(reply.status).toBe(400);
    expect(reply.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(reply.headers['x-amzn-errortype']).toBe('ResourceNotFoundException');
    expect(JSON.parse(reply.body)).toEqual({ __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." });
  });

  test('a missing SecretId, a body that is no JSON object, another operation', async () => {
    const code = (r: Reply) => [r.status, (JSON.parse(r.body) as { __type: string }).__type];
    expect(code(await getSecretValue({}))).toEqual([400, 'InvalidParameterException']);
    expect(code(await getSecretValue({ SecretId: 42 }))).toEqual([400, 'InvalidParameterException']);
    expect(code(await getSecretValue([SUPERUSER_ARN]))).toEqual([400, 'SerializationException']);
    expect(code(await getSecretValue({ SecretId: SUPERUSER_ARN }, undefined, 'secretsmanager.ListSecrets'))).toEqual([400, 'UnknownOperationException']);
    expect(code(await getSecretValue({ SecretId: SUPERUSER_ARN }, undefined, 'DynamoDB_20120810.GetItem'))).toEqual([400, 'UnknownOperationException']);
  });

  test('a request nobody handed keys to is 403, in the JSON error shape', async () => {
    const real = await roleCredentials();
    const cases: Array<[http.OutgoingHttpHeaders, string]> = [
      [{}, 'MissingAuthenticationTokenException'],
      [{ Authorization: 'Bearer abc' }, 'UnrecognizedClientException'],
      [signedHeaders({ AccessKeyId: 'ASIAAAAAAAAAAAAAAAAA', Token: real.Token }, 'secretsmanager'), 'UnrecognizedClientException'],
      [signedHeaders({ AccessKeyId: real.AccessKeyId, Token: 'another-token' }, 'secretsmanager'), 'UnrecognizedClientException'],
      [{ Authorization: signedHeaders(real, 'secretsmanager').Authorization }, 'UnrecognizedClientException'],
    ];
    for (const [headers, code] of cases) {
      const reply = await getSecretValue({ SecretId: SUPERUSER_ARN }, headers);
      expect([reply.status, reply.headers['x-amzn-errortype'], (JSON.parse(reply.body) as { __type: string }).__type]).toEqual([403, code, code]);
      expect(reply.body).not.toContain(SUPERUSER_SECRET);
    }
  });

  test('the request log names caller, instance, service, action and status, and no secret', async () => {
    const b = await roleCredentials(NODE_B.address);
    await getSecretValue({ SecretId: REST_ARN }, signedHeaders(b, 'secretsmanager'));
    await getSecretValue({ SecretId: REST_ARN }, {});
    const log = requestLog();
    expect(log.slice(-2)).toEqual([
      { time: expect.any(String), caller: '127.0.0.1', instanceId: NODE_B.instanceId, role: INSTANCE_ROLE_ARN, service: 'secretsmanager', action: 'GetSecretValue', status: 200 },
      { time: expect.any(String), caller: '127.0.0.1', service: 'secretsmanager', action: 'GetSecretValue', status: 403, error: 'MissingAuthenticationTokenException' },
    ]);
    const text = fs.readFileSync(config.requestLogFile!, 'utf8');
    for (const secret of [SUPERUSER_SECRET, REST_SECRET, b.SecretAccessKey, b.Token]) expect(text).not.toContain(secret);
    expect(log.some((l) => l.service === 'imds' && l.action === `GET /latest/meta-data/iam/security-credentials/${config.roleName}` && l.status === 200)).toBe(true);
  });

  test('the service comes from X-Amz-Target before the Host; neither known is 400; GET is 405', async () => {
    const auth = signedHeaders(await roleCredentials(), 'secretsmanager');
    const viaOtherHost = await call(standIn.apiPort, {
      method: 'POST',
      headers: { Host: 'example.com', 'X-Amz-Target': 'secretsmanager.GetSecretValue', ...auth },
      body: JSON.stringify({ SecretId: REST_ARN }),
    });
    expect(viaOtherHost.status).toBe(200);
    const noTarget = await call(standIn.apiPort, { method: 'POST', headers: { Host: SM_HOST, ...auth }, body: JSON.stringify({ SecretId: REST_ARN }) });
    expect([noTarget.status, noTarget.headers['x-amzn-errortype']]).toEqual([400, 'UnknownOperationException']);
    const unknownHost = await call(standIn.apiPort, { method: 'POST', headers: { Host: 'iam.amazonaws.com', ...auth }, body: 'Action=ListRoles' });
    expect([unknownHost.status, unknownHost.headers['x-amzn-errortype']]).toEqual([400, 'UnknownOperationException']);
    const get = await call(standIn.apiPort, { method: 'GET', headers: { Host: SM_HOST, 'X-Amz-Target': 'secretsmanager.GetSecretValue', ...auth } });
    expect(get.status).toBe(405);
  });
});

// PutMetricData as awscli 2.9 (botocore's query serializer) sends it.
const QUERY_BODY = [
  'Action=PutMetricData',
  'Version=2010-08-01',
  'Namespace=CdkFailover%2FPatroni',
  'MetricData.member.1.MetricName=IsLeader',
  'MetricData.member.1.Dimensions.member.1.Name=ClusterName',
  'MetricData.member.1.Dimensions.member.1.Value=orders',
  'MetricData.member.1.Dimensions.member.2.Name=Node',
  'MetricData.member.1.Dimensions.member.2.Value=pg-0',
  'MetricData.member.1.Value=1.0',
  'MetricData.member.1.Unit=Count',
  'MetricData.member.1.Timestamp=2026-01-02T03%3A04%3A05Z',
  'MetricData.member.2.MetricName=ReplicationLag',
  'MetricData.member.2.Values.member.1=0.25',
  'MetricData.member.2.Values.member.2=1e-05',
  'MetricData.member.2.Unit=Seconds',
].join('&');

async function putMetricDataQuery(body: string, headers?: http.OutgoingHttpHeaders): Promise<Reply> {
  const auth = headers ?? signedHeaders(await roleCredentials(), 'monitoring');
  return call(standIn.apiPort, { method: 'POST', headers: { Host: CW_HOST, 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8', ...auth }, body });
}

async function putMetricDataJson(input: unknown, target = 'GraniteServiceVersion20100801.PutMetricData'): Promise<Reply> {
  return call(standIn.apiPort, {
    method: 'POST',
    headers: { Host: CW_HOST, 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': target, ...signedHeaders(await roleCredentials(), 'monitoring') },
    body: typeof input === 'string' ? input : JSON.stringify(input),
  });
}

/** What `act` appended to the metrics file. */
async function recordedBy(act: () => Promise<Reply>): Promise<{ reply: Reply; recorded: ReturnType<typeof readRecordedMetrics> }> {
  const before = readRecordedMetrics(config.metricsFile).length;
  const reply = await act();
  return { reply, recorded: readRecordedMetrics(config.metricsFile).slice(before) };
}

describe('CloudWatch PutMetricData', () => {
  test('the query protocol: every datum recorded exactly; the XML answer', async () => {
    const { reply, recorded } = await recordedBy(() => putMetricDataQuery(QUERY_BODY));
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('text/xml');
    expect(reply.body).toMatch(
      /^<PutMetricDataResponse xmlns="http:\/\/monitoring\.amazonaws\.com\/doc\/2010-08-01\/"><ResponseMetadata><RequestId>[0-9a-f-]{36}<\/RequestId><\/ResponseMetadata><\/PutMetricDataResponse>$/,
    );
    expect(recorded).toEqual([
      {
        time: expect.any(String),
        caller: '127.0.0.1',
        instanceId: NODE_A.instanceId,
        role: INSTANCE_ROLE_ARN,
        namespace: 'CdkFailover/Patroni',
        metricName: 'IsLeader',
        dimensions: { ClusterName: 'orders', Node: 'pg-0' },
        value: 1,
        unit: 'Count',
        timestamp: '2026-01-02T03:04:05.000Z',
      },
      {
        time: expect.any(String),
        caller: '127.0.0.1',
        instanceId: NODE_A.instanceId,
        role: INSTANCE_ROLE_ARN,
        namespace: 'CdkFailover/Patroni',
        metricName: 'ReplicationLag',
        dimensions: {},
        values: [0.25, 0.00001],
        unit: 'Seconds',
      },
    ]);
  });

  test('members are taken in numeric order (10 after 2), and the instance is the one whose keys signed', async () => {
    const b = await roleCredentials(NODE_B.address);
    const body = 'Action=PutMetricData&Version=2010-08-01&Namespace=N&MetricData.member.10.MetricName=Ten&MetricData.member.10.Value=10&MetricData.member.2.MetricName=Two&MetricData.member.2.Value=2';
    const { reply, recorded } = await recordedBy(() => putMetricDataQuery(body, signedHeaders(b, 'monitoring')));
    expect(reply.status).toBe(200);
    expect(recorded.map((r) => [r.metricName, r.value, r.caller, r.instanceId])).toEqual([
      ['Two', 2, '127.0.0.1', NODE_B.instanceId],
      ['Ten', 10, '127.0.0.1', NODE_B.instanceId],
    ]);
  });

  test('the JSON 1.0 protocol: recorded exactly; the answer is {}', async () => {
    const input = {
      Namespace: 'CdkFailover/Patroni',
      MetricData: [
        { MetricName: 'RoleChange', Dimensions: [{ Name: 'ClusterName', Value: 'orders' }], Value: 1, Unit: 'Count', Timestamp: 1767323045.5 },
        { MetricName: 'Lag', Values: [3, 4.5], Unit: 'Milliseconds' },
      ],
    };
    const { reply, recorded } = await recordedBy(() => putMetricDataJson(input));
    expect([reply.status, reply.headers['content-type'], reply.body]).toEqual([200, 'application/x-amz-json-1.0', '{}']);
    expect(recorded).toEqual([
      {
        time: expect.any(String),
        caller: '127.0.0.1',
        instanceId: NODE_A.instanceId,
        role: INSTANCE_ROLE_ARN,
        namespace: 'CdkFailover/Patroni',
        metricName: 'RoleChange',
        dimensions: { ClusterName: 'orders' },
        value: 1,
        unit: 'Count',
        timestamp: '2026-01-02T03:04:05.500Z',
      },
      { time: expect.any(String), caller: '127.0.0.1', instanceId: NODE_A.instanceId, role: INSTANCE_ROLE_ARN, namespace: 'CdkFailover/Patroni', metricName: 'Lag', dimensions: {}, values: [3, 4.5], unit: 'Milliseconds' },
    ]);
  });

  const valid = 'Action=PutMetricData&Version=2010-08-01&Namespace=N&MetricData.member.1.MetricName=M';
  test.each([
    ['no Namespace', 'Action=PutMetricData&Version=2010-08-01&MetricData.member.1.MetricName=M&MetricData.member.1.Value=1', 'MissingParameter'],
    ['no MetricData', 'Action=PutMetricData&Version=2010-08-01&Namespace=N', 'MissingParameter'],
    ['an empty MetricData', 'Action=PutMetricData&Version=2010-08-01&Namespace=N&MetricData=', 'MissingParameter'],
    ['no MetricName', 'Action=PutMetricData&Namespace=N&MetricData.member.1.Value=1', 'MissingParameter'],
    ['no Value nor Values', valid, 'MissingParameter'],
    ['Value and Values', `${valid}&MetricData.member.1.Value=1&MetricData.member.1.Values.member.1=2`, 'InvalidParameterCombination'],
    ['a Value that is no number', `${valid}&MetricData.member.1.Value=abc`, 'InvalidParameterValue'],
    ['an empty Value', `${valid}&MetricData.member.1.Value=`, 'InvalidParameterValue'],
    ['a NaN Value', `${valid}&MetricData.member.1.Value=nan`, 'InvalidParameterValue'],
    ['an unknown Unit', `${valid}&MetricData.member.1.Value=1&MetricData.member.1.Unit=Kittens`, 'InvalidParameterValue'],
    ['a Timestamp that is none', `${valid}&MetricData.member.1.Value=1&MetricData.member.1.Timestamp=yesterday`, 'InvalidParameterValue'],
    ['a dimension without a Value', `${valid}&MetricData.member.1.Value=1&MetricData.member.1.Dimensions.member.1.Name=Node`, 'MissingParameter'],
    ['a dimension twice', `${valid}&MetricData.member.1.Value=1&MetricData.member.1.Dimensions.member.1.Name=A&MetricData.member.1.Dimensions.member.1.Value=x&MetricData.member.1.Dimensions.member.2.Name=A&MetricData.member.1.Dimensions.member.2.Value=y`, 'InvalidParameterValue'],
    ['StatisticValues (not recorded here)', `${valid}&MetricData.member.1.StatisticValues.Sum=1`, 'InvalidParameterValue'],
    ['a misspelt field', `${valid}&MetricData.member.1.Valeu=1`, 'InvalidParameterValue'],
    ["a Namespace in AWS's", 'Action=PutMetricData&Namespace=AWS%2FEC2&MetricData.member.1.MetricName=M&MetricData.member.1.Value=1', 'InvalidParameterValue'],
    ['another action', 'Action=ListMetrics&Version=2010-08-01', 'InvalidAction'],
    ['no action', 'Namespace=N', 'InvalidAction'],
  ])('query protocol, %s: 400 %s as XML, nothing recorded', async (_what, body, code) => {
    const { reply, recorded } = await recordedBy(() => putMetricDataQuery(body));
    expect(reply.status).toBe(400);
    expect(reply.headers['content-type']).toBe('text/xml');
    expect(reply.body).toMatch(new RegExp(`^<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error><Type>Sender</Type><Code>${code}</Code><Message>[^<]+</Message></Error><RequestId>`));
    expect(recorded).toEqual([]);
  });

  test('one bad datum rejects the whole request', async () => {
    const { reply, recorded } = await recordedBy(() => putMetricDataQuery(`${QUERY_BODY}&MetricData.member.3.MetricName=Bad&MetricData.member.3.Value=x`));
    expect(reply.status).toBe(400);
    expect(recorded).toEqual([]);
  });

  test.each([
    ['a Value as a string', { Namespace: 'N', MetricData: [{ MetricName: 'M', Value: '1' }] }, 'SerializationException'],
    ['MetricData not a list', { Namespace: 'N', MetricData: { MetricName: 'M', Value: 1 } }, 'SerializationException'],
    ['a body that is no JSON', '{"Namespace":', 'SerializationException'],
    ['no MetricData', { Namespace: 'N' }, 'MissingParameter'],
    ['no Namespace', { MetricData: [{ MetricName: 'M', Value: 1 }] }, 'MissingParameter'],
    ['a dimension of numbers', { Namespace: 'N', MetricData: [{ MetricName: 'M', Value: 1, Dimensions: [{ Name: 'A', Value: 3 }] }] }, 'SerializationException'],
    ['a bad Timestamp', { Namespace: 'N', MetricData: [{ MetricName: 'M', Value: 1, Timestamp: 'soon' }] }, 'InvalidParameterValue'],
    ['Counts (not recorded here)', { Namespace: 'N', MetricData: [{ MetricName: 'M', Values: [1], Counts: [2] }] }, 'InvalidParameterValue'],
  ])('JSON protocol, %s: 400 %s, nothing recorded', async (_what, input, code) => {
    const { reply, recorded } = await recordedBy(() => putMetricDataJson(input));
    expect([reply.status, reply.headers['content-type'], reply.headers['x-amzn-errortype'], reply.headers['x-amzn-query-error']]).toEqual([
      400,
      'application/x-amz-json-1.0',
      code,
      `${code};Sender`,
    ]);
    expect(JSON.parse(reply.body)).toEqual({ __type: code, message: expect.any(String) });
    expect(recorded).toEqual([]);
  });

  test('another JSON operation is UnknownOperationException', async () => {
    const reply = await putMetricDataJson({ MetricDataQueries: [] }, 'GraniteServiceVersion20100801.GetMetricData');
    expect([reply.status, reply.headers['x-amzn-errortype']]).toEqual([400, 'UnknownOperationException']);
  });

  test('unsigned or unknown keys are 403 in the query error shape, nothing recorded', async () => {
    for (const headers of [{}, signedHeaders({ AccessKeyId: 'ASIAAAAAAAAAAAAAAAAA', Token: 'x' }, 'monitoring')]) {
      const { reply, recorded } = await recordedBy(() => putMetricDataQuery(QUERY_BODY, headers));
      expect(reply.status).toBe(403);
      expect(reply.body).toMatch(/<Code>(MissingAuthenticationToken|InvalidClientTokenId)<\/Code>/);
      expect(recorded).toEqual([]);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// CloudFormation

// ---------------------------------------------------------------------------------------------
// STS AssumeRole (the credential broker)

async function assumeRole(headers: http.OutgoingHttpHeaders, params: Record<string, string> = {}): Promise<Reply> {
  const body = new URLSearchParams({ Action: 'AssumeRole', Version: '2011-06-15', RoleArn: PROCESS_ROLE_ARN, RoleSessionName: 'orders-0', DurationSeconds: '3600', ...params });
  return call(standIn.apiPort, { method: 'POST', headers: { Host: STS_HOST, 'Content-Type': 'application/x-www-form-urlencoded', ...headers }, body: body.toString() });
}

function xmlField(xml: string, name: string): string {
  const value = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
  if (value === undefined) throw new Error(`no <${name}> in ${xml}`);
  return value;
}

describe('STS AssumeRole', () => {
  test("the instance role assumes the process role for an hour; those credentials publish metrics (recorded as the process role's) and read no secret", async () => {
    const before = Date.now();
    const reply = await assumeRole(signedHeaders(await roleCredentials(), 'sts'));
    expect(reply.status).toBe(200);
    expect(reply.body).toMatch(/^<AssumeRoleResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/"><AssumeRoleResult><Credentials>/);
    expect(xmlField(reply.body, 'Arn')).toBe('arn:aws:sts::111122223333:assumed-role/Rehearsal-DatabaseProcessRole5678/orders-0');
    const expiration = Date.parse(xmlField(reply.body, 'Expiration'));
    expect(expiration).toBeGreaterThanOrEqual(before + 3599_000);
    expect(expiration).toBeLessThanOrEqual(Date.now() + 3600_000);
    const assumed = { AccessKeyId: xmlField(reply.body, 'AccessKeyId'), Token: xmlField(reply.body, 'SessionToken').replace(/&amp;/g, '&') };
    const { reply: put, recorded } = await recordedBy(() => putMetricDataQuery(QUERY_BODY, signedHeaders(assumed, 'monitoring')));
    expect(put.status).toBe(200);
    expect(recorded.map((r) => [r.metricName, r.role, r.instanceId])).toEqual([
      ['IsLeader', PROCESS_ROLE_ARN, NODE_A.instanceId],
      ['ReplicationLag', PROCESS_ROLE_ARN, NODE_A.instanceId],
    ]);
    const secret = await getSecretValue({ SecretId: REST_ARN }, signedHeaders(assumed, 'secretsmanager'));
    expect([secret.status, secret.headers['x-amzn-errortype']]).toEqual([400, 'AccessDeniedException']);
    expect(secret.body).not.toContain(REST_SECRET);
    // No role chaining onward: the process role's trust names the instance role alone.
    const chained = await assumeRole(signedHeaders(assumed, 'sts'));
    expect([chained.status, xmlField(chained.body, 'Code')]).toEqual([403, 'AccessDenied']);
  });

  test.each([
    [{ RoleArn: 'arn:aws:iam::111122223333:role/Admin' }, 403, 'AccessDenied'],
    [{ DurationSeconds: '3601' }, 400, 'ValidationError'],
    [{ DurationSeconds: '899' }, 400, 'ValidationError'],
    [{ RoleSessionName: 'x' }, 400, 'ValidationError'],
    [{ Action: 'GetCallerIdentity' }, 400, 'InvalidAction'],
  ])('%j is refused (%d %s)', async (params, status, code) => {
    const reply = await assumeRole(signedHeaders(await roleCredentials(), 'sts'), params);
    expect([reply.status, xmlField(reply.body, 'Code')]).toEqual([status, code]);
  });

  test('unsigned: 403, in the query error shape', async () => {
    const reply = await assumeRole({});
    expect([reply.status, xmlField(reply.body, 'Code')]).toEqual([403, 'MissingAuthenticationToken']);
  });
});

const STACK_ID = 'arn:aws:cloudformation:eu-west-1:111122223333:stack/Rehearsal/6c1f4e2a-3b5d-4f60-9a8e-2d7c0b1e5f43';
/** XML's and JSON's special characters, a newline and a non-ASCII one: Metadata must come back byte for byte. */
const NODE_A_METADATA = { 'AWS::CloudFormation::Init': { config: { files: { '/etc/motd': { content: 'a <b> & "c" \'d\'\nnode ä\\' } } } }, Version: 1 };

/** As the rehearsal replaces the stack file: another file renamed over it. */
function writeStack(stack: StandInStack): void {
  const next = `${config.cloudFormationFile!}.next`;
  fs.writeFileSync(next, JSON.stringify(stack));
  fs.renameSync(next, config.cloudFormationFile!);
}

const STACK: StandInStack = {
  stackName: 'Rehearsal',
  stackId: STACK_ID,
  resources: {
    NodeA: { type: 'AWS::EC2::Instance', physicalId: NODE_A.instanceId, metadata: NODE_A_METADATA },
    NodeAWaitHandle: { type: 'AWS::CloudFormation::WaitConditionHandle', physicalId: 'https://example.invalid/handle' },
  },
};

/** Sends with the SDK, signed with a node's role keys, under CloudFormation's hostname. */
async function cloudFormation<T>(send: (client: CloudFormationClient) => Promise<T>): Promise<T> {
  const c = await roleCredentials();
  const client = new CloudFormationClient({
    region: 'eu-west-1',
    endpoint: `http://127.0.0.1:${standIn.apiPort}`,
    credentials: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.Token },
    maxAttempts: 1,
  });
  // Before the SDK's own Host header (the endpoint's address), which it then leaves alone.
  client.middlewareStack.add(
    (next) => (args) => {
      (args.request as { headers: Record<string, string> }).headers.host = CF_HOST;
      return next(args);
    },
    { step: 'build', priority: 'high' },
  );
  try {
    return await send(client);
  } finally {
    client.destroy();
  }
}

const describeResource = (StackName: string, LogicalResourceId: string) =>
  cloudFormation((c) => c.send(new DescribeStackResourceCommand({ StackName, LogicalResourceId })));

const signalResource = (input: { LogicalResourceId: string; UniqueId: string; Status: string }) =>
  cloudFormation((c) => c.send(new SignalResourceCommand({ StackName: 'Rehearsal', ...input, Status: input.Status as 'SUCCESS' })));

/** A query protocol call as botocore sends it, for what the SDK would not send. */
async function cloudFormationQuery(body: string): Promise<Reply> {
  const auth = signedHeaders(await roleCredentials(), 'cloudformation');
  return call(standIn.apiPort, { method: 'POST', headers: { Host: CF_HOST, 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8', ...auth }, body });
}

/** What `act` appended to the signals file, and what it returned or threw. */
async function signalledBy<T>(act: () => Promise<T>): Promise<{ outcome: T | unknown; signals: ReturnType<typeof readRecordedSignals> }> {
  const before = readRecordedSignals(config.signalsFile!).length;
  const outcome = await act().catch((e: unknown) => e);
  return { outcome, signals: readRecordedSignals(config.signalsFile!).slice(before) };
}

describe('CloudFormation', () => {
  beforeEach(() => writeStack(STACK));

  test('DescribeStackResource by stack name or ID: the detail, Metadata the JSON string', async () => {
    for (const stackName of ['Rehearsal', STACK_ID]) {
      const { StackResourceDetail: detail } = await describeResource(stackName, 'NodeA');
      expect(detail).toEqual({
        StackName: 'Rehearsal',
        StackId: STACK_ID,
        LogicalResourceId: 'NodeA',
        PhysicalResourceId: NODE_A.instanceId,
        ResourceType: 'AWS::EC2::Instance',
        LastUpdatedTimestamp: expect.any(Date),
        ResourceStatus: 'UPDATE_COMPLETE',
        Metadata: JSON.stringify(NODE_A_METADATA),
      });
    }
    const handle = await describeResource('Rehearsal', 'NodeAWaitHandle');
    expect(handle.StackResourceDetail).not.toHaveProperty('Metadata');
  });

  test("the answer is CloudFormation's XML: its namespace, the Result and the request ID", async () => {
    const reply = await cloudFormationQuery('Action=DescribeStackResource&Version=2010-05-15&StackName=Rehearsal&LogicalResourceId=NodeAWaitHandle');
    expect([reply.status, reply.headers['content-type']]).toEqual([200, 'text/xml']);
    expect(reply.body).toMatch(
      /^<DescribeStackResourceResponse xmlns="http:\/\/cloudformation\.amazonaws\.com\/doc\/2010-05-15\/"><DescribeStackResourceResult><StackResourceDetail>.*<\/StackResourceDetail><\/DescribeStackResourceResult><ResponseMetadata><RequestId>[0-9a-f-]{36}<\/RequestId><\/ResponseMetadata><\/DescribeStackResourceResponse>$/,
    );
  });

  test('an unknown resource is ValidationError, worded as CloudFormation words it', async () => {
    await expect(describeResource('Rehearsal', 'NodeZ')).rejects.toMatchObject({
      name: 'ValidationError',
      message: 'Resource NodeZ does not exist for stack Rehearsal',
      $metadata: { httpStatusCode: 400 },
    });
  });

  test('an unknown stack is ValidationError', async () => {
    await expect(describeResource('Other', 'NodeA')).rejects.toMatchObject({ name: 'ValidationError', message: 'Stack with id Other does not exist', $metadata: { httpStatusCode: 400 } });
  });

  test('the stack file is read for every call: a replacement is seen by the next one', async () => {
    expect((await describeResource('Rehearsal', 'NodeA')).StackResourceDetail?.PhysicalResourceId).toBe(NODE_A.instanceId);
    writeStack({ ...STACK, resources: { NodeA: { type: 'AWS::EC2::Instance', physicalId: 'i-0ccccccccccccccc3', metadata: ['replaced'] } } });
    const detail = (await describeResource('Rehearsal', 'NodeA')).StackResourceDetail;
    expect([detail?.PhysicalResourceId, detail?.Metadata]).toEqual(['i-0ccccccccccccccc3', '["replaced"]']);
  });

  test("ResourceStatus is the resource's status in the stack file, UPDATE_COMPLETE where it names none", async () => {
    const status = async (logicalId: string) => (await describeResource('Rehearsal', logicalId)).StackResourceDetail?.ResourceStatus;
    for (const value of ['UPDATE_IN_PROGRESS', 'DELETE_IN_PROGRESS', 'UPDATE_COMPLETE'] as const) {
      writeStack({ ...STACK, resources: { ...STACK.resources, NodeA: { ...STACK.resources.NodeA!, status: value } } });
      expect([await status('NodeA'), await status('NodeAWaitHandle')]).toEqual([value, 'UPDATE_COMPLETE']);
    }
  });

  test('setInstanceStatus marks the instances it names (every instance by default) and keeps their metadata; undefined is the default again', async () => {
    const file = config.cloudFormationFile!;
    const status = async (logicalId: string) => (await describeResource('Rehearsal', logicalId)).StackResourceDetail?.ResourceStatus;
    writeStack({ ...STACK, resources: { ...STACK.resources, NodeB: { type: 'AWS::EC2::Instance', physicalId: 'i-0bbbbbbbbbbbbbbb2' } } });
    expect(setInstanceStatus(file, 'UPDATE_IN_PROGRESS').sort()).toEqual([STACK.resources.NodeA!.physicalId, 'i-0bbbbbbbbbbbbbbb2'].sort());
    expect([await status('NodeA'), await status('NodeB'), await status('NodeAWaitHandle')]).toEqual(['UPDATE_IN_PROGRESS', 'UPDATE_IN_PROGRESS', 'UPDATE_COMPLETE']);
    // An ID the stack does not name marks nothing: restart-all refuses then.
    expect(setInstanceStatus(file, 'UPDATE_IN_PROGRESS', ['i-0ccccccccccccccc3'])).toEqual([]);
    expect(setInstanceStatus(file, undefined, ['i-0bbbbbbbbbbbbbbb2'])).toEqual(['i-0bbbbbbbbbbbbbbb2']);
    expect([await status('NodeA'), await status('NodeB')]).toEqual(['UPDATE_IN_PROGRESS', 'UPDATE_COMPLETE']);
    expect((await describeResource('Rehearsal', 'NodeA')).StackResourceDetail?.Metadata).toBe(JSON.stringify(NODE_A_METADATA));
    expect(fs.existsSync(`${file}.next`)).toBe(false);
  });

  test("a replacement's new instance ID becomes its resource's physical ID (a status set by the new ID then reaches it); no stack file is nothing to do", async () => {
    const file = config.cloudFormationFile!;
    writeStack({ ...STACK, resources: { ...STACK.resources, NodeB: { type: 'AWS::EC2::Instance', physicalId: 'i-0bbbbbbbbbbbbbbb2' } } });
    setInstancePhysicalId(file, 'i-0bbbbbbbbbbbbbbb2', 'i-0ddddddddddddddd4');
    const resources = (JSON.parse(fs.readFileSync(file, 'utf8')) as StandInStack).resources;
    expect([resources.NodeA!.physicalId, resources.NodeB!.physicalId]).toEqual([STACK.resources.NodeA!.physicalId, 'i-0ddddddddddddddd4']);
    expect(setInstanceStatus(file, 'UPDATE_IN_PROGRESS', ['i-0ddddddddddddddd4'])).toEqual(['i-0ddddddddddddddd4']);
    expect((await describeResource('Rehearsal', 'NodeB')).StackResourceDetail?.ResourceStatus).toBe('UPDATE_IN_PROGRESS');
    expect(() => setInstancePhysicalId(path.join(dir, 'none.json'), 'i-0bbbbbbbbbbbbbbb2', 'i-0ddddddddddddddd4')).not.toThrow();
  });

  test("teardown's markStackDeleting: every instance DELETE_IN_PROGRESS; no stack file is nothing to do, a broken one a logged line", async () => {
    const cluster = fs.mkdtempSync(path.join(dir, 'cluster-'));
    const file = path.join(cluster, CLOUDFORMATION_STACK_FILE);
    const lines: string[] = [];
    markStackDeleting(cluster, (l) => lines.push(l));
    expect([fs.existsSync(file), lines]).toEqual([false, []]);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '{"stackName": ');
    markStackDeleting(cluster, (l) => lines.push(l));
    expect(lines).toEqual([expect.stringMatching(/^ignoring the stand-in's stack file .*cloudformation\.json: .*JSON/)]);
    fs.writeFileSync(file, JSON.stringify(STACK));
    markStackDeleting(cluster, (l) => lines.push(l));
    const resources = (JSON.parse(fs.readFileSync(file, 'utf8')) as StandInStack).resources;
    expect([resources.NodeA!.status, resources.NodeAWaitHandle!.status]).toEqual(['DELETE_IN_PROGRESS', undefined]);
    expect(lines).toHaveLength(1);
  });

  test('a missing or broken stack file is InternalFailure in one line; the stand-in goes on', async () => {
    fs.rmSync(config.cloudFormationFile!);
    await expect(describeResource('Rehearsal', 'NodeA')).rejects.toMatchObject({
      name: 'InternalFailure',
      message: expect.stringMatching(/^the rehearsal's CloudFormation file .*cloudformation\.json: ENOENT: no such file or directory[^\n]*$/),
      $metadata: { httpStatusCode: 500 },
    });
    for (const [broken, why] of [
      ['{"stackName": ', /: Unexpected end of JSON input$/],
      ['{"stackName": "Rehearsal", "stackId": "x", "resources": {"NodeA": {"type": 1}}}', /: resources\.NodeA is not \{type, physicalId, metadata\?, status\?\}$/],
      ['{"stackName": "Rehearsal", "stackId": "x", "resources": {"NodeA": {"type": "AWS::EC2::Instance", "physicalId": "i-1", "status": "STOPPING"}}}', /: resources\.NodeA\.status "STOPPING" is not a CloudFormation ResourceStatus$/],
    ] as const) {
      fs.writeFileSync(config.cloudFormationFile!, broken);
      await expect(describeResource('Rehearsal', 'NodeA')).rejects.toMatchObject({ name: 'InternalFailure', message: expect.stringMatching(why) });
    }
    writeStack(STACK);
    expect((await describeResource('Rehearsal', 'NodeA')).StackResourceDetail?.LogicalResourceId).toBe('NodeA');
  });

  test('SignalResource: recorded with the caller and its instance; an empty answer', async () => {
    const { outcome, signals } = await signalledBy(() => signalResource({ LogicalResourceId: 'NodeA', UniqueId: NODE_A.instanceId, Status: 'SUCCESS' }));
    expect(outcome).toMatchObject({ $metadata: { httpStatusCode: 200 } });
    expect(signals).toEqual([{ kind: 'resource', logicalId: 'NodeA', uniqueId: NODE_A.instanceId, status: 'SUCCESS', caller: '127.0.0.1', instanceId: NODE_A.instanceId, time: expect.any(String) }]);
    const raw = await cloudFormationQuery(`Action=SignalResource&Version=2010-05-15&StackName=${encodeURIComponent(STACK_ID)}&LogicalResourceId=NodeA&UniqueId=u&Status=FAILURE`);
    expect(raw.body).toMatch(/^<SignalResourceResponse xmlns="http:\/\/cloudformation\.amazonaws\.com\/doc\/2010-05-15\/"><ResponseMetadata><RequestId>[0-9a-f-]{36}<\/RequestId><\/ResponseMetadata><\/SignalResourceResponse>$/);
  });

  test('SignalResource with a Status that is neither SUCCESS nor FAILURE is ValidationError, nothing recorded', async () => {
    const { outcome, signals } = await signalledBy(() => signalResource({ LogicalResourceId: 'NodeA', UniqueId: 'u', Status: 'DONE' }));
    expect(outcome).toMatchObject({
      name: 'ValidationError',
      message: "1 validation error detected: Value 'DONE' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [SUCCESS, FAILURE]",
    });
    expect(signals).toEqual([]);
  });

  test.each([
    ['no UniqueId', 'StackName=Rehearsal&LogicalResourceId=NodeA&Status=SUCCESS', /^<ErrorResponse .*<Code>ValidationError<\/Code><Message>1 validation error detected: Value null at &apos;uniqueId&apos;/],
    ['an empty StackName', 'StackName=&LogicalResourceId=NodeA&UniqueId=u&Status=SUCCESS', /<Code>ValidationError<\/Code><Message>1 validation error detected: Value &apos;&apos; at &apos;stackName&apos;/],
    ['an unknown resource', 'StackName=Rehearsal&LogicalResourceId=NodeZ&UniqueId=u&Status=SUCCESS', /<Code>ValidationError<\/Code><Message>Resource NodeZ does not exist for stack Rehearsal</],
  ])('SignalResource with %s is 400 ValidationError, nothing recorded', async (_what, params, body) => {
    const { outcome, signals } = await signalledBy(() => cloudFormationQuery(`Action=SignalResource&Version=2010-05-15&${params}`));
    expect((outcome as Reply).status).toBe(400);
    expect((outcome as Reply).body).toMatch(body);
    expect(signals).toEqual([]);
  });

  test('another action is InvalidAction', async () => {
    const reply = await cloudFormationQuery('Action=DeleteStack&Version=2010-05-15&StackName=Rehearsal');
    expect([reply.status, /<Code>(\w+)<\/Code>/.exec(reply.body)?.[1]]).toEqual([400, 'InvalidAction']);
  });
});

describe('wait condition handles', () => {
  const HANDLE = `${STACK_ID}/NodeAWaitHandle`;
  // As CloudFormation presigns it: the ARN percent-encoded, the signature in the query string.
  const HANDLE_PATH = `/${encodeURIComponent(HANDLE).replace(/%2F/g, '/')}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20260101T000000Z&X-Amz-Expires=86399&X-Amz-SignedHeaders=host&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Signature=${'0'.repeat(64)}`;
  const put = (body: string, localAddress = NODE_A.address) =>
    call(standIn.apiPort, { method: 'PUT', path: HANDLE_PATH, headers: { Host: WAIT_CONDITION_HOST }, body, localAddress });

  test('a PUT of a signal, unsigned: recorded with the decoded handle, the caller and its instance; 200 and no body', async () => {
    const { outcome, signals } = await signalledBy(() => put(JSON.stringify({ Status: 'SUCCESS', Reason: 'node ready', UniqueId: 'pg-1', Data: '{"role":"replica"}' }), NODE_B.address));
    expect([(outcome as Reply).status, (outcome as Reply).body]).toEqual([200, '']);
    expect(signals).toEqual([
      {
        kind: 'waitcondition',
        handle: HANDLE,
        status: 'SUCCESS',
        uniqueId: 'pg-1',
        reason: 'node ready',
        data: '{"role":"replica"}',
        caller: NODE_B.address,
        instanceId: NODE_B.instanceId,
        time: expect.any(String),
      },
    ]);
  });

  test.each([
    ['no JSON', '{"Status": "SUCCESS",', /is not JSON/],
    ['a Status that is none', JSON.stringify({ Status: 'OK', Reason: '', UniqueId: 'u' }), /has Status &quot;OK&quot;, not &quot;SUCCESS&quot; or &quot;FAILURE&quot;/],
    ['no UniqueId', JSON.stringify({ Status: 'FAILURE', Reason: 'x' }), /has no UniqueId/],
    ['a Data that is no string', JSON.stringify({ Status: 'FAILURE', Reason: 'x', UniqueId: 'u', Data: { a: 1 } }), /has a Data that is no string/],
  ])('a body with %s is 400 in one line, nothing recorded', async (_what, body, message) => {
    const { outcome, signals } = await signalledBy(() => put(body));
    const reply = outcome as Reply;
    expect(reply.status).toBe(400);
    expect(reply.body).toMatch(message);
    expect(reply.body).not.toContain('\n');
    expect(signals).toEqual([]);
  });

  test('a caller that is no instance is 403, nothing recorded', async () => {
    const { outcome, signals } = await signalledBy(() => put(JSON.stringify({ Status: 'SUCCESS', Reason: '', UniqueId: 'u' }), STRANGER));
    expect((outcome as Reply).status).toBe(403);
    expect((outcome as Reply).body).toMatch(/^<Error><Code>AccessDenied<\/Code>/);
    expect(signals).toEqual([]);
  });

  test('the request log names the handle', async () => {
    await put(JSON.stringify({ Status: 'FAILURE', Reason: 'no', UniqueId: 'u' }));
    expect(requestLog().pop()).toEqual({ time: expect.any(String), caller: NODE_A.address, instanceId: NODE_A.instanceId, service: 'waitcondition', action: `PUT ${HANDLE_PATH.split('?')[0]}`, status: 200 });
  });
});

describe('readRecordedSignals', () => {
  test('a file that is not there yet: no signals', () => {
    expect(readRecordedSignals(path.join(dir, 'no-signals.jsonl'))).toEqual([]);
  });

  test('a last line still being written is left out', () => {
    const file = path.join(dir, 'torn-signals.jsonl');
    const signal = { kind: 'resource', logicalId: 'NodeA', uniqueId: 'u', status: 'SUCCESS', caller: '10.0.0.1', instanceId: 'i-1', time: '2026-01-01T00:00:00.000Z' };
    fs.writeFileSync(file, `${JSON.stringify(signal)}\n${JSON.stringify(signal).slice(0, 30)}`);
    expect(readRecordedSignals(file)).toEqual([signal]);
  });
});

describe('bounded bodies', () => {
  test('a body over 1 MiB is 413 and recorded nowhere; the server goes on', async () => {
    const big = `${QUERY_BODY}&Pad=${'x'.repeat(MAX_BODY_BYTES)}`;
    const { reply, recorded } = await recordedBy(() => putMetricDataQuery(big));
    expect(reply.status).toBe(413);
    expect(recorded).toEqual([]);
    const imds = await call(standIn.imdsPort, { method: 'PUT', path: TOKEN_PATH, headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' }, body: Buffer.alloc(MAX_BODY_BYTES + 1) });
    expect(imds.status).toBe(413);
    expect((await putMetricDataQuery(QUERY_BODY)).status).toBe(200);
  });

  test('a body of exactly 1 MiB is read', async () => {
    const padded = `${QUERY_BODY}&Pad=`;
    const reply = await putMetricDataQuery(padded + 'x'.repeat(MAX_BODY_BYTES - padded.length));
    expect(reply.status).toBe(200);
  });
});

/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('starting', () => {
  const base = (): AwsStandInConfig => ({ ...config, imds: { host: '127.0.0.1', port: 0 }, api: { host: '127.0.0.1', port: 0 } });

  test.each([
    ['a certificate without its key', { api: { host: '127.0.0.1', port: 0, certFile: '/nonexistent/server.crt' } }, /needs both api\.certFile and api\.keyFile/],
    ['a certificate file that is not there', { api: { host: '127.0.0.1', port: 0, certFile: '/nonexistent/server.crt', keyFile: '/nonexistent/server.key' } }, /cannot read its certificate \/nonexistent\/server\.crt: ENOENT/],
    ['a metrics file it cannot write', { metricsFile: '/nonexistent/dir/metrics.jsonl' }, /cannot write its metrics file \/nonexistent\/dir\/metrics\.jsonl: ENOENT/],
    ['a signals file it cannot write', { signalsFile: '/nonexistent/dir/signals.jsonl' }, /cannot write its signals file \/nonexistent\/dir\/signals\.jsonl: ENOENT/],
    ['two instances at one address', { instances: [NODE_A, { ...NODE_B, address: '::ffff:127.0.0.1' }] }, /two instances at 127\.0\.0\.1/],
  ])('%s is one LocalClusterError line', async (_what, override, message) => {
    const err = await startAwsStandIn({ ...base(), ...override }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LocalClusterError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('\n');
  });

  test('a port in use is one line naming the listener; the other listener is closed again', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    const imdsPort = await freePort();
    try {
      const err = await startAwsStandIn({ ...base(), imds: { host: '127.0.0.1', port: imdsPort }, api: { host: '127.0.0.1', port } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LocalClusterError);
      expect((err as Error).message).toBe(`the AWS stand-in cannot listen on 127.0.0.1:${port} for the AWS APIs: listen EADDRINUSE: address already in use 127.0.0.1:${port}`);
      // IMDS had started: its port is free again.
      const reuse = net.createServer();
      await new Promise<void>((resolve, reject) => reuse.once('error', reject).listen(imdsPort, '127.0.0.1', resolve));
      await new Promise((resolve) => reuse.close(resolve));
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The process entry

describe('main', () => {
  function io(signals = new EventEmitter()) {
    const out: string[] = [];
    const err: string[] = [];
    let printed: (line: string) => void = () => undefined;
    const listening = new Promise<string>((resolve) => (printed = resolve));
    return {
      out,
      err,
      listening,
      signals,
      io: {
        stdout: (l: string) => {
          out.push(l);
          printed(l);
        },
        stderr: (l: string) => err.push(l),
        signals,
      },
    };
  }

  function writeConfig(value: unknown): string {
    const file = path.join(fs.mkdtempSync(path.join(dir, 'main-')), 'config.json');
    fs.writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
    return file;
  }

  const goodConfig = () => ({ ...config, imds: { host: '127.0.0.1', port: 0 }, api: { host: '127.0.0.1', port: 0 }, metricsFile: path.join(dir, 'main-metrics.jsonl') });

  test('a missing config file: exit 1 and one line on stderr', async () => {
    const t = io();
    expect(await main([path.join(dir, 'nope.json')], t.io)).toBe(1);
    expect(t.err).toEqual([`aws stand-in: cannot read the config file: ENOENT: no such file or directory, open '${path.join(dir, 'nope.json')}'`]);
    expect(t.out).toEqual([]);
  });

  test.each([
    ['no JSON', '{"region": ', /config\.json is not JSON: /],
    ['no object', '[]', /config\.json: the config must be a JSON object$/],
    ['a port that is none', { imds: { host: '127.0.0.1', port: 70000 } }, /config\.json: imds\.port must be a port number \(0\.\.65535\)$/],
    ['an instance without an ID', { instances: [{ address: '127.0.0.1', availabilityZone: 'eu-west-1a' }] }, /instances\[0\]\.instanceId must be a non-empty string$/],
    ['a secret that is no string', { secrets: { [REST_ARN]: 12345 } }, /secrets\[".*"\] must be a string$/],
    ['no metrics file', { metricsFile: undefined }, /metricsFile must be a non-empty string$/],
    ['no CloudFormation file', { cloudFormationFile: undefined }, /cloudFormationFile must be a non-empty string$/],
    ['no signals file', { signalsFile: '' }, /signalsFile must be a non-empty string$/],
  ])('a config with %s: exit 1 and one line naming what', async (_what, value, message) => {
    const t = io();
    expect(await main([writeConfig(typeof value === 'string' ? value : { ...goodConfig(), ...value })], t.io)).toBe(1);
    expect(t.err).toHaveLength(1);
    expect(t.err[0]).toMatch(/^aws stand-in: /);
    expect(t.err[0]).toMatch(message);
    expect(t.err[0]).not.toContain('12345');
  });

  test("the config file's optional paths are kept (the request log, the SSM agent's distribution); a wrong one is named", () => {
    const parsed = parseAwsStandInConfig(JSON.parse(JSON.stringify(goodConfig())));
    expect(parsed.ssmAgentDir).toBe(config.ssmAgentDir);
    expect(parsed.requestLogFile).toBe(config.requestLogFile);
    expect(() => parseAwsStandInConfig({ ...goodConfig(), ssmAgentDir: 7 })).toThrow(/ssmAgentDir must be a non-empty string/);
  });

  test('no argument, or two: the usage line', async () => {
    for (const argv of [[], ['a.json', 'b.json']]) {
      const t = io();
      expect(await main(argv, t.io)).toBe(1);
      expect(t.err).toEqual(['usage: node aws-standin-main.js CONFIG.json']);
    }
  });

  test('a listen error: exit 1, one line, no stack', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const t = io();
      expect(await main([writeConfig({ ...goodConfig(), imds: { host: '127.0.0.1', port } })], t.io)).toBe(1);
      expect(t.err).toEqual([`aws stand-in: the AWS stand-in cannot listen on 127.0.0.1:${port} for IMDS: listen EADDRINUSE: address already in use 127.0.0.1:${port}`]);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  test('serves, says where, and closes on SIGTERM with exit 0', async () => {
    const t = io();
    const exit = main([writeConfig(goodConfig())], t.io);
    const line = await t.listening;
    const m = /^aws stand-in listening: imds 127\.0\.0\.1:(\d+), api 127\.0\.0\.1:(\d+)$/.exec(line);
    expect(m).not.toBeNull();
    const imdsPort = Number(m![1]);
    const token = await call(imdsPort, { method: 'PUT', path: TOKEN_PATH, headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } });
    expect(token.status).toBe(200);
    t.signals.emit('SIGTERM');
    expect(await exit).toBe(0);
    await expect(call(imdsPort, { method: 'PUT', path: TOKEN_PATH })).rejects.toThrow(/ECONNREFUSED/);
    expect(t.signals.listenerCount('SIGTERM') + t.signals.listenerCount('SIGINT')).toBe(0);
    expect(t.err).toEqual([]);
  });

  test('SIGINT stops it too', async () => {
    const t = io();
    const exit = main([writeConfig(goodConfig())], t.io);
    await t.listening;
    t.signals.emit('SIGINT');
    expect(await exit).toBe(0);
  });

  test('as a process: the line on stdout, exit 0 on a real SIGTERM; a bad config is exit 1 and one stderr line', async () => {
    const entry = path.join(__dirname, '../../lib/local/boot/aws-standin-main.ts');
    const node = (configFile: string) =>
      start(process.execPath, ['-r', 'ts-node/register/transpile-only', entry, configFile], {
        stdio: ['ignore', 'pipe', 'pipe'],
        cwd: path.join(__dirname, '../..'),
        env: { ...process.env, TS_NODE_PROJECT: path.join(__dirname, '../../tsconfig.json') },
      });
    const collect = (stream: NodeJS.ReadableStream | null) => {
      let text = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (d: string) => (text += d));
      return () => text;
    };

    const good = node(writeConfig(goodConfig()));
    const stderr = collect(good.child.stderr);
    const firstLine = await new Promise<string>((resolve, reject) => {
      let text = '';
      good.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        text += d;
        if (text.includes('\n')) resolve(text);
      });
      good.child.once('exit', (code) => reject(new Error(`exited with ${code} before listening: ${stderr()}`)));
    });
    expect(firstLine).toMatch(/^aws stand-in listening: imds 127\.0\.0\.1:\d+, api 127\.0\.0\.1:\d+\n$/);
    good.kill('SIGTERM');
    expect(await good.exitCode()).toBe(0);
    expect(stderr()).toBe('');

    const bad = node(path.join(dir, 'missing.json'));
    const badStderr = collect(bad.child.stderr);
    expect(await bad.exitCode()).toBe(1);
    expect(badStderr()).toMatch(/^aws stand-in: cannot read the config file: ENOENT[^\n]*\n$/);
  });
});

describe("the SSM agent's regional distribution (public S3 objects)", () => {
  const S3_HOST = 's3.eu-west-1.amazonaws.com';
  const get = (p: string, method = 'GET', host = S3_HOST) => call(standIn.apiPort, { method, path: p, headers: { Host: host } });

  test('the package byte for byte and its signature, for any architecture; logged as s3 GETs', async () => {
    const deb = await new Promise<Buffer>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: standIn.apiPort, path: '/amazon-ssm-eu-west-1/latest/debian_amd64/amazon-ssm-agent.deb', headers: { Host: S3_HOST }, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks)));
      }).on('error', reject);
    });
    expect(deb).toEqual(fs.readFileSync(path.join(config.ssmAgentDir!, 'amazon-ssm-agent.deb')));
    expect((await get('/amazon-ssm-eu-west-1/latest/debian_arm64/amazon-ssm-agent.deb.sig')).body).toBe('signature');
    const log = fs.readFileSync(config.requestLogFile!, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(log).toEqual(expect.arrayContaining([expect.objectContaining({ service: 's3', action: 'GET /amazon-ssm-eu-west-1/latest/debian_amd64/amazon-ssm-agent.deb', status: 200 })]));
  });

  test.each([
    ['another region\'s bucket', '/amazon-ssm-us-east-1/latest/debian_amd64/amazon-ssm-agent.deb', 'GET', 404],
    ['another file', '/amazon-ssm-eu-west-1/latest/debian_amd64/stand-in.json', 'GET', 404],
    ['a path out of the directory', '/amazon-ssm-eu-west-1/latest/debian_amd64/../../amazon-ssm-agent.deb', 'GET', 404],
    ['a PUT', '/amazon-ssm-eu-west-1/latest/debian_amd64/amazon-ssm-agent.deb', 'PUT', 405],
  ])('%s is refused (%s %s)', async (_what, p, method, status) => {
    expect((await get(p, method)).status).toBe(status);
  });
});
