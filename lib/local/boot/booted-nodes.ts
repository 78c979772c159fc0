// `failover local up --boot`: every node a Debian 12 system container that boots the image and runs
// the synthesized template's user data, with what EC2 gives an instance stood in for (IMDS,
// Secrets Manager, CloudWatch, a data volume, a fixed address). LocalCluster drives these.
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { entryCommand } from '../entry-command';
import * as path from 'node:path';
import type { ClusterSpec, ClusterTiming } from '../../patroni/config/spec';
import { nodePackages } from '../../patroni/config/packages';
import { debianNodePaths } from '../../patroni/config/paths';
import { UNISSUED, type OperatorTlsSecret } from '../../tls/secret-format';
import { localTlsFiles } from '../certificates';
import { LocalClusterError, oneLine } from '../errors';
import { writeFiles } from '../layout';
import { generatePassword, nodeAddress, POSTGRES_VERSION } from '../local-spec';
import { run } from '../exec';
import { startDetached, isRunning, signal, waitForExitOf, type ProcessRecord } from '../processes';
import { found, notYet, poll } from '../../ops/poll';
import type { AwsStandInConfig, StandInResourceStatus, StandInStack, StandInStackResource } from './aws-standin';
import { REHEARSAL_STACK_ID, REHEARSAL_STACK_NAME } from './rehearsal-names';
import { ROOT_VOLUME_TASKS_FILE } from './root-volume-tasks';
import type { RehearsalStack } from './rehearsal-stack';
import { containerInit, isNspawn, runInContainer, startContainer } from './container';
import { ensureRehearsalImage, type RehearsalImage } from './image';
import { mountOverlay, mountsUnder, overlayPaths, unmount } from './mounts';
import { BOOT_FINISHED, prepareNodeRoot, REPO_MOUNT, USER_DATA_UNIT } from './node-root';
import { makeRehearsalCertificates } from './rehearsal-ca';
import { attachVolume, createVolumeFile, detachVolumesUnder } from './volumes';
import { ensureStandInSsmAgent } from './ssm-agent-standin';

/** Where the stand-in answers the regional AWS endpoints, on the switch's bridge (as the VPC resolver's .2). */
export const API_ADDRESS_SUFFIX = 2;
export const IMDS_ADDRESS = '169.254.169.254';
/** The device the template attaches the data volume as. */
export const DATA_DEVICE = '/dev/sdf';
const VOLUME_BYTES = 8 * 1024 ** 3;
/**
 * The stack the stand-in's CloudFormation describes (JSON, a StandInStack), relative to the
 * cluster's directory. Replace it whole (write another file, rename it over this one): the
 * stand-in reads it for every call.
 */
export const CLOUDFORMATION_STACK_FILE = path.join('aws', 'cloudformation.json');
/** The SignalResource calls and wait condition signals the stand-in received (JSON lines; readRecordedSignals), relative to the cluster's directory. */
export const CLOUDFORMATION_SIGNALS_FILE = path.join('aws', 'cloudformation-signals.jsonl');

export interface BootedClusterState {
  imageRoot: string;
  repo: string;
  readonly region: string;
  readonly apiAddress: string;
  readonly standInConfig: string;
  readonly metricsFile: string;
  readonly requestLogFile: string;
  /** The rehearsal CA's certificate (PEM), trusted by every node. */
  caCertFile?: string;
  /** PostgreSQL parameters applied since `up` (`failover local apply --set-parameter`). */
  postgresParameters?: Record<string, string>;
  /** The version of the nodes' certificate secret the issuer wrote last (the template's NodeSecretVersion). */
  nodeSecretVersion: string;
  /** The template's `ClusterTls.issued({ rotation })` (undefined: the default). */
  certificateRotation?: string;
  /** The instances' machine image since `failover local apply --image` (undefined: REHEARSAL_IMAGE_ID). */
  imageId?: string;
  standIn?: ProcessRecord;
}

export interface BootedNodeState {
  instanceId: string;
  readonly volumeId: string;
  readonly volumeFile: string;
  /** The overlay: `root` (merged), `upper`, `work`. */
  readonly layerDir: string;
  /** The user data from the template, as the instance receives it (mode 0600). */
  readonly userDataFile: string;
  readonly consoleLog: string;
  nspawn?: ProcessRecord;
  /** Instances this node has had (1 + replacements). */
  instances: number;
  /** Root volumes its current instance has had (1 + replace-root-volume tasks; undefined: 1). */
  roots?: number;
}

export interface BootedPlan {
  readonly spec: ClusterSpec;
  readonly cluster: BootedClusterState;
  readonly nodes: Array<{ readonly name: string; readonly address: string; readonly dir: string; readonly boot: BootedNodeState }>;
  readonly standIn: AwsStandInConfig;
}

export function newInstanceId(): string {
  return `i-0${randomBytes(8).toString('hex')}`;
}

function replaceAll(text: string, values: Readonly<Record<string, string>>): string {
  return Object.entries(values).reduce((t, [placeholder, value]) => t.split(placeholder).join(value), text);
}

/**
 * Synthesizes the stack, writes each node's user data and the stand-in's configuration under
 * `dir`, and returns the cluster as the renderers see it (placeholders resolved as on the nodes).
 */
export async function planBootedCluster(options: {
  readonly clusterName: string;
  readonly nodeCount: number;
  readonly timing: ClusterTiming;
  readonly dir: string;
  readonly subnet: string;
  readonly subnetBase: string;
  /** The front's address: the load balancer's name resolves to it, and the database certificate names it. */
  readonly endpointAddress: string;
}): Promise<BootedPlan> {
  // Loaded here, not at the top: the operations runtime never loads aws-cdk-lib (see the dependency rule test).
  const { synthesizeRehearsalStack } = await import('./rehearsal-stack');
  const addresses = Array.from({ length: options.nodeCount }, (_, i) => nodeAddress(i));
  const nodeSecretVersion = randomUUID();
  const stack = synthesizeRehearsalStack({
    clusterName: options.clusterName,
    nodeAddresses: addresses,
    vpcCidr: options.subnet,
    timing: options.timing,
    endpointAddress: options.endpointAddress,
    nodeSecretVersion,
    ssmAgent: await ensureStandInSsmAgent(ssmAgentDir(options.dir)),
  });
  const passwords = {
    __SUPERUSER_PASSWORD__: generatePassword(),
    __REPLICATION_PASSWORD__: generatePassword(),
    __REWIND_PASSWORD__: generatePassword(),
    __REST_API_PASSWORD__: generatePassword(),
  };
  const values: Record<string, string> = { ...passwords, __CLUSTER_CIDR__: options.subnet, __AWS_REGION__: stack.region, __PROCESS_ROLE_ARN__: stack.processRoleArn };
  addresses.forEach((a, i) => (values[`__NODE${i}_ADDRESS__`] = a));
  const spec = JSON.parse(replaceAll(JSON.stringify(stack.spec), values)) as ClusterSpec;
  const leftover = JSON.stringify(spec).match(/__[A-Z0-9_]+__/);
  if (leftover) throw new LocalClusterError(`the synthesized cluster spec has a value the rehearsal does not know: ${leftover[0]}`);

  const secrets: Record<string, string> = {};
  const users = spec.credentials;
  secrets[stack.secretArns.superuser] = JSON.stringify({ username: users.superuser.username, password: passwords.__SUPERUSER_PASSWORD__ });
  secrets[stack.secretArns.replication] = JSON.stringify({ username: users.replication.username, password: passwords.__REPLICATION_PASSWORD__ });
  secrets[stack.secretArns.rewind] = JSON.stringify({ username: users.rewind.username, password: passwords.__REWIND_PASSWORD__ });
  secrets[stack.secretArns.restApi] = JSON.stringify({ username: users.restApi.username, password: passwords.__REST_API_PASSWORD__ });

  const apiAddress = `${options.subnetBase}.${API_ADDRESS_SUFFIX}`;
  const awsDir = path.join(options.dir, 'aws');
  fs.mkdirSync(awsDir, { recursive: true, mode: 0o700 });
  const held = new Map([stack.certificates.CaSecretArn, stack.certificates.NodeSecretArn, stack.certificates.OperatorSecretArn].map((arn) => [arn, UNISSUED]));
  // The nodes read theirs; the CA secret stays out of the stand-in (on AWS only the issuer's role reads it).
  secrets[stack.certificates.NodeSecretArn] = await runCertificateIssuer('Create', stack, nodeSecretVersion, held, options.dir);
  const nodes = stack.nodes.map((n) => {
    const dir = path.join(options.dir, n.name);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const userDataFile = path.join(dir, 'user-data');
    fs.writeFileSync(userDataFile, n.userData, { mode: 0o600 });
    const boot: BootedNodeState = {
      instanceId: newInstanceId(),
      volumeId: n.volumeId,
      volumeFile: path.join(dir, 'volume.img'),
      layerDir: path.join(dir, 'instance'),
      userDataFile,
      consoleLog: path.join(dir, 'console.log'),
      instances: 1,
    };
    return { name: n.name, address: n.address, dir, boot };
  });
  const cluster: BootedClusterState = {
    imageRoot: '',
    repo: '',
    region: stack.region,
    apiAddress,
    standInConfig: path.join(awsDir, 'stand-in.json'),
    metricsFile: path.join(awsDir, 'cloudwatch-metrics.jsonl'),
    requestLogFile: path.join(awsDir, 'requests.jsonl'),
    nodeSecretVersion,
  };
  const cloudFormationFile = path.join(options.dir, CLOUDFORMATION_STACK_FILE);
  const standIn: AwsStandInConfig = {
    region: stack.region,
    accountId: stack.account,
    roleName: stack.roleName,
    imds: { host: IMDS_ADDRESS, port: 80 },
    api: { host: apiAddress, port: 443 },
    instances: nodes.map((n, i) => ({ address: n.address, instanceId: n.boot.instanceId, availabilityZone: `${stack.region}${'abc'[i % 3]}`, imageId: stack.imageId })),
    secrets,
    secretVersions: { [stack.certificates.NodeSecretArn]: nodeSecretVersion },
    metricsFile: cluster.metricsFile,
    cloudFormationFile,
    signalsFile: path.join(options.dir, CLOUDFORMATION_SIGNALS_FILE),
    requestLogFile: cluster.requestLogFile,
    ssmAgentDir: ssmAgentDir(options.dir),
    processRoleArn: stack.processRoleArn,
    rootVolumeTasksFile: path.join(options.dir, ROOT_VOLUME_TASKS_FILE),
  };
  fs.writeFileSync(secretsFile(cluster), `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  publishStack(cloudFormationFile, stack, nodes.map((n) => n.boot.instanceId));
  return { spec: { ...spec, paths: debianNodePaths(POSTGRES_VERSION) }, cluster, nodes, standIn };
}

/** The stand-in SSM agent's package, signature and key (made once per cluster directory). */
export function ssmAgentDir(clusterDir: string): string {
  return path.join(clusterDir, 'aws', 'ssm-agent');
}

/** Where the issuer's three secrets are kept between its runs (the CA's among them: never served to a node). */
function issuerSecretsFile(clusterDir: string): string {
  return path.join(clusterDir, 'aws', 'certificate-secrets.json');
}

/**
 * Does what CloudFormation's call of the certificate custom resource does (the issuer's own code,
 * with the template's resolved properties) on the secrets in `held`, which it updates and keeps
 * in the cluster's directory; writes the operator's files where the local cluster's clients look
 * for them. Returns the nodes' secret as issued, at version `nodeSecretVersion`.
 */
export async function runCertificateIssuer(
  requestType: 'Create' | 'Update',
  stack: RehearsalStack,
  nodeSecretVersion: string,
  held: Map<string, string>,
  clusterDir: string,
): Promise<string> {
  const { issueIntoSecrets } = await import('../../tls/issue-into-secrets');
  const { certificates } = stack;
  const response = await issueIntoSecrets(
    { RequestType: requestType, PhysicalResourceId: `${stack.spec.clusterName}-certificates`, ResourceProperties: certificates },
    {
      get: async (arn) => held.get(arn) ?? '',
      put: async (arn, value) => {
        held.set(arn, value);
        return arn === certificates.NodeSecretArn ? nodeSecretVersion : randomUUID();
      },
    },
  );
  if (response.Data?.NodeSecretVersion !== nodeSecretVersion) throw new LocalClusterError("the certificate issuer did not report the nodes' secret version");
  fs.writeFileSync(issuerSecretsFile(clusterDir), `${JSON.stringify(Object.fromEntries(held), null, 2)}\n`, { mode: 0o600 });
  const operator = JSON.parse(held.get(certificates.OperatorSecretArn)!) as OperatorTlsSecret;
  const files = localTlsFiles(clusterDir);
  writeFiles([
    { path: files.caCert, content: operator.caCert, mode: 0o644 },
    { path: files.databaseCaCert, content: operator.databaseCaCert, mode: 0o644 },
    { path: files.operatorCert, content: operator.cert, mode: 0o644 },
    { path: files.operatorKey, content: operator.key, mode: 0o600 },
  ]);
  return held.get(certificates.NodeSecretArn)!;
}

/** The issuer's secrets as its last run left them. */
export function readIssuerSecrets(clusterDir: string): Map<string, string> {
  return new Map(Object.entries(JSON.parse(fs.readFileSync(issuerSecretsFile(clusterDir), 'utf8')) as Record<string, string>));
}

/** Replaces one secret's value as deployed (what setSecretsAvailable restores). */
export function replaceDeployedSecret(cluster: BootedClusterState, arn: string, value: string): void {
  const secrets = readSecrets(cluster);
  if (!(arn in secrets)) throw new LocalClusterError(`no deployed secret ${arn}`);
  fs.writeFileSync(secretsFile(cluster), `${JSON.stringify({ ...secrets, [arn]: value }, null, 2)}\n`, { mode: 0o600 });
}

/**
 * Writes what the stand-in's CloudFormation describes: each instance with its metadata (the
 * node's desired configuration), as a deploy of `stack` leaves it. Atomic: the stand-in reads the
 * file for every call.
 */
export function publishStack(file: string, stack: RehearsalStack, instanceIds: readonly string[]): void {
  const published: StandInStack = {
    stackName: REHEARSAL_STACK_NAME,
    stackId: REHEARSAL_STACK_ID,
    resources: Object.fromEntries(
      stack.nodes.map((n, i) => [n.logicalId, { type: 'AWS::EC2::Instance', physicalId: instanceIds[i], metadata: n.metadata }]),
    ),
  };
  writeStackFile(file, published);
}

/**
 * Sets the ResourceStatus the stand-in's CloudFormation answers for the node instances whose IDs
 * are given (every instance when left out), as a stack operation moves them: what a node's agent
 * reads about its own instance when it shuts down. `undefined` is the default again
 * (UPDATE_COMPLETE). Atomic, as publishStack; the metadata is left as published. Returns the
 * physical IDs it marked.
 */
export function setInstanceStatus(file: string, status: StandInResourceStatus | undefined, instanceIds?: readonly string[]): string[] {
  const stack = JSON.parse(fs.readFileSync(file, 'utf8')) as StandInStack;
  const mine = (physicalId: string) => instanceIds === undefined || instanceIds.includes(physicalId);
  const marked: string[] = [];
  const resources = Object.fromEntries(
    Object.entries(stack.resources).map(([logicalId, r]) => {
      if (r.type !== 'AWS::EC2::Instance' || !mine(r.physicalId)) return [logicalId, r];
      marked.push(r.physicalId);
      const changed: StandInStackResource = { type: r.type, physicalId: r.physicalId, ...(r.metadata !== undefined ? { metadata: r.metadata } : {}), ...(status ? { status } : {}) };
      return [logicalId, changed];
    }),
  );
  writeStackFile(file, { ...stack, resources });
  return marked;
}

/**
 * A replaced node's new instance ID as its resource's physical ID, as CloudFormation records a
 * replacement (else a later status set by instance ID misses it). No stack file: nothing to do.
 */
export function setInstancePhysicalId(file: string, from: string, to: string): void {
  if (!fs.existsSync(file)) return;
  const stack = JSON.parse(fs.readFileSync(file, 'utf8')) as StandInStack;
  const resources = Object.fromEntries(
    Object.entries(stack.resources).map(([logicalId, r]) => [logicalId, r.type === 'AWS::EC2::Instance' && r.physicalId === from ? { ...r, physicalId: to } : r]),
  );
  writeStackFile(file, { ...stack, resources });
}

/**
 * Teardown's first step on a booted cluster: the stand-in's CloudFormation says the stack deletes
 * every instance (DELETE_IN_PROGRESS), so a node that shuts down does not drain. A missing stack
 * file (a processes cluster, a boot that never got that far) is nothing to do; a broken one is
 * logged and left.
 */
export function markStackDeleting(dir: string, log: (line: string) => void): void {
  const file = path.join(dir, CLOUDFORMATION_STACK_FILE);
  if (!fs.existsSync(file)) return;
  try {
    setInstanceStatus(file, 'DELETE_IN_PROGRESS');
  } catch (err) {
    log(`ignoring the stand-in's stack file ${file}: ${oneLine(err)}`);
  }
}

/** Another file renamed over the stack file: the stand-in, which reads it for every call, never sees half of one. */
function writeStackFile(file: string, stack: StandInStack): void {
  const next = `${file}.next`;
  fs.writeFileSync(next, `${JSON.stringify(stack, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(next, file);
}

/** The regional endpoints a node calls, which its /etc/hosts points at the stand-in. */
export function endpointHostNames(region: string): string[] {
  return [
    `secretsmanager.${region}.amazonaws.com`,
    `monitoring.${region}.amazonaws.com`,
    `cloudformation.${region}.amazonaws.com`,
    // The credential broker assumes the process role (AWS_STS_REGIONAL_ENDPOINTS=regional).
    `sts.${region}.amazonaws.com`,
    // The wait condition handles' presigned S3 URLs.
    `cloudformation-waitcondition-${region}.s3.${region}.amazonaws.com`,
    // The SSM agent's regional distribution (a public bucket, path-style).
    `s3.${region}.amazonaws.com`,
    // An image change: the node agent replaces its own root volume (CreateReplaceRootVolumeTask).
    `ec2.${region}.amazonaws.com`,
  ];
}

/** Image, repository and certificates; the stand-in's configuration with its certificate. */
export async function prepareBootedCluster(
  plan: BootedPlan,
  dir: string,
  log: (line: string) => void,
): Promise<{ image: RehearsalImage; caCertFile: string; standIn: AwsStandInConfig }> {
  const image = await ensureRehearsalImage(nodePackages(POSTGRES_VERSION), undefined, log);
  const certs = await makeRehearsalCertificates(path.join(dir, 'aws', 'ca'), endpointHostNames(plan.cluster.region));
  const standIn = { ...plan.standIn, api: { ...plan.standIn.api, certFile: certs.serverCert, keyFile: certs.serverKey } };
  return { image, caCertFile: certs.caCert, standIn };
}

/** The secrets as deployed (the stand-in's configuration may hold none: setSecretsAvailable). */
export function readSecrets(cluster: BootedClusterState): Record<string, string> {
  return JSON.parse(fs.readFileSync(secretsFile(cluster), 'utf8')) as Record<string, string>;
}

function secretsFile(cluster: BootedClusterState): string {
  return path.join(path.dirname(cluster.standInConfig), 'secrets.json');
}

/** The stand-in's configuration as last written. */
export function readStandInConfig(cluster: BootedClusterState): AwsStandInConfig {
  return JSON.parse(fs.readFileSync(cluster.standInConfig, 'utf8')) as AwsStandInConfig;
}

function standInCommand(configFile: string): { argv: string[]; cwd: string } {
  return entryCommand(__dirname, 'aws-standin-main', [configFile]);
}

/** Whether `pid` is a stand-in (a recorded PID may have been reused by another program). */
function isStandIn(pid: number): boolean {
  try {
    return isRunning(pid) && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('aws-standin-main');
  } catch {
    return false;
  }
}

/**
 * (Re)writes the stand-in's configuration and starts it in the switch namespace; returns once it
 * listens (or throws with its own last line).
 */
export async function startStandIn(config: AwsStandInConfig, cluster: BootedClusterState, switchNamespace: string, dir: string): Promise<ProcessRecord> {
  const old = cluster.standIn;
  if (old && isStandIn(old.pid)) {
    signal(old.pid, 'SIGTERM');
    if ((await waitForExitOf([old.pid], 5000)).length) signal(old.pid, 'SIGKILL');
    if ((await waitForExitOf([old.pid], 5000)).length) throw new LocalClusterError(`the AWS stand-in (pid ${old.pid}) did not exit`);
  }
  fs.writeFileSync(cluster.standInConfig, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  const logFile = path.join(dir, 'aws', 'stand-in.log');
  const from = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
  const record = await startDetached({ namespace: switchNamespace, ...standInCommand(cluster.standInConfig), logFile });
  const output = () => fs.readFileSync(logFile, 'utf8').slice(from);
  await poll(
    'the AWS stand-in to listen',
    async () => {
      if (output().includes('aws stand-in listening')) return found(true);
      if (!isRunning(record.pid)) throw new LocalClusterError(`the AWS stand-in exited: ${output().trim().split('\n').pop() ?? 'no output'}`);
      return notYet('not listening yet');
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  return record;
}

/** The bridge's extra addresses (API, IMDS) and each node's on-link route to IMDS. */
export async function addStandInNetwork(switchNamespace: string, bridge: string, apiAddress: string, prefixLength: number, nodeNamespaces: readonly string[], nodeInterface: string): Promise<void> {
  await run('ip', ['-n', switchNamespace, 'addr', 'add', `${apiAddress}/${prefixLength}`, 'dev', bridge], { timeoutMs: 10_000 });
  await run('ip', ['-n', switchNamespace, 'addr', 'add', `${IMDS_ADDRESS}/32`, 'dev', bridge], { timeoutMs: 10_000 });
  for (const ns of nodeNamespaces) await addImdsRoute(ns, nodeInterface);
}

/** The node's on-link route to IMDS; again after its link was down (a link going down drops its routes). */
export async function addImdsRoute(namespace: string, nodeInterface: string): Promise<void> {
  await run('ip', ['-n', namespace, 'route', 'replace', `${IMDS_ADDRESS}/32`, 'dev', nodeInterface], { timeoutMs: 10_000 });
}

/** Mounts the node's instance layer (a fresh one if `fresh`), writes EC2's side into it and boots it. */
export async function bootNode(
  node: { readonly name: string; readonly address: string; readonly namespace: string; readonly boot: BootedNodeState },
  context: { readonly clusterName: string; readonly cluster: BootedClusterState; readonly attachVolume: boolean },
  fresh: boolean,
): Promise<ProcessRecord> {
  const layer = overlayPaths(node.boot.layerDir);
  if (fresh) {
    await unmount(layer.root);
    fs.rmSync(node.boot.layerDir, { recursive: true, force: true });
  }
  const c = context.cluster;
  const overlay = await mountOverlay(c.imageRoot, node.boot.layerDir);
  if (fresh) {
    prepareNodeRoot(overlay.root, {
      instanceId: node.boot.instanceId,
      address: node.address,
      userData: fs.readFileSync(node.boot.userDataFile, 'utf8'),
      endpoints: { address: c.apiAddress, hostNames: endpointHostNames(c.region) },
      caCertificate: fs.readFileSync(c.caCertFile!, 'utf8'),
    });
  }
  createVolumeFile(node.boot.volumeFile, VOLUME_BYTES);
  const device = await attachVolume(node.boot.volumeFile);
  return startContainer({
    machine: `cdkfo-${context.clusterName}-${node.name}`.slice(0, 64),
    root: overlay.root,
    namespace: node.namespace,
    // Under the attachment's name, and under its own (mount resolves UUID= through /proc/partitions).
    devices: context.attachVolume ? [`${device}:${DATA_DEVICE}`, device] : [],
    readOnlyBinds: [`${c.repo}:${REPO_MOUNT}`],
    logFile: node.boot.consoleLog,
  });
}

/**
 * Where a node's user data is: 'done' (or skipped: already run for this instance), 'running', or 'failed' with the unit's last journal line
 * (the line an operator reads first).
 */
export async function userDataState(init: number): Promise<{ readonly state: 'done' | 'running' | 'failed'; readonly line?: string }> {
  const r = await runInContainer(init, ['systemctl', 'show', '--property=ActiveState,Result,ConditionResult,ConditionTimestampMonotonic', USER_DATA_UNIT], { allowFailure: true, timeoutMs: 10_000 });
  const props = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
  if (props.ActiveState === 'active') return { state: 'done' };
  // Already run for this instance (a reboot): the semaphore's condition skipped it. Did that run succeed?
  if (props.ConditionResult === 'no' && Number(props.ConditionTimestampMonotonic) > 0) {
    const finished = await runInContainer(init, ['test', '-e', BOOT_FINISHED], { allowFailure: true, timeoutMs: 10_000 });
    return finished.code === 0 ? { state: 'done' } : { state: 'failed', line: `the user data failed on an earlier boot of this instance (no ${BOOT_FINISHED})` };
  }
  if (props.ActiveState !== 'failed') return { state: 'running' };
  // The script's own last line (systemd's "Failed to start" about the unit is not its output).
  const journal = await runInContainer(init, ['journalctl', '--no-pager', '--output=cat', '--lines=1', `_SYSTEMD_UNIT=${USER_DATA_UNIT}`], {
    allowFailure: true,
    timeoutMs: 10_000,
  });
  return { state: 'failed', line: journal.stdout.trim().split('\n').pop() || `the unit failed (${props.Result ?? 'no result'})` };
}

/** Teardown's share: containers stopped, overlays unmounted, loop devices detached. */
export async function releaseBootedResources(dir: string, recordedPids: readonly number[], log: (line: string) => void): Promise<void> {
  // A PID recorded before this machine rebooted may belong to another program now.
  const nspawnPids = recordedPids.filter(isNspawn);
  for (const pid of nspawnPids) {
    const init = containerInit(pid);
    if (init) signal(init, 'SIGKILL');
    signal(pid, 'SIGTERM');
  }
  const stubborn = await waitForExitOf(nspawnPids, 15_000);
  for (const pid of stubborn) signal(pid, 'SIGKILL');
  const mounts = mountsUnder(dir);
  for (const m of mounts) await unmount(m);
  const loops = await detachVolumesUnder(dir);
  if (mounts.length || loops.length) log(`unmounted ${mounts.length} node roots, detached ${loops.length} volumes`);
}
