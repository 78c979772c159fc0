// What EC2 gives a booted rehearsal node, in one small process: IMDSv2 (role credentials, identity)
// and the AWS APIs the node's programs call through Debian 12's awscli (botocore): Secrets Manager
// GetSecretValue (the bootstrap), CloudWatch PutMetricData (the metrics publisher and the
// role-change callback) and CloudFormation DescribeStackResource and SignalResource (the node's
// metadata and its creation signal), EC2 CreateReplaceRootVolumeTask and
// DescribeReplaceRootVolumeTasks (an image change: the node replaces its own root volume), plus the
// PUT to a wait condition handle's presigned S3 URL.
// The node's /etc/hosts points the service hostnames here and its image trusts the rehearsal CA,
// so the real programs run unchanged.
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { LocalClusterError, oneLine } from '../errors';
import { SSM_AGENT_FILES } from '../../patroni/config/ssm-agent';
import { appendJsonLines, readJsonLines } from './json-lines';
import { REHEARSAL_IMAGE_ID } from './rehearsal-names';
import { createRootVolumeTask, IMAGE_ID_PATTERN, instanceImage, isUnfinished, readRootVolumeTasks, type RootVolumeTask } from './root-volume-tasks';

export interface StandInInstance {
  readonly address: string;
  readonly instanceId: string;
  readonly availabilityZone: string;
  /**
   * The image the instance was launched from: IMDS's ami-id until a replace-root-volume task of
   * this instance replaces its root with another image.
   * @default REHEARSAL_IMAGE_ID
   */
  readonly imageId?: string;
}

export interface AwsStandInConfig {
  readonly region: string;
  readonly accountId: string;
  readonly roleName: string;
  /** IMDS listener, e.g. { host: '169.254.169.254', port: 80 } */
  readonly imds: { readonly host: string; readonly port: number };
  /** API listener; HTTPS when certFile/keyFile are given, plain HTTP otherwise (tests). */
  readonly api: { readonly host: string; readonly port: number; readonly certFile?: string; readonly keyFile?: string };
  /** Callers are identified by their source address. */
  readonly instances: readonly StandInInstance[];
  /** Secret ARN -> SecretString. Also findable by name = the ARN's last ':' segment. */
  readonly secrets: Readonly<Record<string, string>>;
  /**
   * Secret ARN -> the version ID of its one (current) version, where the template names a version
   * (the certificates' NodeSecretVersion).
   * @default - a random version ID per secret
   */
  readonly secretVersions?: Readonly<Record<string, string>>;
  /** Every PutMetricData datum is appended here as one JSON line. */
  readonly metricsFile: string;
  /**
   * The stack CloudFormation describes ({@link StandInStack} as JSON), read anew for every call:
   * another process replaces it (by rename) while the stand-in runs.
   * @default - CloudFormation calls are answered InternalFailure (the config file always names one)
   */
  readonly cloudFormationFile?: string;
  /**
   * Every SignalResource call and wait condition signal is appended here as one JSON line.
   * @default - signals are answered InternalFailure (the config file always names one)
   */
  readonly signalsFile?: string;
  /** One JSON line per request: time, caller address, service, action, status (never secret values). */
  readonly requestLogFile?: string;
  /**
   * The SSM agent's package and signature (`amazon-ssm-agent.deb` and `.sig`), served where AWS's
   * regional distribution is: `s3.REGION.amazonaws.com/amazon-ssm-REGION/latest/debian_ARCH/`.
   * @default - that distribution answers 404
   */
  readonly ssmAgentDir?: string;
  /**
   * The role the instance role may assume (STS AssumeRole, as the credential broker does): its
   * credentials may call CloudWatch only, as the process role's policy allows.
   * @default - AssumeRole is refused
   */
  readonly processRoleArn?: string;
  /**
   * EC2's replace-root-volume tasks (root-volume-tasks.ts's JSON lines): CreateReplaceRootVolumeTask
   * appends to it, the host performs the tasks and appends their states, DescribeReplaceRootVolumeTasks
   * and IMDS's ami-id read it anew for every call (so they survive a restart of the stand-in).
   * @default - the EC2 calls are answered InternalFailure, IMDS's ami-id is the launch image
   */
  readonly rootVolumeTasksFile?: string;
}

export interface RunningStandIn {
  readonly imdsPort: number;
  readonly apiPort: number;
  close(): Promise<void>;
}

/** One recorded datum (the JSON line shape). */
export interface RecordedDatum {
  time: string;
  caller: string;
  instanceId?: string;
  /** The ARN of the role whose credentials signed the call (the instance role's, or an assumed one). */
  role?: string;
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
  value?: number;
  values?: number[];
  unit?: string;
  timestamp?: string;
}

/** The stack the rehearsal's CloudFormation describes (the cloudFormationFile's JSON). */
export interface StandInStack {
  readonly stackName: string;
  /** `arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/UUID`; calls may name the stack by either. */
  readonly stackId: string;
  /** By logical ID. */
  readonly resources: Readonly<Record<string, StandInStackResource>>;
}

export interface StandInStackResource {
  /** e.g. `AWS::EC2::Instance` */
  readonly type: string;
  readonly physicalId: string;
  /** The resource's Metadata attribute, any JSON value; DescribeStackResource gives it as a JSON string. */
  readonly metadata?: unknown;
  /**
   * Where CloudFormation is with the resource (DescribeStackResource's ResourceStatus), as a stack
   * operation moves it: `UPDATE_IN_PROGRESS` while an instance-type change stops and starts the
   * instance, `DELETE_IN_PROGRESS` while the stack is deleted.
   * @default 'UPDATE_COMPLETE'
   */
  readonly status?: StandInResourceStatus;
}

/** CloudFormation's ResourceStatus values. */
export const RESOURCE_STATUSES = [
  'CREATE_IN_PROGRESS', 'CREATE_FAILED', 'CREATE_COMPLETE',
  'DELETE_IN_PROGRESS', 'DELETE_FAILED', 'DELETE_COMPLETE', 'DELETE_SKIPPED',
  'UPDATE_IN_PROGRESS', 'UPDATE_FAILED', 'UPDATE_COMPLETE',
  'IMPORT_FAILED', 'IMPORT_COMPLETE', 'IMPORT_IN_PROGRESS',
  'IMPORT_ROLLBACK_IN_PROGRESS', 'IMPORT_ROLLBACK_FAILED', 'IMPORT_ROLLBACK_COMPLETE',
  'UPDATE_ROLLBACK_IN_PROGRESS', 'UPDATE_ROLLBACK_COMPLETE', 'UPDATE_ROLLBACK_FAILED',
  'ROLLBACK_IN_PROGRESS', 'ROLLBACK_COMPLETE', 'ROLLBACK_FAILED',
] as const;

export type StandInResourceStatus = (typeof RESOURCE_STATUSES)[number];

/** What DescribeStackResource answers for a resource whose status the stack file leaves out. */
export const DEFAULT_RESOURCE_STATUS: StandInResourceStatus = 'UPDATE_COMPLETE';

/** One recorded SignalResource call (the JSON line shape). */
export interface RecordedResourceSignal {
  kind: 'resource';
  logicalId: string;
  uniqueId: string;
  status: SignalStatus;
  caller: string;
  instanceId: string;
  time: string;
}

/** One recorded PUT to a wait condition handle (the JSON line shape). */
export interface RecordedWaitConditionSignal {
  kind: 'waitcondition';
  /** The handle URL's path, percent-decoded, without its leading slash. */
  handle: string;
  status: SignalStatus;
  uniqueId: string;
  reason: string;
  data?: string;
  caller: string;
  instanceId: string;
  time: string;
}

export type RecordedSignal = RecordedResourceSignal | RecordedWaitConditionSignal;

export type SignalStatus = 'SUCCESS' | 'FAILURE';

/** Larger request bodies are answered 413 (no node sends anything near it). */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Past this the connection is dropped instead of drained to answer 413. */
const DRAIN_LIMIT_BYTES = 8 * MAX_BODY_BYTES;
const MAX_TOKEN_TTL_SECONDS = 21_600;
const CREDENTIALS_LIFETIME_MS = 6 * 3600_000;
const CLOUDWATCH_XMLNS = 'http://monitoring.amazonaws.com/doc/2010-08-01/';
const CLOUDWATCH_JSON_TARGET = 'GraniteServiceVersion20100801.';
const SECRETS_MANAGER_TARGET = 'secretsmanager.';
const CLOUDFORMATION_XMLNS = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';
const STS_XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const EC2_XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';
/** AssumeRole's DurationSeconds: from 15 minutes to the hour role chaining allows. */
const ASSUME_ROLE_SECONDS = { min: 900, max: 3600, default: 3600 } as const;
/** A wait condition handle is a presigned URL on `cloudformation-waitcondition-REGION.s3.REGION.amazonaws.com`. */
const WAIT_CONDITION_HOST_PREFIX = 'cloudformation-waitcondition-';
const SIGNAL_STATUSES: readonly string[] = ['SUCCESS', 'FAILURE'];
const CLOUDWATCH_UNITS = new Set([
  'Seconds', 'Microseconds', 'Milliseconds', 'Bytes', 'Kilobytes', 'Megabytes', 'Gigabytes', 'Terabytes',
  'Bits', 'Kilobits', 'Megabits', 'Gigabits', 'Terabits', 'Percent', 'Count', 'Bytes/Second',
  'Kilobytes/Second', 'Megabytes/Second', 'Gigabytes/Second', 'Terabytes/Second', 'Bits/Second',
  'Kilobits/Second', 'Megabits/Second', 'Gigabits/Second', 'Terabits/Second', 'Count/Second', 'None',
]);

/** `oneLine`, duck-typed: Node's own errors fail `instanceof Error` in another realm (under Jest). */
export function errorLine(err: unknown): string {
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' && message !== '' ? oneLine(new Error(message)) : oneLine(err);
}

/** A dual-stack listener reports IPv4 callers as `::ffff:a.b.c.d`. */
export function normaliseAddress(address: string | undefined): string {
  const a = address ?? '';
  return a.toLowerCase().startsWith('::ffff:') && a.includes('.') ? a.slice('::ffff:'.length) : a;
}

/** IMDSv2 session tokens: each bound to the caller that asked for it, valid for its TTL. */
export class ImdsTokens {
  private readonly tokens = new Map<string, { caller: string; expiresAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  public issue(caller: string, ttlSeconds: number): string {
    const now = this.now();
    for (const [token, t] of this.tokens) if (t.expiresAt <= now) this.tokens.delete(token);
    const token = randomBytes(32).toString('base64url');
    this.tokens.set(token, { caller, expiresAt: now + ttlSeconds * 1000 });
    return token;
  }

  /** EC2's tokens only work on the instance that asked for them. */
  public valid(token: string | undefined, caller: string): boolean {
    const t = token === undefined ? undefined : this.tokens.get(token);
    return t !== undefined && t.caller === caller && this.now() < t.expiresAt;
  }
}

/** The TTL header's value if it is an integer 1..21600 (EC2 answers 400 otherwise). */
export function parseTokenTtl(header: string | undefined): number | undefined {
  if (header === undefined || !/^\d{1,9}$/.test(header)) return undefined;
  const ttl = Number(header);
  return ttl >= 1 && ttl <= MAX_TOKEN_TTL_SECONDS ? ttl : undefined;
}

interface RoleCredentials {
  readonly instance: StandInInstance;
  /** The role's ARN. */
  readonly role: string;
  /** Only assumed credentials end (IMDS's stay valid for the server's life). */
  readonly expiresAt?: Date;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly token: string;
  readonly issuedAt: Date;
}

function newCredentials(instance: StandInInstance, role: string, expiresAt?: Date): RoleCredentials {
  const base32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const keyId = [...randomBytes(16)].map((b) => base32[b % 32]).join('');
  return {
    instance,
    role,
    ...(expiresAt ? { expiresAt } : {}),
    accessKeyId: `ASIA${keyId}`,
    secretAccessKey: randomBytes(30).toString('base64'),
    token: randomBytes(96).toString('base64'),
    issuedAt: new Date(),
  };
}

/** The instance role's ARN (what IMDS's credentials stand for). */
export function instanceRoleArn(config: Pick<AwsStandInConfig, 'accountId' | 'roleName'>): string {
  return `arn:aws:iam::${config.accountId}:role/${config.roleName}`;
}

/** EC2 writes its timestamps without milliseconds. */
function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Answers one request whose body has been read (and was not too large). */
type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;

type BodyResult = { body: Buffer } | { tooLarge: true } | { dropped: true };

/** Reads the body up to MAX_BODY_BYTES; a larger one is drained (so the client reads our 413), up to a point. */
function readBody(req: http.IncomingMessage): Promise<BodyResult> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      else if (size > DRAIN_LIMIT_BYTES) req.destroy();
    });
    req.once('end', () => resolve(size > MAX_BODY_BYTES ? { tooLarge: true } : { body: Buffer.concat(chunks) }));
    req.once('error', reject);
    req.once('close', () => resolve({ dropped: true })); // destroyed (by us or the client); a no-op after 'end'
  });
}

function send(res: http.ServerResponse, status: number, body: string | Buffer, headers: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

interface RequestLogEntry {
  caller: string;
  instanceId?: string;
  service: string;
  action: string;
  status: number;
  error?: string;
}

class RequestLog {
  constructor(private readonly file: string | undefined) {}

  public write(entry: RequestLogEntry): void {
    if (this.file) fs.appendFileSync(this.file, `${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
  }
}

// ---------------------------------------------------------------------------------------------
// IMDS
// ---------------------------------------------------------------------------------------------

class Imds {
  private readonly tokens = new ImdsTokens();

  constructor(
    private readonly config: AwsStandInConfig,
    private readonly instances: ReadonlyMap<string, StandInInstance>,
    private readonly credentials: (instance: StandInInstance) => RoleCredentials,
    private readonly log: RequestLog,
  ) {}

  public readonly handle: Handler = (req, res) => {
    const caller = normaliseAddress(req.socket.remoteAddress);
    const path = (req.url ?? '/').split('?')[0];
    const instance = this.instances.get(caller);
    const status = this.answer(req, res, caller, path, instance);
    this.log.write({ caller, ...(instance ? { instanceId: instance.instanceId } : {}), service: 'imds', action: `${req.method} ${path}`, status });
  };

  private answer(req: http.IncomingMessage, res: http.ServerResponse, caller: string, path: string, instance?: StandInInstance): number {
    const reply = (status: number, body: string) => {
      send(res, status, body, { 'Content-Type': 'text/plain' });
      return status;
    };
    // EC2 refuses proxied requests, so a misconfigured proxy cannot hand out the role's keys.
    if (req.headers['x-forwarded-for'] !== undefined) return reply(403, 'Forbidden\n');
    if (!instance) return reply(404, 'Not Found\n');
    if (req.method === 'PUT') {
      if (path !== '/latest/api/token') return reply(404, 'Not Found\n');
      const ttl = parseTokenTtl(header(req, 'x-aws-ec2-metadata-token-ttl-seconds'));
      if (ttl === undefined) return reply(400, 'Bad Request\n');
      const token = this.tokens.issue(caller, ttl);
      send(res, 200, token, { 'Content-Type': 'text/plain', 'X-aws-ec2-metadata-token-ttl-seconds': String(ttl) });
      return 200;
    }
    if (req.method !== 'GET') return reply(405, 'Method Not Allowed\n');
    if (!this.tokens.valid(header(req, 'x-aws-ec2-metadata-token'), caller)) return reply(401, 'Unauthorized\n');
    const body = this.document(path, instance);
    return body === undefined ? reply(404, 'Not Found\n') : reply(200, body);
  }

  private document(path: string, instance: StandInInstance): string | undefined {
    const { config } = this;
    const roleCredentials = `/latest/meta-data/iam/security-credentials/${config.roleName}`;
    switch (path) {
      case '/latest/meta-data/instance-id':
        return instance.instanceId;
      case '/latest/meta-data/ami-id':
        return this.imageOf(instance);
      case '/latest/meta-data/local-ipv4':
        return instance.address;
      case '/latest/meta-data/placement/region':
        return config.region;
      case '/latest/meta-data/placement/availability-zone':
        return instance.availabilityZone;
      case '/latest/meta-data/iam/security-credentials':
      case '/latest/meta-data/iam/security-credentials/':
        return config.roleName;
      case roleCredentials:
        return this.roleCredentials(instance);
      case '/latest/dynamic/instance-identity/document':
        return this.identityDocument(instance);
      default:
        return undefined;
    }
  }

  /** The keys stay the same for the server's life; the expiry is always ~6 h away, so botocore never refreshes into an expired set. */
  private roleCredentials(instance: StandInInstance): string {
    const c = this.credentials(instance);
    const document = {
      Code: 'Success',
      LastUpdated: isoSeconds(c.issuedAt),
      Type: 'AWS-HMAC',
      AccessKeyId: c.accessKeyId,
      SecretAccessKey: c.secretAccessKey,
      Token: c.token,
      Expiration: isoSeconds(new Date(Date.now() + CREDENTIALS_LIFETIME_MS)),
    };
    return JSON.stringify(document, null, 2);
  }

  /** The launch image until a replace-root-volume task of the instance replaced its root. */
  private imageOf(instance: StandInInstance): string {
    const launched = instance.imageId ?? REHEARSAL_IMAGE_ID;
    const file = this.config.rootVolumeTasksFile;
    return file === undefined ? launched : instanceImage(readRootVolumeTasks(file), instance.instanceId, launched);
  }

  private identityDocument(instance: StandInInstance): string {
    const document = {
      accountId: this.config.accountId,
      architecture: 'x86_64',
      availabilityZone: instance.availabilityZone,
      billingProducts: null,
      devpayProductCodes: null,
      marketplaceProductCodes: null,
      imageId: this.imageOf(instance),
      instanceId: instance.instanceId,
      instanceType: 't3.medium',
      kernelId: null,
      pendingTime: isoSeconds(this.credentials(instance).issuedAt),
      privateIp: instance.address,
      ramdiskId: null,
      region: this.config.region,
      version: '2017-09-30',
    };
    return JSON.stringify(document, null, 2);
  }
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

// ---------------------------------------------------------------------------------------------
// The AWS APIs
// ---------------------------------------------------------------------------------------------

/** The wire protocols botocore speaks to these services. */
type Protocol = 'json1.1' | 'json1.0' | 'query' | 'ec2';

/** A client error, answered in the protocol's error shape. */
class ApiError extends Error {
  constructor(
    public readonly status: number,
    public readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface ApiCall {
  readonly service: 'secretsmanager' | 'monitoring' | 'cloudformation' | 'sts' | 'ec2' | 'unknown';
  readonly protocol: Protocol;
  /** The operation, from X-Amz-Target or (query protocol) the form's Action. */
  readonly action: string;
}

/** The service from X-Amz-Target when there is one, else from the Host header. */
function identifyCall(req: http.IncomingMessage, body: Buffer): ApiCall {
  const target = header(req, 'x-amz-target');
  if (target !== undefined) {
    if (target.startsWith(SECRETS_MANAGER_TARGET)) return { service: 'secretsmanager', protocol: 'json1.1', action: target.slice(SECRETS_MANAGER_TARGET.length) };
    if (target.startsWith(CLOUDWATCH_JSON_TARGET)) return { service: 'monitoring', protocol: 'json1.0', action: target.slice(CLOUDWATCH_JSON_TARGET.length) };
    return { service: 'unknown', protocol: 'json1.1', action: target };
  }
  const host = (header(req, 'host') ?? '').toLowerCase();
  if (host.startsWith('monitoring.')) return { service: 'monitoring', protocol: 'query', action: formOf(body).get('Action') ?? '' };
  if (host.startsWith('cloudformation.')) return { service: 'cloudformation', protocol: 'query', action: formOf(body).get('Action') ?? '' };
  if (host.startsWith('sts.')) return { service: 'sts', protocol: 'query', action: formOf(body).get('Action') ?? '' };
  if (host.startsWith('ec2.')) return { service: 'ec2', protocol: 'ec2', action: formOf(body).get('Action') ?? '' };
  if (host.startsWith('secretsmanager.')) return { service: 'secretsmanager', protocol: 'json1.1', action: '' };
  return { service: 'unknown', protocol: 'json1.1', action: '' };
}

function formOf(body: Buffer): URLSearchParams {
  return new URLSearchParams(body.toString('utf8'));
}

function xmlEscape(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c);
}

/** The query protocol's XML namespace for each service that speaks it. */
function queryXmlns(service: ApiCall['service']): string {
  if (service === 'sts') return STS_XMLNS;
  return service === 'cloudformation' ? CLOUDFORMATION_XMLNS : CLOUDWATCH_XMLNS;
}

/** A query protocol answer: `<ActionResponse>`, its `<ActionResult>` when there is one, the request ID. */
function sendQueryResponse(res: http.ServerResponse, call: ApiCall, requestId: string, result?: string): void {
  const { action } = call;
  const xml =
    `<${action}Response xmlns="${queryXmlns(call.service)}">${result === undefined ? '' : `<${action}Result>${result}</${action}Result>`}` +
    `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`;
  send(res, 200, xml, { 'Content-Type': 'text/xml', 'x-amzn-RequestId': requestId });
}

function sendApiError(res: http.ServerResponse, call: ApiCall, err: ApiError, requestId: string): void {
  const fault = err.status >= 500 ? 'Receiver' : 'Sender';
  if (call.protocol === 'ec2') {
    // EC2's own error document: no namespace, no Type, RequestID spelt so.
    const xml =
      `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${xmlEscape(err.code)}</Code><Message>${xmlEscape(err.message)}</Message></Error></Errors>` +
      `<RequestID>${requestId}</RequestID></Response>`;
    return send(res, err.status, xml, { 'Content-Type': 'text/xml;charset=UTF-8' });
  }
  if (call.protocol === 'query') {
    const xml =
      `<ErrorResponse xmlns="${queryXmlns(call.service)}"><Error><Type>${fault}</Type><Code>${xmlEscape(err.code)}</Code>` +
      `<Message>${xmlEscape(err.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
    return send(res, err.status, xml, { 'Content-Type': 'text/xml', 'x-amzn-RequestId': requestId });
  }
  const headers: http.OutgoingHttpHeaders = {
    'Content-Type': `application/x-amz-${call.protocol === 'json1.0' ? 'json-1.0' : 'json-1.1'}`,
    'x-amzn-RequestId': requestId,
    'x-amzn-ErrorType': err.code,
  };
  // CloudWatch's JSON protocol is "query compatible": botocore reads the query error code here.
  if (call.protocol === 'json1.0') headers['x-amzn-query-error'] = `${err.code};${fault}`;
  send(res, err.status, JSON.stringify({ __type: err.code, message: err.message }), headers);
}

/** Who signed a request: the AccessKeyId in `Credential=`, which must be one IMDS handed out. */
function authenticate(req: http.IncomingMessage, protocol: Protocol, byKeyId: ReadonlyMap<string, RoleCredentials>): RoleCredentials {
  const json = protocol === 'json1.0' || protocol === 'json1.1';
  const authorization = header(req, 'authorization');
  // EC2 says AuthFailure to both.
  if (authorization === undefined) {
    throw protocol === 'ec2'
      ? new ApiError(401, 'AuthFailure', 'AWS was not able to validate the provided access credentials')
      : new ApiError(403, json ? 'MissingAuthenticationTokenException' : 'MissingAuthenticationToken', 'Request is missing Authentication Token');
  }
  const invalid =
    protocol === 'ec2'
      ? new ApiError(401, 'AuthFailure', 'AWS was not able to validate the provided access credentials')
      : new ApiError(403, json ? 'UnrecognizedClientException' : 'InvalidClientTokenId', 'The security token included in the request is invalid.');
  const keyId = /^AWS4-HMAC-SHA256\s+Credential=([A-Z0-9]+)\//.exec(authorization)?.[1];
  const credentials = keyId === undefined ? undefined : byKeyId.get(keyId);
  // Temporary keys are useless without their session token, on AWS as here. The signature itself
  // is not verified: botocore computes it correctly, and the rehearsal is about who calls what.
  if (!credentials || header(req, 'x-amz-security-token') !== credentials.token) throw invalid;
  if (credentials.expiresAt && credentials.expiresAt.getTime() <= Date.now()) {
    throw new ApiError(400, json ? 'ExpiredTokenException' : 'ExpiredToken', 'The security token included in the request is expired');
  }
  return credentials;
}

interface SecretEntry {
  readonly arn: string;
  readonly name: string;
  readonly value: string;
  readonly versionId: string;
}

class SecretsManager {
  private readonly byId = new Map<string, SecretEntry>();
  /** Epoch seconds, as botocore's JSON protocols carry timestamps. */
  private readonly createdDate = Date.now() / 1000;

  constructor(secrets: Readonly<Record<string, string>>, versions: Readonly<Record<string, string>> = {}) {
    for (const [arn, value] of Object.entries(secrets)) {
      const entry = { arn, name: arn.slice(arn.lastIndexOf(':') + 1), value, versionId: versions[arn] ?? randomUUID() };
      this.byId.set(arn, entry);
      if (!this.byId.has(entry.name)) this.byId.set(entry.name, entry);
    }
  }

  public call(action: string, body: Buffer): unknown {
    if (action !== 'GetSecretValue') throw new ApiError(400, 'UnknownOperationException', `the rehearsal's Secrets Manager has no operation '${action}'`);
    const input = jsonObject(body);
    const secretId = input.SecretId;
    if (typeof secretId !== 'string' || secretId === '') throw new ApiError(400, 'InvalidParameterException', 'SecretId must be a non-empty string');
    const entry = this.byId.get(secretId);
    const notFound = new ApiError(400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    if (!entry) throw notFound;
    // Only the current version exists here.
    if (input.VersionId !== undefined && input.VersionId !== entry.versionId) throw notFound;
    if (input.VersionStage !== undefined && input.VersionStage !== 'AWSCURRENT') throw notFound;
    return { ARN: entry.arn, Name: entry.name, SecretString: entry.value, VersionId: entry.versionId, VersionStages: ['AWSCURRENT'], CreatedDate: this.createdDate };
  }
}

function jsonObject(body: Buffer): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8') || '{}');
  } catch {
    throw new ApiError(400, 'SerializationException', 'the request body is not JSON');
  }
  if (!isRecord(parsed)) throw new ApiError(400, 'SerializationException', 'the request body is not a JSON object');
  return parsed;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// PutMetricData: both wire forms become one input, validated once.

interface DatumInput {
  readonly metricName?: string;
  readonly dimensions: ReadonlyArray<{ readonly name?: string; readonly value?: string }>;
  readonly value?: number;
  readonly values?: readonly number[];
  readonly unit?: string;
  readonly timestamp?: Date;
}

interface PutMetricDataInput {
  readonly namespace?: string;
  readonly metricData: readonly DatumInput[];
}

/** The rest of a datum CloudWatch knows, which the stand-in could not record faithfully. */
const UNSUPPORTED_MEMBERS = ['StatisticValues', 'Counts'];

function invalid(message: string): ApiError {
  return new ApiError(400, 'InvalidParameterValue', message);
}

/** `MetricData.member.N.X` etc. of the query protocol (1-based, ordered by N). */
export function parseQueryPutMetricData(form: URLSearchParams): PutMetricDataInput {
  const members = new Map<number, Map<string, string>>();
  for (const [key, value] of form) {
    const m = /^MetricData\.member\.(\d+)\.(.+)$/.exec(key);
    if (!m) continue;
    const n = Number(m[1]);
    if (!members.has(n)) members.set(n, new Map());
    members.get(n)!.set(m[2], value);
  }
  const metricData = [...members.keys()].sort((a, b) => a - b).map((n) => queryDatum(n, members.get(n)!));
  return { namespace: form.get('Namespace') ?? undefined, metricData };
}

function queryDatum(n: number, fields: ReadonlyMap<string, string>): DatumInput {
  const where = `MetricData.member.${n}`;
  const dimensions = new Map<number, { name?: string; value?: string }>();
  const values = new Map<number, number>();
  for (const [key, raw] of fields) {
    const dim = /^Dimensions\.member\.(\d+)\.(Name|Value)$/.exec(key);
    const val = /^Values\.member\.(\d+)$/.exec(key);
    if (dim) {
      const d = dimensions.get(Number(dim[1])) ?? {};
      dimensions.set(Number(dim[1]), dim[2] === 'Name' ? { ...d, name: raw } : { ...d, value: raw });
    } else if (val) {
      values.set(Number(val[1]), queryNumber(raw, `${where}.${key}`));
    } else if (UNSUPPORTED_MEMBERS.some((u) => key.startsWith(`${u}.`))) {
      throw invalid(`${where}.${key}: the rehearsal stand-in records Value and Values only`);
    } else if (!['MetricName', 'Value', 'Unit', 'Timestamp', 'StorageResolution'].includes(key)) {
      throw invalid(`${where}.${key} is not a MetricDatum field`);
    }
  }
  const value = fields.get('Value');
  const timestamp = fields.get('Timestamp');
  return {
    metricName: fields.get('MetricName'),
    dimensions: [...dimensions.keys()].sort((a, b) => a - b).map((i) => dimensions.get(i)!),
    ...(value !== undefined ? { value: queryNumber(value, `${where}.Value`) } : {}),
    ...(values.size > 0 ? { values: [...values.keys()].sort((a, b) => a - b).map((i) => values.get(i)!) } : {}),
    unit: fields.get('Unit'),
    ...(timestamp !== undefined ? { timestamp: parseTimestamp(timestamp, `${where}.Timestamp`) } : {}),
  };
}

function queryNumber(raw: string, where: string): number {
  const n = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(n)) throw invalid(`The value ${raw} for parameter ${where} is not a finite number.`);
  return n;
}

/** ISO 8601 (the query protocol) or epoch seconds (the JSON protocol). */
function parseTimestamp(raw: unknown, where: string): Date {
  const date = typeof raw === 'number' ? new Date(raw * 1000) : typeof raw === 'string' && /^\d{4}-\d\d-\d\dT/.test(raw) ? new Date(raw) : undefined;
  if (!date || Number.isNaN(date.getTime())) throw invalid(`The value ${String(raw)} for parameter ${where} is not a timestamp.`);
  return date;
}

/** The JSON 1.0 body `{"Namespace", "MetricData": [...]}`: the types are JSON's, checked here. */
export function parseJsonPutMetricData(body: Record<string, unknown>): PutMetricDataInput {
  const { Namespace: namespace, MetricData: data } = body;
  if (namespace !== undefined && typeof namespace !== 'string') throw new ApiError(400, 'SerializationException', 'Namespace must be a string');
  if (data !== undefined && !Array.isArray(data)) throw new ApiError(400, 'SerializationException', 'MetricData must be a list');
  return { namespace, metricData: (data ?? []).map((d: unknown, i) => jsonDatum(d, `MetricData.member.${i + 1}`)) };
}

function jsonDatum(d: unknown, where: string): DatumInput {
  if (!isRecord(d)) throw new ApiError(400, 'SerializationException', `${where} must be an object`);
  const wrongType = (field: string, type: string) => new ApiError(400, 'SerializationException', `${where}.${field} must be ${type}`);
  for (const key of Object.keys(d)) {
    if (UNSUPPORTED_MEMBERS.includes(key)) throw invalid(`${where}.${key}: the rehearsal stand-in records Value and Values only`);
    if (!['MetricName', 'Dimensions', 'Value', 'Values', 'Unit', 'Timestamp', 'StorageResolution'].includes(key)) throw invalid(`${where}.${key} is not a MetricDatum field`);
  }
  const { MetricName, Dimensions, Value, Values, Unit, Timestamp } = d;
  if (MetricName !== undefined && typeof MetricName !== 'string') throw wrongType('MetricName', 'a string');
  if (Unit !== undefined && typeof Unit !== 'string') throw wrongType('Unit', 'a string');
  if (Value !== undefined && typeof Value !== 'number') throw wrongType('Value', 'a number');
  if (Values !== undefined && !(Array.isArray(Values) && Values.every((v) => typeof v === 'number'))) throw wrongType('Values', 'a list of numbers');
  if (Dimensions !== undefined && !(Array.isArray(Dimensions) && Dimensions.every(isRecord))) throw wrongType('Dimensions', 'a list of objects');
  const dimensions = ((Dimensions ?? []) as Record<string, unknown>[]).map((dim, i) => {
    if ((dim.Name !== undefined && typeof dim.Name !== 'string') || (dim.Value !== undefined && typeof dim.Value !== 'string')) {
      throw wrongType(`Dimensions.member.${i + 1}`, 'a {Name, Value} of strings');
    }
    return { name: dim.Name as string | undefined, value: dim.Value as string | undefined };
  });
  return {
    metricName: MetricName,
    dimensions,
    ...(Value !== undefined ? { value: Value } : {}),
    ...(Values !== undefined ? { values: Values as number[] } : {}),
    unit: Unit,
    ...(Timestamp !== undefined ? { timestamp: parseTimestamp(Timestamp, `${where}.Timestamp`) } : {}),
  };
}

/** CloudWatch's own checks (the ones a publisher's bug would trip), then the records to append. */
export function validatePutMetricData(input: PutMetricDataInput, who: { caller: string; instanceId?: string; role?: string }, now: Date): RecordedDatum[] {
  const { namespace, metricData } = input;
  if (namespace === undefined || namespace === '') throw new ApiError(400, 'MissingParameter', 'The parameter Namespace is required.');
  if (namespace.length > 255 || namespace.startsWith('AWS/')) throw invalid(`The value ${namespace} for parameter Namespace is invalid.`);
  if (metricData.length === 0) throw new ApiError(400, 'MissingParameter', 'The parameter MetricData is required.');
  if (metricData.length > 1000) throw invalid('The collection MetricData must not have a size greater than 1000.');
  return metricData.map((d, i) => recordDatum(d, `MetricData.member.${i + 1}`, namespace, who, now));
}

function recordDatum(d: DatumInput, where: string, namespace: string, who: { caller: string; instanceId?: string; role?: string }, now: Date): RecordedDatum {
  if (d.metricName === undefined || d.metricName === '') throw new ApiError(400, 'MissingParameter', `The parameter ${where}.MetricName is required.`);
  if (d.metricName.length > 255) throw invalid(`The value for parameter ${where}.MetricName is longer than 255.`);
  if (d.value === undefined && d.values === undefined) throw new ApiError(400, 'MissingParameter', `${where} needs a Value or Values.`);
  if (d.value !== undefined && d.values !== undefined) throw new ApiError(400, 'InvalidParameterCombination', `${where}: Value and Values are exclusive.`);
  if (d.value !== undefined && !Number.isFinite(d.value)) throw invalid(`${where}.Value is not a finite number.`);
  if (d.values !== undefined && (d.values.length === 0 || !d.values.every(Number.isFinite))) throw invalid(`${where}.Values must be finite numbers.`);
  if (d.unit !== undefined && !CLOUDWATCH_UNITS.has(d.unit)) throw invalid(`The value ${d.unit} for parameter ${where}.Unit is not a CloudWatch unit.`);
  if (d.dimensions.length > 30) throw invalid(`${where}: at most 30 dimensions.`);
  const dimensions: Record<string, string> = {};
  d.dimensions.forEach(({ name, value }, j) => {
    const at = `${where}.Dimensions.member.${j + 1}`;
    if (!name) throw new ApiError(400, 'MissingParameter', `The parameter ${at}.Name is required.`);
    if (!value) throw new ApiError(400, 'MissingParameter', `The parameter ${at}.Value is required.`);
    if (Object.prototype.hasOwnProperty.call(dimensions, name)) throw invalid(`${at}: the dimension ${name} is given twice.`);
    dimensions[name] = value;
  });
  return {
    time: now.toISOString(),
    caller: who.caller,
    ...(who.instanceId !== undefined ? { instanceId: who.instanceId } : {}),
    ...(who.role !== undefined ? { role: who.role } : {}),
    namespace,
    metricName: d.metricName,
    dimensions,
    ...(d.value !== undefined ? { value: d.value } : {}),
    ...(d.values !== undefined ? { values: [...d.values] } : {}),
    ...(d.unit !== undefined ? { unit: d.unit } : {}),
    ...(d.timestamp !== undefined ? { timestamp: d.timestamp.toISOString() } : {}),
  };
}

/** The data recorded so far in a metrics file (none when it does not exist yet). */
export function readRecordedMetrics(file: string): RecordedDatum[] {
  return readJsonLines<RecordedDatum>(file);
}

/** The signals recorded so far in a signals file (none when it does not exist yet). */
export function readRecordedSignals(file: string): RecordedSignal[] {
  return readJsonLines<RecordedSignal>(file);
}

/** A file the stand-in's config may leave out; a call that needs it is then InternalFailure. */
function configuredFile(file: string | undefined, field: string): string {
  if (file === undefined) throw new ApiError(500, 'InternalFailure', `the AWS stand-in's config names no ${field}`);
  return file;
}

// CloudFormation: DescribeStackResource and SignalResource (query protocol), and wait condition handles.

/** The stack file, checked; a missing or malformed one is InternalFailure in one line (not the caller's fault). */
function readStandInStack(file: string): { stack: StandInStack; lastUpdated: Date } {
  const broken = (why: string) => new ApiError(500, 'InternalFailure', `the rehearsal's CloudFormation file ${file}: ${why}`);
  let value: unknown;
  let lastUpdated: Date;
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8'));
    lastUpdated = fs.statSync(file).mtime;
  } catch (err) {
    throw broken(errorLine(err));
  }
  if (!isRecord(value) || typeof value.stackName !== 'string' || typeof value.stackId !== 'string' || !isRecord(value.resources)) {
    throw broken('not {stackName, stackId, resources}');
  }
  for (const [logicalId, resource] of Object.entries(value.resources)) {
    if (!isRecord(resource) || typeof resource.type !== 'string' || typeof resource.physicalId !== 'string') {
      throw broken(`resources.${logicalId} is not {type, physicalId, metadata?, status?}`);
    }
    if (resource.status !== undefined && !(RESOURCE_STATUSES as readonly unknown[]).includes(resource.status)) {
      throw broken(`resources.${logicalId}.status ${JSON.stringify(resource.status)} is not a CloudFormation ResourceStatus`);
    }
  }
  return { stack: value as unknown as StandInStack, lastUpdated };
}

function validationError(message: string): ApiError {
  return new ApiError(400, 'ValidationError', message);
}

/** A parameter CloudFormation requires, with its message for a missing one. */
function requiredParameter(form: URLSearchParams, name: string): string {
  const value = form.get(name);
  const member = `${name[0].toLowerCase()}${name.slice(1)}`;
  if (value === null) throw validationError(`1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`);
  if (value === '') throw validationError(`1 validation error detected: Value '' at '${member}' failed to satisfy constraint: Member must have length greater than or equal to 1`);
  return value;
}

function isSignalStatus(value: unknown): value is SignalStatus {
  return typeof value === 'string' && SIGNAL_STATUSES.includes(value);
}

class CloudFormation {
  constructor(private readonly config: AwsStandInConfig) {}

  /** Answers one call: the content of its `<ActionResult>` (undefined: the answer has none). */
  public call(action: string, form: URLSearchParams, who: { caller: string; instanceId: string }): string | undefined {
    switch (action) {
      case 'DescribeStackResource':
        return this.describeStackResource(form);
      case 'SignalResource':
        this.signalResource(form, who);
        return undefined;
      default:
        throw new ApiError(400, 'InvalidAction', `the rehearsal's CloudFormation has no action '${action}'`);
    }
  }

  private describeStackResource(form: URLSearchParams): string {
    const { stack, logicalId, resource, lastUpdated } = this.resource(form);
    const fields: Array<[string, string]> = [
      ['StackName', stack.stackName],
      ['StackId', stack.stackId],
      ['LogicalResourceId', logicalId],
      ['PhysicalResourceId', resource.physicalId],
      ['ResourceType', resource.type],
      ['LastUpdatedTimestamp', lastUpdated.toISOString()],
      ['ResourceStatus', resource.status ?? DEFAULT_RESOURCE_STATUS],
    ];
    // The Metadata attribute travels as a JSON string (`--query StackResourceDetail.Metadata --output text` prints it).
    if (resource.metadata !== undefined) fields.push(['Metadata', JSON.stringify(resource.metadata)]);
    return `<StackResourceDetail>${fields.map(([name, value]) => `<${name}>${xmlEscape(value)}</${name}>`).join('')}</StackResourceDetail>`;
  }

  private signalResource(form: URLSearchParams, who: { caller: string; instanceId: string }): void {
    const uniqueId = requiredParameter(form, 'UniqueId');
    const status = requiredParameter(form, 'Status');
    if (!isSignalStatus(status)) {
      throw validationError(`1 validation error detected: Value '${status}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [${SIGNAL_STATUSES.join(', ')}]`);
    }
    const { logicalId } = this.resource(form);
    const signal: RecordedResourceSignal = { kind: 'resource', logicalId, uniqueId, status, caller: who.caller, instanceId: who.instanceId, time: new Date().toISOString() };
    appendJsonLines(configuredFile(this.config.signalsFile, 'signalsFile'), [signal]);
  }

  /** The resource the call names (StackName: the stack's name or ID), from the stack file as it is now. */
  private resource(form: URLSearchParams): { stack: StandInStack; logicalId: string; resource: StandInStackResource; lastUpdated: Date } {
    const stackName = requiredParameter(form, 'StackName');
    const logicalId = requiredParameter(form, 'LogicalResourceId');
    const { stack, lastUpdated } = readStandInStack(configuredFile(this.config.cloudFormationFile, 'cloudFormationFile'));
    if (stackName !== stack.stackName && stackName !== stack.stackId) throw validationError(`Stack with id ${stackName} does not exist`);
    if (!Object.prototype.hasOwnProperty.call(stack.resources, logicalId)) throw validationError(`Resource ${logicalId} does not exist for stack ${stackName}`);
    return { stack, logicalId, resource: stack.resources[logicalId], lastUpdated };
  }
}

/** A wait condition signal as cfn-signal (or `curl -T`) PUTs it. */
function parseWaitConditionSignal(body: Buffer): { status: SignalStatus; uniqueId: string; reason: string; data?: string } {
  const bad = (why: string) => new ApiError(400, 'InvalidArgument', `the wait condition signal ${why}`);
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw bad('is not JSON');
  }
  if (!isRecord(value)) throw bad('is not a JSON object');
  const { Status: status, UniqueId: uniqueId, Reason: reason, Data: data } = value;
  if (!isSignalStatus(status)) throw bad(`has Status ${JSON.stringify(status)}, not "SUCCESS" or "FAILURE"`);
  if (typeof uniqueId !== 'string' || uniqueId === '') throw bad('has no UniqueId (a non-empty string)');
  if (typeof reason !== 'string') throw bad('has no Reason (a string)');
  if (data !== undefined && typeof data !== 'string') throw bad('has a Data that is no string');
  return { status, uniqueId, reason, ...(data !== undefined ? { data } : {}) };
}

/**
 * PUTs to a wait condition handle, a presigned S3 URL: it carries its own authorization, which is
 * not checked here (the query string is ignored), but only the rehearsal's instances may use it.
 * Errors have S3's XML shape, on one line.
 */
class WaitConditions {
  constructor(
    private readonly config: AwsStandInConfig,
    private readonly instances: ReadonlyMap<string, StandInInstance>,
    private readonly log: RequestLog,
  ) {}

  public readonly handle: Handler = (req, res, body) => {
    const caller = normaliseAddress(req.socket.remoteAddress);
    const instance = this.instances.get(caller);
    const path = (req.url ?? '/').split('?')[0];
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    let status = 200;
    let error: string | undefined;
    try {
      this.signal(req, path, body, caller, instance);
      send(res, 200, '', { 'x-amz-request-id': requestId });
    } catch (err) {
      const apiError = err instanceof ApiError ? err : new ApiError(500, 'InternalError', errorLine(err));
      const xml = `<Error><Code>${apiError.code}</Code><Message>${xmlEscape(apiError.message)}</Message><RequestId>${requestId}</RequestId></Error>`;
      send(res, apiError.status, xml, { 'Content-Type': 'application/xml', 'x-amz-request-id': requestId });
      status = apiError.status;
      error = apiError.code;
    }
    this.log.write({ caller, ...(instance ? { instanceId: instance.instanceId } : {}), service: 'waitcondition', action: `${req.method} ${path}`, status, ...(error ? { error } : {}) });
  };

  private signal(req: http.IncomingMessage, path: string, body: Buffer, caller: string, instance?: StandInInstance): void {
    if (!instance) throw new ApiError(403, 'AccessDenied', "Access Denied (the rehearsal's wait condition handles answer its instances only)");
    if (req.method !== 'PUT') throw new ApiError(405, 'MethodNotAllowed', `The specified method is not allowed against this resource (a wait condition handle takes PUT, not ${req.method}).`);
    let handle: string;
    try {
      handle = decodeURIComponent(path.slice(1));
    } catch {
      throw new ApiError(400, 'InvalidURI', `Couldn't parse the specified URI: ${path}`);
    }
    if (handle === '') throw new ApiError(400, 'InvalidArgument', "the wait condition handle is the URL's path, and it has none");
    const { status, uniqueId, reason, data } = parseWaitConditionSignal(body);
    const signal: RecordedWaitConditionSignal = {
      kind: 'waitcondition',
      handle,
      status,
      uniqueId,
      reason,
      ...(data !== undefined ? { data } : {}),
      caller,
      instanceId: instance.instanceId,
      time: new Date().toISOString(),
    };
    appendJsonLines(configuredFile(this.config.signalsFile, 'signalsFile'), [signal]);
  }
}

// EC2: the replace-root-volume tasks of an image change (EC2's own query protocol).

/** An EC2 answer: `<ActionResponse>` in EC2's namespace, `<requestId>` first, no Result wrapper. */
function sendEc2Response(res: http.ServerResponse, call: ApiCall, requestId: string, content: string): void {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<${call.action}Response xmlns="${EC2_XMLNS}"><requestId>${requestId}</requestId>${content}</${call.action}Response>`;
  send(res, 200, xml, { 'Content-Type': 'text/xml;charset=UTF-8' });
}

function ec2Error(code: string, message: string, status = 400): ApiError {
  return new ApiError(status, code, message);
}

/** A task's elements, lowerCamel as EC2 writes them. */
function rootVolumeTaskXml(t: RootVolumeTask): string {
  return (
    `<replaceRootVolumeTaskId>${t.replaceRootVolumeTaskId}</replaceRootVolumeTaskId><instanceId>${t.instanceId}</instanceId>` +
    `<taskState>${t.taskState}</taskState><startTime>${t.startTime}</startTime>${t.completeTime ? `<completeTime>${t.completeTime}</completeTime>` : ''}` +
    `<tagSet/><imageId>${xmlEscape(t.imageId)}</imageId><deleteReplacedRootVolume>${t.deleteReplacedRootVolume}</deleteReplacedRootVolume>`
  );
}

/** The query protocol's list members `Name.1`, `Name.2`, ... in numeric order. */
function queryList(form: URLSearchParams, name: string): string[] {
  const members: Array<[number, string]> = [];
  for (const [key, value] of form) {
    const m = new RegExp(`^${name.replace(/\./g, '\\.')}\\.(\\d+)$`).exec(key);
    if (m) members.push([Number(m[1]), value]);
  }
  return members.sort((a, b) => a[0] - b[0]).map(([, value]) => value);
}

/**
 * CreateReplaceRootVolumeTask (from an image only) and DescribeReplaceRootVolumeTasks. The
 * construct's policy lets a node replace the root volume of any of the cluster's instances; the
 * rehearsal is stricter and lets an instance replace its own only (what the node agent does), so
 * a wrong instance ID in the agent fails here instead of rebooting another node.
 */
class Ec2 {
  constructor(private readonly config: AwsStandInConfig) {}

  /** The content of the action's response element. */
  public call(action: string, form: URLSearchParams, caller: StandInInstance): string {
    switch (action) {
      case 'CreateReplaceRootVolumeTask':
        return `<replaceRootVolumeTask>${rootVolumeTaskXml(this.create(form, caller))}</replaceRootVolumeTask>`;
      case 'DescribeReplaceRootVolumeTasks':
        return `<replaceRootVolumeTaskSet>${this.describe(form).map((t) => `<item>${rootVolumeTaskXml(t)}</item>`).join('')}</replaceRootVolumeTaskSet>`;
      default:
        throw ec2Error('InvalidAction', `The action ${action} is not valid for this web service (the rehearsal's EC2 answers CreateReplaceRootVolumeTask and DescribeReplaceRootVolumeTasks only).`);
    }
  }

  private get file(): string {
    return configuredFile(this.config.rootVolumeTasksFile, 'rootVolumeTasksFile');
  }

  private create(form: URLSearchParams, caller: StandInInstance): RootVolumeTask {
    const instanceId = form.get('InstanceId');
    if (instanceId === null || instanceId === '') throw ec2Error('MissingParameter', 'The request must contain the parameter InstanceId');
    if (!this.config.instances.some((i) => i.instanceId === instanceId)) throw ec2Error('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
    if (instanceId !== caller.instanceId) {
      throw ec2Error('UnauthorizedOperation', `You are not authorized to perform this operation. (the rehearsal lets ${caller.instanceId} replace its own root volume only, not ${instanceId}'s)`, 403);
    }
    if (form.get('SnapshotId') !== null) throw ec2Error('UnsupportedOperation', "the rehearsal replaces a root volume from an image only, not from a snapshot (ImageId, no SnapshotId)");
    const imageId = form.get('ImageId');
    if (imageId === null || imageId === '') throw ec2Error('UnsupportedOperation', 'the rehearsal replaces a root volume from an image only: ImageId is required (restoring the launch state is not stood in)');
    if (!IMAGE_ID_PATTERN.test(imageId)) throw ec2Error('InvalidAMIID.Malformed', `Invalid id: "${imageId}" (expecting "ami-...")`);
    const deleteReplaced = form.get('DeleteReplacedRootVolume');
    if (deleteReplaced !== null && deleteReplaced !== 'true' && deleteReplaced !== 'false') throw ec2Error('InvalidParameterValue', `Value (${deleteReplaced}) for parameter deleteReplacedRootVolume is invalid. Expected: 'true' or 'false'.`);
    const clientToken = form.get('ClientToken') ?? undefined;
    const tasks = readRootVolumeTasks(this.file);
    // Idempotent on the ClientToken, as EC2 is: a retried call gets the task it created.
    const same = clientToken === undefined ? undefined : tasks.find((t) => t.clientToken === clientToken);
    if (same) {
      if (same.instanceId !== instanceId || same.imageId !== imageId) throw ec2Error('IdempotentParameterMismatch', `The client token ${clientToken} was used with other parameters`);
      return same;
    }
    const running = tasks.find((t) => t.instanceId === instanceId && isUnfinished(t));
    if (running) throw ec2Error('IncorrectState', `The instance '${instanceId}' has a replace root volume task in progress (${running.replaceRootVolumeTaskId}, ${running.taskState})`);
    if (form.get('DryRun') === 'true') throw ec2Error('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
    return createRootVolumeTask(this.file, { instanceId, imageId, deleteReplacedRootVolume: deleteReplaced === 'true', ...(clientToken !== undefined ? { clientToken } : {}) });
  }

  /**
   * By ID and/or the `instance-id` filter, every task of the cluster otherwise (Describe actions
   * are not scoped to resources in IAM). An ID the rehearsal does not know matches nothing.
   */
  private describe(form: URLSearchParams): RootVolumeTask[] {
    const ids = queryList(form, 'ReplaceRootVolumeTaskId');
    const instanceIds: string[] = [];
    for (let n = 1; form.get(`Filter.${n}.Name`) !== null; n++) {
      const name = form.get(`Filter.${n}.Name`);
      if (name !== 'instance-id') throw ec2Error('InvalidParameterValue', `The filter '${name}' is invalid (the rehearsal filters by instance-id only)`);
      instanceIds.push(...queryList(form, `Filter.${n}.Value`));
    }
    return readRootVolumeTasks(this.file).filter((t) => (ids.length === 0 || ids.includes(t.replaceRootVolumeTaskId)) && (instanceIds.length === 0 || instanceIds.includes(t.instanceId)));
  }
}

class Api {
  private readonly secrets: SecretsManager;
  private readonly cloudFormation: CloudFormation;
  private readonly waitConditions: WaitConditions;
  private readonly ec2: Ec2;

  constructor(
    private readonly config: AwsStandInConfig,
    private readonly byKeyId: ReadonlyMap<string, RoleCredentials>,
    byAddress: ReadonlyMap<string, StandInInstance>,
    private readonly log: RequestLog,
    /** Issues and registers assumed credentials. */
    private readonly issue: (instance: StandInInstance, role: string, expiresAt: Date) => RoleCredentials,
  ) {
    this.secrets = new SecretsManager(config.secrets, config.secretVersions);
    this.cloudFormation = new CloudFormation(config);
    this.waitConditions = new WaitConditions(config, byAddress, log);
    this.ec2 = new Ec2(config);
  }

  public readonly handle: Handler = (req, res, body) => {
    const host = (header(req, 'host') ?? '').toLowerCase();
    if (host.startsWith(WAIT_CONDITION_HOST_PREFIX)) return this.waitConditions.handle(req, res, body);
    if (host === `s3.${this.config.region}.amazonaws.com`) return this.ssmAgentDistribution(req, res);
    const caller = normaliseAddress(req.socket.remoteAddress);
    const requestId = randomUUID();
    const call = identifyCall(req, body);
    let instanceId: string | undefined;
    let role: string | undefined;
    let status: number;
    let error: string | undefined;
    try {
      if (req.method !== 'POST') throw new ApiError(405, 'MethodNotAllowed', `${req.method} is not how botocore calls ${call.service}`);
      const credentials = authenticate(req, call.protocol, this.byKeyId);
      instanceId = credentials.instance.instanceId;
      role = credentials.role;
      if (credentials.role !== instanceRoleArn(this.config) && call.service !== 'monitoring') {
        // The process role's policy: PutMetricData (and the backup repository, not stood in here).
        const [status, code] = call.protocol === 'query' ? [403, 'AccessDenied'] : call.protocol === 'ec2' ? [403, 'UnauthorizedOperation'] : [400, 'AccessDeniedException'];
        throw new ApiError(status, code, `${credentials.role} is not authorized to perform: ${call.service}:${call.action}`);
      }
      status = this.dispatch(call, body, res, requestId, { caller, instanceId, credentials });
    } catch (err) {
      const apiError = err instanceof ApiError ? err : new ApiError(500, 'InternalFailure', errorLine(err));
      sendApiError(res, call, apiError, requestId);
      status = apiError.status;
      error = apiError.code;
    }
    this.log.write({ caller, ...(instanceId ? { instanceId } : {}), ...(role ? { role } : {}), service: call.service, action: call.action, status, ...(error ? { error } : {}) });
  };

  /** AWS's regional SSM agent distribution: public objects (no signature), GET only, two names. */
  private ssmAgentDistribution(req: http.IncomingMessage, res: http.ServerResponse): void {
    const name = new RegExp(`^/amazon-ssm-${this.config.region}/latest/debian_[a-z0-9]+/([^/]+)$`).exec(req.url ?? '')?.[1];
    const served = name !== undefined && (Object.values(SSM_AGENT_FILES) as string[]).includes(name);
    const file = served && this.config.ssmAgentDir ? `${this.config.ssmAgentDir}/${name}` : undefined;
    const status = req.method !== 'GET' ? 405 : file && fs.existsSync(file) ? 200 : 404;
    if (status === 200) send(res, 200, fs.readFileSync(file!), { 'Content-Type': 'application/octet-stream' });
    else send(res, status, '<Error><Code>NoSuchKey</Code></Error>', { 'Content-Type': 'application/xml' });
    this.log.write({ caller: normaliseAddress(req.socket.remoteAddress), service: 's3', action: `${req.method} ${req.url}`, status });
  }

  /** Answers one authenticated call; returns the status sent. */
  private dispatch(call: ApiCall, body: Buffer, res: http.ServerResponse, requestId: string, who: { caller: string; instanceId: string; credentials: RoleCredentials }): number {
    switch (call.service) {
      case 'secretsmanager':
        send(res, 200, JSON.stringify(this.secrets.call(call.action, body)), { 'Content-Type': 'application/x-amz-json-1.1', 'x-amzn-RequestId': requestId });
        return 200;
      case 'monitoring':
        this.putMetricData(call, body, { caller: who.caller, instanceId: who.instanceId, role: who.credentials.role });
        if (call.protocol === 'json1.0') send(res, 200, '{}', { 'Content-Type': 'application/x-amz-json-1.0', 'x-amzn-RequestId': requestId });
        else sendQueryResponse(res, call, requestId);
        return 200;
      case 'cloudformation':
        sendQueryResponse(res, call, requestId, this.cloudFormation.call(call.action, formOf(body), who));
        return 200;
      case 'sts':
        sendQueryResponse(res, call, requestId, this.assumeRole(call, formOf(body), who.credentials));
        return 200;
      case 'ec2':
        sendEc2Response(res, call, requestId, this.ec2.call(call.action, formOf(body), who.credentials.instance));
        return 200;
      default:
        throw new ApiError(400, 'UnknownOperationException', 'the rehearsal answers secretsmanager.*, monitoring.*, cloudformation.*, sts:AssumeRole and two ec2 actions only');
    }
  }

  /** STS AssumeRole of the process role, by the instance role only (its trust policy); `<AssumeRoleResult>`'s content. */
  private assumeRole(call: ApiCall, form: URLSearchParams, credentials: RoleCredentials): string {
    if (call.action !== 'AssumeRole') throw new ApiError(400, 'InvalidAction', `the rehearsal's STS has no action '${call.action}'`);
    const roleArn = form.get('RoleArn') ?? '';
    const session = form.get('RoleSessionName') ?? '';
    const seconds = Number(form.get('DurationSeconds') ?? ASSUME_ROLE_SECONDS.default);
    if (!/^[\w+=,.@-]{2,64}$/.test(session)) throw new ApiError(400, 'ValidationError', `RoleSessionName '${session}' must be 2-64 of [\\w+=,.@-]`);
    if (!Number.isInteger(seconds) || seconds < ASSUME_ROLE_SECONDS.min || seconds > ASSUME_ROLE_SECONDS.max) {
      throw new ApiError(400, 'ValidationError', `DurationSeconds ${seconds} exceeds the 1 hour session limit for roles assumed by role chaining`);
    }
    if (this.config.processRoleArn === undefined || roleArn !== this.config.processRoleArn || credentials.role !== instanceRoleArn(this.config)) {
      throw new ApiError(403, 'AccessDenied', `User: ${credentials.role} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`);
    }
    const assumed = this.issue(credentials.instance, roleArn, new Date(Date.now() + seconds * 1000));
    const roleName = roleArn.slice(roleArn.lastIndexOf('/') + 1);
    return (
      `<Credentials><AccessKeyId>${assumed.accessKeyId}</AccessKeyId><SecretAccessKey>${xmlEscape(assumed.secretAccessKey)}</SecretAccessKey>` +
      `<SessionToken>${xmlEscape(assumed.token)}</SessionToken><Expiration>${isoSeconds(assumed.expiresAt!)}</Expiration></Credentials>` +
      `<AssumedRoleUser><AssumedRoleId>AROAREHEARSAL:${xmlEscape(session)}</AssumedRoleId>` +
      `<Arn>arn:aws:sts::${this.config.accountId}:assumed-role/${xmlEscape(roleName)}/${xmlEscape(session)}</Arn></AssumedRoleUser>`
    );
  }

  private putMetricData(call: ApiCall, body: Buffer, who: { caller: string; instanceId: string; role: string }): void {
    if (call.action !== 'PutMetricData') {
      throw new ApiError(400, call.protocol === 'query' ? 'InvalidAction' : 'UnknownOperationException', `the rehearsal's CloudWatch has no action '${call.action}'`);
    }
    const input = call.protocol === 'query' ? parseQueryPutMetricData(formOf(body)) : parseJsonPutMetricData(jsonObject(body));
    appendJsonLines(this.config.metricsFile, validatePutMetricData(input, who, new Date()));
  }
}

// ---------------------------------------------------------------------------------------------
// The servers
// ---------------------------------------------------------------------------------------------

/** Reads the bounded body, then hands over; a handler's unexpected failure is a 500, never a crash. */
function serve(handler: Handler, log: RequestLog, service: string): http.RequestListener {
  return (req, res) => {
    readBody(req).then(
      (result) => {
        if ('dropped' in result) return;
        if ('tooLarge' in result) {
          send(res, 413, 'Request Entity Too Large\n', { 'Content-Type': 'text/plain', Connection: 'close' });
          log.write({ caller: normaliseAddress(req.socket.remoteAddress), service, action: 'body', status: 413 });
          return;
        }
        try {
          handler(req, res, result.body);
        } catch (err) {
          if (!res.headersSent) send(res, 500, `${errorLine(err)}\n`, { 'Content-Type': 'text/plain' });
          else res.destroy();
        }
      },
      () => res.destroy(),
    );
  };
}

function listen(server: http.Server, host: string, port: number, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const failed = (err: Error) => reject(new LocalClusterError(`the AWS stand-in cannot listen on ${host}:${port} for ${what}: ${errorLine(err)}`));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: http.Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections(); // keep-alive clients would hold close() open
  });
}

function readPem(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new LocalClusterError(`the AWS stand-in cannot read its ${what} ${file}: ${errorLine(err)}`);
  }
}

function apiServer(config: AwsStandInConfig, listener: http.RequestListener): http.Server {
  const { certFile, keyFile } = config.api;
  if (certFile === undefined && keyFile === undefined) return http.createServer(listener);
  if (certFile === undefined || keyFile === undefined) throw new LocalClusterError('the AWS stand-in needs both api.certFile and api.keyFile for HTTPS, or neither');
  return https.createServer({ cert: readPem(certFile, 'certificate'), key: readPem(keyFile, 'private key') }, listener);
}

function instancesByAddress(instances: readonly StandInInstance[]): Map<string, StandInInstance> {
  const byAddress = new Map<string, StandInInstance>();
  for (const instance of instances) {
    const address = normaliseAddress(instance.address);
    if (byAddress.has(address)) throw new LocalClusterError(`the AWS stand-in has two instances at ${address}`);
    byAddress.set(address, instance);
  }
  return byAddress;
}

/** A file the stand-in appends to must be writable at the start, not at the first request. */
function checkAppendable(file: string, what: string): void {
  try {
    fs.appendFileSync(file, '');
  } catch (err) {
    throw new LocalClusterError(`the AWS stand-in cannot write its ${what} ${file}: ${errorLine(err)}`);
  }
}

/** Starts the IMDS and API listeners; port 0 picks free ports, reported in the result. */
export async function startAwsStandIn(config: AwsStandInConfig): Promise<RunningStandIn> {
  checkAppendable(config.metricsFile, 'metrics file');
  if (config.signalsFile !== undefined) checkAppendable(config.signalsFile, 'signals file');
  if (config.requestLogFile !== undefined) checkAppendable(config.requestLogFile, 'request log');
  if (config.rootVolumeTasksFile !== undefined) checkAppendable(config.rootVolumeTasksFile, 'replace-root-volume tasks file');
  const log = new RequestLog(config.requestLogFile);
  const byAddress = instancesByAddress(config.instances);
  const byInstance = new Map<string, RoleCredentials>();
  const byKeyId = new Map<string, RoleCredentials>();
  const credentials = (instance: StandInInstance): RoleCredentials => {
    let c = byInstance.get(instance.instanceId);
    if (!c) {
      c = newCredentials(instance, instanceRoleArn(config));
      byInstance.set(instance.instanceId, c);
      byKeyId.set(c.accessKeyId, c);
    }
    return c;
  };
  const assumed = (instance: StandInInstance, role: string, expiresAt: Date): RoleCredentials => {
    const c = newCredentials(instance, role, expiresAt);
    byKeyId.set(c.accessKeyId, c);
    return c;
  };
  const imds = http.createServer(serve(new Imds(config, byAddress, credentials, log).handle, log, 'imds'));
  const api = apiServer(config, serve(new Api(config, byKeyId, byAddress, log, assumed).handle, log, 'api'));
  const close = async () => {
    await Promise.all([closeServer(imds), closeServer(api)]);
  };
  try {
    const imdsPort = await listen(imds, config.imds.host, config.imds.port, 'IMDS');
    const apiPort = await listen(api, config.api.host, config.api.port, 'the AWS APIs');
    return { imdsPort, apiPort, close };
  } catch (err) {
    await close();
    throw err;
  }
}
