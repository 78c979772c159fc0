// The booted rehearsal runs the user data CloudFormation would hand each instance: a stack with a
// real PatroniCluster is synthesized, and each instance's UserData is read from the template with
// the values CloudFormation resolves at deploy time (addresses, ARNs, volume IDs) filled in.
// Nothing here renders the node script itself.
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { ClusterSpec, ClusterTiming } from '../../patroni/config/spec';
import { PatroniCluster } from '../../patroni/patroni-cluster';
import { ClusterTls } from '../../patroni/cluster-tls';
import { WatchdogMode } from '../../patroni/modes';
import { PatroniTiming } from '../../patroni/timing';
import type { SsmAgentProps } from '../../patroni/ssm-agent';
import type { CertificateResourceProperties } from '../../tls/issue-into-secrets';
import { LocalClusterError } from '../errors';
import { REHEARSAL_ACCOUNT, REHEARSAL_IMAGE_ID, REHEARSAL_REGION, REHEARSAL_STACK_ID, REHEARSAL_STACK_NAME, rehearsalWaitHandleUrl } from './rehearsal-names';

export { REHEARSAL_ACCOUNT, REHEARSAL_IMAGE_ID, REHEARSAL_REGION } from './rehearsal-names';

/** PostgreSQL parameters the rehearsal always sets: five PostgreSQL servers share one small machine. */
export const REHEARSAL_POSTGRES_PARAMETERS: Readonly<Record<string, string>> = { shared_buffers: '64MB' };
/** How long a rehearsal node's first boot waits for its volume (PatroniCluster's volumeAttachmentTimeout). */
export const REHEARSAL_VOLUME_ATTACHMENT_TIMEOUT = Duration.seconds(60);

export interface RehearsalStackOptions {
  readonly clusterName: string;
  readonly nodeAddresses: readonly string[];
  readonly vpcCidr: string;
  readonly timing: ClusterTiming;
  /** Beyond REHEARSAL_POSTGRES_PARAMETERS (which these override). @default - none */
  readonly postgresParameters?: Readonly<Record<string, string>>;
  /** What the load balancer's DNS name resolves to here (the front's address): the database certificate names it. */
  readonly endpointAddress: string;
  /** The version ID the certificate issuer's put of the nodes' secret is to get (its NodeSecretVersion). */
  readonly nodeSecretVersion: string;
  /** `ClusterTls.issued({ rotation })`. @default '0' (the construct's default) */
  readonly certificateRotation?: string;
  /** The stand-in SSM agent's signing key (ssm-agent-standin.ts), pinned as a user pins AWS's. */
  readonly ssmAgent: SsmAgentProps;
  /** The instances' machine image (an image change replaces each node's root volume). @default REHEARSAL_IMAGE_ID */
  readonly imageId?: string;
}


/** What the rehearsal stands in for CloudFormation: one instance's identity and user data. */
export interface RehearsalNode {
  readonly name: string;
  readonly address: string;
  /** The EBS volume ID the template gives this node's data volume. */
  readonly volumeId: string;
  /** The instance's UserData, decoded, every deploy-time value resolved. */
  readonly userData: string;
  /** The instance resource's logical ID. */
  readonly logicalId: string;
  /** The instance's Metadata (the node's desired configuration), every deploy-time value resolved. */
  readonly metadata: unknown;
}

export interface RehearsalStack {
  readonly nodes: RehearsalNode[];
  /** Secret ARN -> the secret's JSON SecretString, as Secrets Manager would generate it. */
  readonly secretArns: { readonly superuser: string; readonly replication: string; readonly rewind: string; readonly restApi: string };
  /** The cluster's spec, placeholders still in (passwords, addresses, CIDR, region). */
  readonly spec: ClusterSpec;
  readonly region: string;
  readonly account: string;
  readonly roleName: string;
  /** The process role's ARN (the credential broker assumes it for postgres). */
  readonly processRoleArn: string;
  /** The logical ID of the wait condition handle of this configuration's generation. */
  readonly waitHandle: string;
  /** The certificate custom resource's properties as CloudFormation would send them, every deploy-time value resolved. */
  readonly certificates: CertificateResourceProperties;
  /** The instances' machine image. */
  readonly imageId: string;
}

type Cfn = Record<string, unknown>;

/** The timing a local profile names, as the construct takes it. */
function patroniTiming(t: ClusterTiming): PatroniTiming {
  return PatroniTiming.custom({
    ttl: Duration.seconds(t.ttlSeconds),
    loopWait: Duration.seconds(t.loopWaitSeconds),
    retryTimeout: Duration.seconds(t.retryTimeoutSeconds),
    haproxyCheckInterval: Duration.millis(t.haproxyCheckIntervalMs),
    haproxyFall: t.haproxyFall,
    haproxyRise: t.haproxyRise,
    etcdHeartbeatInterval: Duration.millis(t.etcdHeartbeatMs),
    etcdElectionTimeout: Duration.millis(t.etcdElectionTimeoutMs),
  });
}

/** A volume ID of EC2's shape (vol- and 17 hex digits), fixed per node. */
export function rehearsalVolumeId(index: number): string {
  return `vol-0ca7f00d${index.toString(16).padStart(9, '0')}`;
}

/**
 * Synthesizes a stack with one PatroniCluster and returns each node's user data as EC2 would run
 * it. The rehearsal machine has no softdog, so the cluster is synthesized with the watchdog off.
 */
export function synthesizeRehearsalStack(options: RehearsalStackOptions): RehearsalStack {
  const imageId = options.imageId ?? REHEARSAL_IMAGE_ID;
  const app = new App();
  const stack = new Stack(app, 'Rehearsal', { env: { account: REHEARSAL_ACCOUNT, region: REHEARSAL_REGION } });
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    availabilityZones: ['a', 'b', 'c'].map((z) => `${REHEARSAL_REGION}${z}`),
    natGateways: 1,
  });
  const cluster = new PatroniCluster(stack, 'Database', {
    vpc,
    clusterName: options.clusterName,
    nodes: options.nodeAddresses.length,
    timing: patroniTiming(options.timing),
    watchdog: WatchdogMode.OFF,
    // The image is the rehearsal's own: no lookup (the default would look it up in the account).
    machineImage: ec2.MachineImage.genericLinux({ [REHEARSAL_REGION]: imageId }),
    postgresParameters: { ...REHEARSAL_POSTGRES_PARAMETERS, ...options.postgresParameters },
    // A loop device is attached at once or never: the rehearsal's volume-missing drill need not wait 5 minutes.
    volumeAttachmentTimeout: REHEARSAL_VOLUME_ATTACHMENT_TIMEOUT,
    tls: ClusterTls.issued({ rotation: options.certificateRotation }),
    // The rehearsal's tools (switchover drills, the CLI) run at the front's address, as an operator's would.
    operatorCidrs: [`${options.endpointAddress}/32`],
    ssmAgent: options.ssmAgent,
  });
  Validations.of(stack).acknowledge({
    id: 'CloudFormation-Validate::W9010',
    reason: 'The rehearsal never launches an image: the AMI ID only fills the template.',
  });
  const template = app.synth().getStackByName(stack.stackName).template as {
    Resources: Record<string, { Type: string; Properties?: Cfn; Metadata?: Cfn }>;
  };
  const id = (c: { node: { defaultChild?: unknown } } | unknown) => stack.getLogicalId(c as never);

  const secretIds = {
    superuser: id(cluster.superuserSecret.node.defaultChild),
    replication: id(cluster.replicationSecret.node.defaultChild),
    rewind: id(cluster.rewindSecret.node.defaultChild),
    restApi: id(cluster.restApiSecret.node.defaultChild),
  };
  const arn = (logicalId: string) => `arn:aws:secretsmanager:${REHEARSAL_REGION}:${REHEARSAL_ACCOUNT}:secret:${logicalId}-Rh3a5l`;
  const refs = new Map<string, string>();
  for (const logicalId of Object.values(secretIds)) refs.set(logicalId, arn(logicalId));
  const atts = new Map<string, string>([[`${id(vpc.node.defaultChild)}.CidrBlock`, options.vpcCidr]]);
  cluster.nodes.forEach((node, i) => {
    atts.set(`${id(node.networkInterface)}.PrimaryPrivateIpAddress`, options.nodeAddresses[i]);
    refs.set(id(node.dataVolume.node.defaultChild), rehearsalVolumeId(i));
  });
  atts.set(`${id(cluster.loadBalancer.node.defaultChild)}.DNSName`, options.endpointAddress);
  const processRoleArn = `arn:aws:iam::${REHEARSAL_ACCOUNT}:role/Rehearsal-${id(cluster.processRole.node.defaultChild)}`;
  atts.set(`${id(cluster.processRole.node.defaultChild)}.Arn`, processRoleArn);
  const issuers = Object.keys(template.Resources).filter((k) => template.Resources[k].Type === 'Custom::CdkFailoverCertificates');
  if (issuers.length !== 1) throw new LocalClusterError(`the synthesized template has ${issuers.length} certificate issuers, not 1`);
  const issuer = template.Resources[issuers[0]].Properties ?? {};
  for (const key of ['CaSecretArn', 'NodeSecretArn', 'OperatorSecretArn']) {
    const ref = (issuer[key] as { Ref?: string } | undefined)?.Ref;
    if (typeof ref !== 'string') throw new LocalClusterError(`the certificate issuer's ${key} is not a secret's Ref`);
    refs.set(ref, arn(ref));
  }
  atts.set(`${issuers[0]}.NodeSecretVersion`, options.nodeSecretVersion);
  const handles = Object.keys(template.Resources).filter((k) => template.Resources[k].Type === 'AWS::CloudFormation::WaitConditionHandle');
  if (handles.length !== 1) throw new LocalClusterError(`the synthesized template has ${handles.length} wait condition handles, not 1`);
  refs.set(handles[0], rehearsalWaitHandleUrl(handles[0]));
  const pseudo: Record<string, string> = {
    'AWS::StackName': REHEARSAL_STACK_NAME,
    'AWS::StackId': REHEARSAL_STACK_ID,
    'AWS::Region': REHEARSAL_REGION,
    'AWS::AccountId': REHEARSAL_ACCOUNT,
    'AWS::Partition': 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
  };
  const resolve = (value: unknown, where: string): string => resolveIntrinsic(value, where, { refs, atts, pseudo });

  // What the Provider framework passes on to the function: the properties without its ServiceToken.
  const request = Object.fromEntries(Object.entries(issuer).filter(([key]) => key !== 'ServiceToken'));
  const properties = resolveDeep(request, `${issuers[0]}.Properties`, { refs, atts, pseudo }) as unknown as CertificateResourceProperties;

  const nodes = cluster.nodes.map((node, i): RehearsalNode => {
    const logicalId = id(node.instance.node.defaultChild);
    const resource = template.Resources[logicalId];
    const userData = resource?.Properties?.UserData;
    if (userData === undefined) throw new LocalClusterError(`the synthesized template has no UserData for ${logicalId}`);
    return {
      name: cluster.spec.nodes[i].name,
      address: options.nodeAddresses[i],
      volumeId: rehearsalVolumeId(i),
      userData: resolve(userData, `${logicalId}.UserData`),
      logicalId,
      metadata: resolveDeep(resource.Metadata ?? {}, `${logicalId}.Metadata`, { refs, atts, pseudo }),
    };
  });
  return {
    nodes,
    secretArns: {
      superuser: arn(secretIds.superuser),
      replication: arn(secretIds.replication),
      rewind: arn(secretIds.rewind),
      restApi: arn(secretIds.restApi),
    },
    spec: cluster.spec,
    region: REHEARSAL_REGION,
    account: REHEARSAL_ACCOUNT,
    roleName: `Rehearsal-${id(cluster.nodeRole.node.defaultChild)}`,
    processRoleArn,
    waitHandle: handles[0],
    certificates: properties,
    imageId,
  };
}

interface Resolutions {
  readonly refs: ReadonlyMap<string, string>;
  readonly atts: ReadonlyMap<string, string>;
  readonly pseudo: Readonly<Record<string, string>>;
}

const INTRINSIC = /^(Ref|Fn::[A-Za-z]+)$/;

/** A JSON value (metadata) with every intrinsic function in it resolved by resolveIntrinsic. */
export function resolveDeep(value: unknown, where: string, r: Resolutions): unknown {
  if (Array.isArray(value)) return value.map((v, i) => resolveDeep(v, `${where}[${i}]`, r));
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Cfn);
    if (entries.length === 1 && INTRINSIC.test(entries[0][0])) return resolveIntrinsic(value, where, r);
    return Object.fromEntries(entries.map(([k, v]) => [k, resolveDeep(v, `${where}.${k}`, r)]));
  }
  return value;
}

/**
 * Resolves the intrinsic functions user data can hold (Fn::Base64, Fn::Join, Ref, Fn::GetAtt) to
 * what CloudFormation would produce; anything else is refused, so a template that grows a value
 * the rehearsal cannot know fails loudly instead of booting with a wrong one.
 */
export function resolveIntrinsic(value: unknown, where: string, r: Resolutions): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Cfn);
    if (entries.length === 1) {
      const [fn, arg] = entries[0];
      if (fn === 'Fn::Base64') return resolveIntrinsic(arg, where, r);
      if (fn === 'Fn::Join' && Array.isArray(arg) && typeof arg[0] === 'string' && Array.isArray(arg[1])) {
        return (arg[1] as unknown[]).map((part) => resolveIntrinsic(part, where, r)).join(arg[0]);
      }
      if (fn === 'Ref' && typeof arg === 'string') {
        const resolved = r.pseudo[arg] ?? r.refs.get(arg);
        if (resolved !== undefined) return resolved;
      }
      if (fn === 'Fn::GetAtt' && Array.isArray(arg) && arg.length === 2) {
        const resolved = r.atts.get(`${String(arg[0])}.${String(arg[1])}`);
        if (resolved !== undefined) return resolved;
      }
    }
  }
  throw new LocalClusterError(`${where}: the rehearsal cannot resolve ${JSON.stringify(value)} (only the node addresses, secret ARNs, volume IDs, wait condition handle, VPC CIDR, load balancer name, certificates' version, process role, stack and region)`);
}
