import { Annotations, Aws, CfnWaitCondition, CfnWaitConditionHandle, ContextProvider, Duration, Fn, Names, RemovalPolicy, Size, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cxschema from 'aws-cdk-lib/cloud-assembly-schema';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as elbv2Targets from 'aws-cdk-lib/aws-elasticloadbalancingv2-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { bundleGeneration, ClusterSpec, HAPROXY_HEALTH_PATHS, packBundle, renderNodeBundle, PGBACKREST_TLS_PORT, SESSION_IDLE_TIMEOUT_SECONDS } from './config';
import { createBackupResources, grantFenceWrite, PatroniBackupProps } from './backup';
import { aptProxyPort } from './config/apt-proxy';
import { checkLiteralCidr } from './config/pg-hba';
import { ChangeGuard } from './change-guard';
import { CertificateIssuer, DEFAULT_CERTIFICATE_VALIDITY, issuerSettings } from './certificate-issuer';
import { ClusterTls } from './cluster-tls';
import { SsmAgentProps, ssmAgentSpec } from './ssm-agent';
import { checkReplicaRegions, checkStandbyOf, checkStandbyStreaming, DatabaseSecrets, PRIMARY_DATABASE_CA, StandbyStreaming, withStreaming } from './standby';
import { NodeEgress } from './egress';
import { SynchronousMode, WatchdogMode } from './modes';
import { ClusterEndpoint } from './endpoint';
import {
  clusterMetricsNamespace,
  clusterNodeName,
  DEFAULT_REPLICA_MAX_LAG,
  ImportedPatroniCluster,
  IPatroniCluster,
  PatroniClusterAttributes,
  PatroniClusterBase,
  BackupLimits,
} from './patroni-cluster-base';
import { PatroniNode } from './patroni-node';
import { grantRootVolumeReplacement } from './root-volume';
import { NODE_METADATA_KEY, renderUserData } from './user-data';
import { CLUSTER_PORTS, validateClusterProps } from './validation';
import { PatroniTiming } from './timing';
import { clusterOutputValues } from './cluster-outputs';
import { addFailoverOutputs } from '../util/failover-outputs';
import { PATRONI_CLUSTER_OUTPUTS } from '../util/output-contract';

/** The image ID a synth uses until the lookup of the default image is in cdk.context.json (never deployed: the CLI looks it up first). */
const IMAGE_LOOKUP_PLACEHOLDER = 'ami-00000000000000000';

/** Properties of a PatroniCluster. */
export interface PatroniClusterProps {
  /** The VPC the nodes and the internal load balancer go in. */
  readonly vpc: ec2.IVpc;

  /**
   * Subnets for the nodes, one AZ per node where possible (node i goes to subnet i mod n).
   * @default - the VPC's private subnets with egress (the nodes install Debian packages at boot)
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * Number of nodes: 3 (survives the loss of one) or 5 (survives two). etcd runs on every node,
   * so an even count adds no tolerance and 1 or 2 tolerate none. Fixed for the cluster's life (as
   * are `clusterName` and each node's subnet): synth cannot see the deployed count, so the deploy
   * refuses it. The cluster's change guard (a custom resource every other resource of the
   * cluster waits for) fails the update at its start with the deployed and the asked-for
   * members, before anything in the cluster changes, and CloudFormation rolls back. To resize,
   * deploy a new cluster as a standby of this one (`standbyOf`) and promote it.
   * @default 3
   */
  readonly nodes?: number;

  /**
   * Instance type of every node. A new type is rolled out by CloudFormation stopping and starting
   * the nodes; each node's shutdown drains it under the cluster's lock, so they go down one at a
   * time, the leader last, and the deploy waits until every node runs again. A type of another
   * architecture changes the default image, which the change guard refuses. On a cluster deployed
   * with an earlier library version, deploy once with the deployed type first (the guard says so).
   * @default m7i.large
   */
  readonly instanceType?: ec2.InstanceType;

  /**
   * Machine image. Must be Debian 12: the bootstrap installs Debian's packages, and EC2 replaces a
   * root volume only from an image of the instance's architecture. A changed image replaces no
   * instance (each keeps the image it was launched with as its ImageId): it reaches the nodes in
   * their configuration, and each node in turn, replicas first and the leader last after a
   * switchover, has EC2 replace its root volume from the new image (same instance, address and
   * data volume) and boots again from its user data; the deploy waits until every node runs it.
   * On a cluster deployed with an earlier library version, deploy once with the deployed image
   * first (the change guard says so).
   * @default - Debian 12 from the public SSM parameter /aws/service/debian/release/12/latest/<arch>.
   * In a stack whose account and region are known at synth, it is looked up once and kept in
   * cdk.context.json (commit that file): a new Debian image changes nothing. Resetting that key
   * (`cdk context --reset`) on a deployed cluster finds the newest image, which the next deploy
   * rolls out. In an environment-agnostic stack it is resolved at every deploy, with a synth
   * warning; pin it there: `MachineImage.genericLinux({ region: 'ami-...' })` with the ID that
   * `aws ssm get-parameter --name <that parameter>` gives
   */
  readonly machineImage?: ec2.IMachineImage;

  /**
   * Size of each node's encrypted gp3 data volume.
   * @default Size.gibibytes(100)
   */
  readonly dataVolumeSize?: Size;

  /**
   * Failure detection timing.
   * @default PatroniTiming.DEFAULT
   */
  readonly timing?: PatroniTiming;

  /**
   * Synchronous replication mode.
   * @default SynchronousMode.ON
   */
  readonly synchronousMode?: SynchronousMode;

  /**
   * A replica further behind than this is never promoted (Patroni's maximum_lag_on_failover).
   * @default Size.mebibytes(1)
   */
  readonly maximumLagOnFailover?: Size;

  /**
   * The reader endpoint drops replicas further behind than this.
   * @default Size.mebibytes(16)
   */
  readonly replicaMaxLag?: Size;

  /**
   * Watchdog fencing. REQUIRED loads softdog at boot and makes Patroni refuse to lead without it.
   * @default WatchdogMode.REQUIRED
   */
  readonly watchdog?: WatchdogMode;

  /**
   * Extra PostgreSQL parameters. Those Patroni or this construct manage (synchronous_standby_names,
   * hot_standby, listen_addresses, port, wal_level...) are refused.
   * @default - none beyond the replication settings
   */
  readonly postgresParameters?: Record<string, string>;

  /**
   * Patroni scope and etcd key prefix: lowercase letters, digits and hyphens, at most 63.
   * @default - derived from the construct's path
   */
  readonly clusterName?: string;

  /**
   * Termination protection of the nodes' instances (EC2 `disableApiTermination`). Turn it off
   * before `cdk destroy` (deploy once with `false`, then destroy): CloudFormation cannot terminate
   * a protected instance. Changing it updates the instances in place, without a restart.
   * @default true
   */
  readonly deletionProtection?: boolean;

  /**
   * What `cdk destroy` (or removing the cluster from the stack) does to its data: the nodes' data
   * volumes take this policy; the four password secrets and, with TLS, the three certificate
   * secrets (the CAs among them) are kept unless it is `DESTROY` (with `SNAPSHOT` they are retained,
   * because the roles in a snapshot still have their passwords, and its nodes trust the CAs). Changing it changes
   * only the resources' DeletionPolicy and UpdateReplacePolicy: nothing is updated or replaced.
   * The backup bucket and its key are always retained.
   * @default RemovalPolicy.SNAPSHOT
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Stack outputs with the cluster name, endpoints, secret ARNs, metrics namespace, node instance
   * IDs and addresses, described `cdk-failover:PatroniCluster:<path>:<key>`: what `failover status
   * --stack` and the runbook read. Without them, pass `--patroni-url` and `--writer-uri` to the CLI;
   * a template holds at most 200 outputs. Turning them off or on only adds or removes outputs:
   * nothing is replaced.
   * @default true
   */
  readonly outputs?: boolean;

  /**
   * Continuous WAL archiving and scheduled backups with pgBackRest into S3; replicas are made from
   * the latest backup; optionally, the cluster is restored from another cluster's backups. Adding
   * it to a deployed cluster rolls out like any change (archive_mode needs a rolling restart: one
   * switchover). Removing it turns archiving off the same way; the repository is kept.
   * @default - no backups
   */
  readonly backup?: PatroniBackupProps;

  /**
   * Make this a standby cluster of another (regional recovery): its first node is restored from
   * the primary's newest backup and replays the WAL the primary archives; its other nodes stream
   * from it; it takes no writes and no backups until `failover promote` makes it a primary. Needs
   * `backup.bucket` (the bucket holding the primary's repository in this region: the primary's
   * `backup.secondaryRepository`) and `databaseSecrets` (the primary's). Read at the first boot
   * only: changing or removing it on a deployed cluster neither promotes nor demotes it.
   * @default - a primary cluster
   */
  readonly standbyOf?: IPatroniCluster;

  /**
   * With `standbyOf`: stream from the primary's writer endpoint as well, across a link you build
   * (peering or a transit gateway). What a loss of the primary's region loses drops from about an
   * `archiveTimeout` to what had not crossed the link. No replication slot is used: a standby that
   * falls behind the primary's `wal_keep_size` catches up from the repository. Adding, changing or
   * removing it on a running standby rolls out like any change (Patroni's `standby_cluster` host
   * and port, no restart); after the promotion it changes nothing.
   * @default - the repository only
   */
  readonly standbyStreaming?: StandbyStreaming;

  /**
   * The database roles' secrets, instead of new ones: a standby cluster's primary's, replicated
   * into this region. Keep them after a promotion: the roles' passwords are these.
   * @default - new secrets
   */
  readonly databaseSecrets?: DatabaseSecrets;

  /**
   * Regions the database roles' secrets it creates are replicated into (Secrets Manager replicas,
   * same name and suffix): a standby cluster there reads them as its `databaseSecrets`. Not with
   * `databaseSecrets` (replicate your own secrets yourself).
   * @default - no replicas
   */
  readonly databaseSecretReplicaRegions?: string[];

  /**
   * How the nodes reach the AWS APIs (Secrets Manager, CloudWatch, CloudFormation, S3) and Debian's
   * archive. `NodeEgress.private(...)` allows only the given VPC endpoints and package proxy, and
   * sets apt's proxy on the nodes. A change is in place: the security group's rules change, and
   * the running nodes' agents rewrite apt's proxy file (no restart).
   * @default NodeEgress.internet() - HTTPS and HTTP to any address, through the VPC's NAT gateway
   */
  readonly egress?: NodeEgress;

  /**
   * How long a new node's first boot waits for its data volume to be attached. Past it, the boot
   * fails with one line naming the volume, and the deploy fails. Only first boots read it: a
   * change reaches the running nodes as a rollout that has nothing to do (no instance changes).
   * From 30 seconds to 10 minutes, whole seconds.
   * @default Duration.minutes(5)
   */
  readonly volumeAttachmentTimeout?: Duration;

  /**
   * TLS and certificate authentication on every link: etcd, Patroni's REST API, PostgreSQL's
   * clients and replication. The certificates are issued at deploy time into Secrets Manager (see
   * `ClusterTls.issued`); the CA and certificate secrets follow `removalPolicy` as the passwords do.
   * Fixed for the cluster's life: turning it on or off on a running cluster is refused by its
   * nodes (the deploy fails and rolls back). A new `validity` or `rotation` renews the CAs (same
   * keys) and issues new certificates, rolled out one node at a time (etcd restarted, Patroni and
   * PostgreSQL reloaded, no failover).
   * @default ClusterTls.issued()
   */
  readonly tls?: ClusterTls;

  /**
   * CIDRs that operators' tools (the CLI, curl) reach Patroni's REST API from, besides the nodes:
   * the nodes' security group admits them on the REST API port, and Patroni takes writes
   * (switchover, restart, `/config`) from them, with the operator's client certificate
   * (`operatorTlsSecret`) and the REST API password. Literal IPv4 or IPv6 CIDRs; an address open
   * to everyone (`0.0.0.0/0`) is refused, and so is any entry without TLS (the password would
   * cross the network in clear). Session Manager's port forwarding needs no entry: its
   * connections come from the node itself. A change updates the security group's rules and
   * patroni.yml (reloaded node by node).
   * @default - none: the REST API answers writes from the nodes only
   */
  readonly operatorCidrs?: string[];

  /**
   * Security groups of Prometheus servers that scrape Patroni's `/metrics` on every node: the
   * nodes' security group admits them on the REST API port, and with TLS on etcd's metrics port
   * (2381, plain HTTP, `/metrics` and `/health` only; label that job with the cluster's `scope`
   * for the etcd rules). Reads only: Patroni takes writes from the nodes and `operatorCidrs` alone
   * (its allowlist). With TLS Patroni's endpoint is HTTPS: give the scrape job the cluster CA
   * (`caCert` of `operatorTlsSecret`) as its `tls_config.ca_file`. The alerting rules:
   * `Runbooks.writePrometheusFiles`. A change updates the security group's rules only.
   * @default - none: nothing outside the nodes reaches /metrics
   */
  readonly metricsScrapers?: ec2.ISecurityGroup[];

  /**
   * AWS's SSM agent on every node, for Session Manager (the runbooks' way onto a node; the nodes
   * have no SSH): installed by each node's agent from the region's distribution once the node is
   * ready, verified against AWS's pinned signing keys. With `NodeEgress.private`, the agent
   * reaches Systems Manager only through the `systemsManager` endpoints given there.
   * @default - installed, verified against AWS's published keys; a failure does not fail the boot
   */
  readonly ssmAgent?: SsmAgentProps;
}

/** The volume attachment wait in seconds, checked (undefined: the bootstrap's default). Kept within NODE_CREATION_SECONDS' share for it. */
function volumeAttachmentSeconds(timeout: Duration | undefined): number | undefined {
  if (timeout === undefined) return undefined;
  const seconds = timeout.toSeconds({ integral: false });
  if (!Number.isInteger(seconds) || seconds < 30 || seconds > 600) {
    throw new Error(`volumeAttachmentTimeout must be whole seconds from 30 seconds to 10 minutes, got ${timeout.toHumanString()}`);
  }
  return seconds;
}

/** What makes the issuer issue anew (its Days and Rotation), or null without TLS. */
function certificateIssue(tls: ClusterTls): string | null {
  if (!tls.enabled) return null;
  const { days, rotation } = issuerSettings(tls.certificates);
  return `${days}:${rotation}`;
}

/** A secret cannot be snapshotted: it is kept with the data that needs it. */
function secretRemovalPolicy(removalPolicy: RemovalPolicy): RemovalPolicy {
  return removalPolicy === RemovalPolicy.SNAPSHOT ? RemovalPolicy.RETAIN : removalPolicy;
}

/**
 * PostgreSQL high availability on EC2: Patroni elects the leader through etcd (one member on each
 * node), HAProxy on every node routes to it, and an internal Network Load Balancer gives clients
 * a writer (5432) and a reader (5433) endpoint.
 */
export class PatroniCluster extends PatroniClusterBase {
  /**
   * A PatroniCluster made in another stack or app, from its attributes (the values of its stack
   * outputs), for alarms, dashboards and client security groups.
   */
  public static fromClusterAttributes(scope: Construct, id: string, attrs: PatroniClusterAttributes): IPatroniCluster {
    return new ImportedPatroniCluster(scope, id, attrs);
  }

  /** Clients allowed here reach the writer and reader endpoints (and nothing else). */
  public readonly connections: ec2.Connections;
  /** The nodes' security group: PostgreSQL, Patroni and etcd ports only between nodes. */
  public readonly nodeSecurityGroup: ec2.SecurityGroup;
  /** The internal load balancer in front of every node's HAProxy. */
  public readonly loadBalancer: elbv2.NetworkLoadBalancer;
  /** Writer endpoint: always the current leader. */
  public readonly writerEndpoint: ClusterEndpoint;
  /** Reader endpoint: replicas within `replicaMaxLag`. */
  public readonly readerEndpoint: ClusterEndpoint;
  /** The PostgreSQL superuser's credentials (`username`, `password`). */
  public readonly superuserSecret: secretsmanager.ISecret;
  /** The replication user's credentials. */
  public readonly replicationSecret: secretsmanager.ISecret;
  /** The pg_rewind user's credentials. */
  public readonly rewindSecret: secretsmanager.ISecret;
  /** Basic-auth credentials of Patroni's REST API (switchover, restart...). */
  public readonly restApiSecret: secretsmanager.ISecret;
  /**
   * With TLS: a client certificate and key for operators' tools, and both CAs (fields `caCert`,
   * `databaseCaCert`, `cert`, `key`). Clients of the database need only `databaseCaCert`.
   */
  public readonly operatorTlsSecret?: secretsmanager.ISecret;
  /** Whether and how the cluster's links use TLS. */
  public readonly tls: ClusterTls;
  /** The nodes, in order. */
  public readonly nodes: PatroniNode[];
  /** The primary backup repository's bucket, when `backup` is set. */
  public readonly backupBucket?: s3.IBucket;
  /** What the backup alarms compare with, when `backup` is set. */
  public readonly backupLimits?: BackupLimits;
  /** The cluster this one was made a standby of (`standbyOf`), or undefined. */
  public readonly primaryClusterName?: string;
  /** How long its certificates are valid; undefined with `ClusterTls.OFF`. */
  public readonly certificateValidity?: Duration;
  /** The role every node runs with (root's alone on the node: the IMDS firewall). */
  public readonly nodeRole: iam.Role;
  /**
   * The role postgres's programs get from each node's credential broker: pgBackRest, the metrics
   * publisher and the role-change callback. The cluster's metrics and its backup repository only.
   */
  public readonly processRole: iam.Role;
  /** Patroni scope. */
  public readonly clusterName: string;
  /** CloudWatch namespace the nodes publish to. */
  public readonly metricsNamespace: string;
  /** The timing in force. */
  public readonly timing: PatroniTiming;
  /** The reader endpoint drops replicas further behind than this. */
  public readonly replicaMaxLag: Size;
  /**
   * The spec the node files were rendered from (placeholders in place of passwords).
   * TypeScript only: the renderers' types are not part of the jsii API.
   * @jsii ignore
   */
  public readonly spec: ClusterSpec;
  private readonly volumeAttachmentSeconds?: number;

  constructor(scope: Construct, id: string, props: PatroniClusterProps) {
    super(scope, id);
    const nodeCount = props.nodes ?? 3;
    this.clusterName = props.clusterName ?? defaultClusterName(this);
    this.timing = props.timing ?? PatroniTiming.DEFAULT;
    const maximumLagOnFailover = props.maximumLagOnFailover ?? Size.mebibytes(1);
    const replicaMaxLag = props.replicaMaxLag ?? DEFAULT_REPLICA_MAX_LAG;
    this.replicaMaxLag = replicaMaxLag;
    const instanceType = props.instanceType ?? ec2.InstanceType.of(ec2.InstanceClass.M7I, ec2.InstanceSize.LARGE);
    const dataVolumeSize = props.dataVolumeSize ?? Size.gibibytes(100);
    validateClusterProps({
      nodes: nodeCount,
      clusterName: this.clusterName,
      maximumLagOnFailover,
      replicaMaxLag,
      dataVolumeSize,
      postgresParameters: props.postgresParameters ?? {},
      timing: this.timing.values,
      watchdog: (props.watchdog ?? WatchdogMode.REQUIRED).name,
    });
    this.volumeAttachmentSeconds = volumeAttachmentSeconds(props.volumeAttachmentTimeout);
    this.tls = props.tls ?? ClusterTls.issued();
    this.certificateValidity = this.tls.enabled ? (this.tls.certificates.validity ?? DEFAULT_CERTIFICATE_VALIDITY) : undefined;

    const subnets = props.vpc.selectSubnets(props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnets;
    if (subnets.length === 0) {
      throw new Error('vpcSubnets selects no subnet: the nodes need at least one (ideally one per AZ)');
    }
    const azs = new Set(subnets.map((s) => s.availabilityZone));
    if (![...azs].some((az) => Token.isUnresolved(az)) && azs.size < nodeCount) {
      Annotations.of(this).addWarningV2(
        'cdk-failover:fewerAzsThanNodes',
        `the ${nodeCount} nodes share ${azs.size} availability zone(s): losing one zone can take a majority of etcd with it. Select subnets in ${nodeCount} zones`,
      );
    }
    this.metricsNamespace = clusterMetricsNamespace(this.clusterName);

    this.nodeSecurityGroup = new ec2.SecurityGroup(this, 'NodeSecurityGroup', {
      vpc: props.vpc,
      description: `Patroni nodes of ${this.clusterName}`,
      allowAllOutbound: false,
    });
    const lbSecurityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc: props.vpc,
      description: `Writer and reader endpoints of ${this.clusterName}`,
      allowAllOutbound: false,
    });
    this.wireSecurityGroups(lbSecurityGroup, props.backup !== undefined && this.tls.enabled);
    const operatorCidrs = props.operatorCidrs ?? [];
    for (const cidr of operatorCidrs) {
      checkLiteralCidr('operatorCidrs', cidr, "anyone with the password could change Patroni's configuration");
      if (!this.tls.enabled) {
        throw new Error(`operatorCidrs needs TLS: with ClusterTls.OFF the REST API password would cross the network in clear (got '${cidr}')`);
      }
      const peer = cidr.includes(':') ? ec2.Peer.ipv6(cidr) : ec2.Peer.ipv4(cidr);
      this.nodeSecurityGroup.addIngressRule(peer, ec2.Port.tcp(CLUSTER_PORTS.restApi), 'Patroni REST API, from operators (HTTPS, client certificate and password)');
    }
    for (const scraper of props.metricsScrapers ?? []) {
      this.nodeSecurityGroup.addIngressRule(scraper, ec2.Port.tcp(CLUSTER_PORTS.restApi), 'Patroni /metrics, from Prometheus (reads only: writes are allowlisted)');
      // etcd's metrics listener (TLS only: without TLS /metrics is on the unauthenticated client port, never opened).
      if (this.tls.enabled) this.nodeSecurityGroup.addIngressRule(scraper, ec2.Port.tcp(CLUSTER_PORTS.etcdMetrics), 'etcd /metrics and /health, from Prometheus (plain HTTP, nothing else)');
    }
    const egress = props.egress ?? NodeEgress.internet();
    const ssmAgent = ssmAgentSpec(props.ssmAgent);
    allowEgress(this.nodeSecurityGroup, egress, props.backup, Stack.of(this).region);

    const replicaRegions = checkReplicaRegions(props.databaseSecretReplicaRegions, props.databaseSecrets, Stack.of(this).region);
    const secret = (id: string, username: string, description: string, replicated = false) =>
      new secretsmanager.Secret(this, id, {
        description: `${description} of Patroni cluster ${this.clusterName}`,
        ...(replicated && replicaRegions.length ? { replicaRegions: replicaRegions.map((region) => ({ region })) } : {}),
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ username }),
          generateStringKey: 'password',
          passwordLength: 32,
          // Letters and digits only: the password lands in YAML, pgpass and connection URIs.
          excludePunctuation: true,
        },
      });
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.SNAPSHOT;
    const primaryName = props.standbyOf && checkStandbyOf(this.clusterName, props.standbyOf, props.backup, props.databaseSecrets);
    this.primaryClusterName = primaryName;
    const streaming = props.standbyStreaming && checkStandbyStreaming(props.standbyStreaming, props.standbyOf, this.tls.enabled);
    if (streaming) {
      this.nodeSecurityGroup.addEgressRule(streaming.primaryNetwork, ec2.Port.tcp(streaming.port), "Streaming replication from the primary cluster's writer endpoint (standbyStreaming)");
    }
    const given = props.databaseSecrets;
    this.superuserSecret = given?.superuser ?? secret('SuperuserSecret', 'postgres', 'PostgreSQL superuser', true);
    this.replicationSecret = given?.replication ?? secret('ReplicationSecret', 'replicator', 'PostgreSQL replication user', true);
    this.rewindSecret = given?.rewind ?? secret('RewindSecret', 'rewind_user', 'PostgreSQL pg_rewind user', true);
    this.restApiSecret = secret('RestApiSecret', 'patroni', 'Patroni REST API user');
    const created = [this.superuserSecret, this.replicationSecret, this.rewindSecret, this.restApiSecret].filter((s): s is secretsmanager.Secret => s instanceof secretsmanager.Secret);
    for (const s of created) {
      s.applyRemovalPolicy(secretRemovalPolicy(removalPolicy));
      Validations.of(s).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'Rotating these passwords means changing the PostgreSQL role and patroni.yml on every node in step; ' +
          'no rotation function ships yet, so rotation is a documented manual procedure (README, runbook).',
      });
    }

    this.nodeRole = this.createNodeRole();
    this.processRole = this.createProcessRole();
    // The node role holds the process role's rights too: it may assume that role, so this gives it
    // nothing more, and nodes still on an agent from before the broker keep archiving and
    // publishing while a deploy rolls the broker out.
    const processRoles = [this.processRole, this.nodeRole];
    for (const role of processRoles) this.grantPutMetricData(role);
    const backup = props.backup ? createBackupResources(this, this.clusterName, processRoles, props.backup, primaryName) : undefined;
    if (backup && primaryName) grantFenceWrite(this.nodeRole, backup.bucket, primaryName);
    this.backupBucket = backup?.bucket;
    this.backupLimits = backup?.limits;

    const machineImage = props.machineImage ?? this.defaultImage(instanceType);
    this.nodes = [];
    for (let i = 0; i < nodeCount; i++) {
      this.nodes.push(
        new PatroniNode(this, `Node${i}`, {
          vpc: props.vpc,
          subnet: subnets[i % subnets.length],
          securityGroup: this.nodeSecurityGroup,
          instanceType,
          machineImage,
          role: this.nodeRole,
          dataVolumeSize,
          removalPolicy,
          dataVolumeDevice: DATA_VOLUME_DEVICE,
          readyTimeout: Duration.seconds(NODE_CREATION_SECONDS),
          terminationProtection: props.deletionProtection ?? true,
        }),
      );
      // Boot reads the stack and installs packages: not before the subnet's route to the NAT exists.
      this.nodes[i].instance.node.addDependency(subnets[i % subnets.length].internetConnectivityEstablished);
    }
    const imageId = this.nodes[0].cfnInstance.imageId!;
    if (!Token.isUnresolved(imageId) && imageId.startsWith('resolve:ssm:')) {
      // EC2 resolves it at launch; a root volume replacement needs the image's ID.
      throw new Error(
        `machineImage: '${imageId}' is resolved by EC2 at launch (resolveSsmParameterAtLaunch), which a running node's root volume replacement cannot use. ` +
          'Pass an image with an ID: MachineImage.genericLinux, lookup, or fromSsmParameter (resolved by CloudFormation at each deploy)',
      );
    }
    // What a running cluster cannot take is refused at the start of the update, before a node changes.
    const members = this.nodes.map((node, i) => ({ name: clusterNodeName(this.clusterName, i), address: node.address }));
    // Subnets, not addresses: an address is read from an interface, which would then change first.
    const guard = new ChangeGuard(this, 'ChangeGuard', {
      clusterPath: this.node.path,
      nodes: this.nodes.map((_, i) => ({ name: members[i].name, subnetId: subnets[i % subnets.length].subnetId })),
      instanceType: instanceType.toString(),
      imageId,
    });
    guard.guardAll(this);
    // The image an instance was launched with stays its ImageId (a new one would replace it); a
    // new image reaches the nodes in their configuration, as root volume replacements.
    for (const node of this.nodes) node.cfnInstance.imageId = guard.launchImageId;
    grantRootVolumeReplacement(this.nodeRole, this.nodes.map((n) => n.cfnInstance));

    this.loadBalancer = new elbv2.NetworkLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      vpcSubnets: { subnets },
      internetFacing: false,
      crossZoneEnabled: true,
      securityGroups: [lbSecurityGroup],
    });
    Validations.of(this.loadBalancer).acknowledge({
      id: 'AwsSolutions-ELB2',
      reason: 'Network Load Balancers write access logs only for TLS listeners; these are TCP listeners carrying PostgreSQL\'s own protocol.',
    });
    this.addListener('Writer', CLUSTER_PORTS.writer, CLUSTER_PORTS.haproxyPrimary, HAPROXY_HEALTH_PATHS.primary);
    this.addListener('Reader', CLUSTER_PORTS.reader, CLUSTER_PORTS.haproxyReplica, HAPROXY_HEALTH_PATHS.replicas);
    const watchdog = props.watchdog ?? WatchdogMode.REQUIRED;
    // The spec carries placeholders for every deploy-time value, so the rendered script is
    // token-free and can be compressed at synth (see user-data.ts); the values follow beside it.
    const values: Record<string, string> = {
      __CLUSTER_CIDR__: props.vpc.vpcCidrBlock,
      __AWS_REGION__: Stack.of(this).region,
      __PROCESS_ROLE_ARN__: this.processRole.roleArn,
      __SUPERUSER_SECRET__: this.superuserSecret.secretArn,
      __REPLICATION_SECRET__: this.replicationSecret.secretArn,
      __REWIND_SECRET__: this.rewindSecret.secretArn,
      __REST_API_SECRET__: this.restApiSecret.secretArn,
      ...backup?.values,
      ...(streaming?.primaryDatabaseCa !== undefined ? { [PRIMARY_DATABASE_CA]: streaming.primaryDatabaseCa } : {}),
    };
    this.nodes.forEach((node, i) => (values[`__NODE${i}_ADDRESS__`] = node.address));
    if (this.tls.enabled) {
      const issuer = new CertificateIssuer(this, 'Certificates', {
        clusterName: this.clusterName,
        nodes: members,
        // Clients dial the load balancer's name; the database certificate names it and every node.
        endpointNames: [this.loadBalancer.loadBalancerDnsName],
        validity: this.tls.certificates.validity,
        rotation: this.tls.certificates.rotation,
        removalPolicy: secretRemovalPolicy(removalPolicy),
      });
      issuer.grantNodeRead(this.nodeRole);
      this.operatorTlsSecret = issuer.operatorSecret;
      values.__TLS_SECRET__ = issuer.nodeSecret.secretArn;
      // A new version (a rotation) is a new generation: the nodes roll the new files out.
      values.__TLS_SECRET_VERSION__ = issuer.nodeSecretVersion;
    }
    this.spec = {
      clusterName: this.clusterName,
      nodes: this.nodes.map((_, i) => ({ name: clusterNodeName(this.clusterName, i), address: `__NODE${i}_ADDRESS__` })),
      ports: CLUSTER_PORTS,
      timing: this.timing.values,
      synchronousMode: (props.synchronousMode ?? SynchronousMode.ON).name,
      maximumLagOnFailoverBytes: maximumLagOnFailover.toBytes(),
      replicaMaxLagBytes: replicaMaxLag.toBytes(),
      watchdogMode: watchdog.name,
      postgresVersion: 15,
      postgresParameters: props.postgresParameters ?? {},
      // HAProxy on a node connects to PostgreSQL on the others: clients never reach 5432 directly.
      clusterCidrs: ['__CLUSTER_CIDR__'],
      clientCidrs: [],
      credentials: {
        superuser: { username: 'postgres', password: '__SUPERUSER_PASSWORD__' },
        replication: { username: 'replicator', password: '__REPLICATION_PASSWORD__' },
        rewind: { username: 'rewind_user', password: '__REWIND_PASSWORD__' },
        restApi: { username: 'patroni', password: '__REST_API_PASSWORD__' },
      },
      metricsNamespace: this.metricsNamespace,
      awsRegion: '__AWS_REGION__',
      processRoleArn: '__PROCESS_ROLE_ARN__',
      ...(backup ? { backup: streaming ? withStreaming(backup.spec, streaming) : backup.spec } : {}),
      ...(egress.privateOptions ? { aptProxy: egress.privateOptions.packageProxy.url } : {}),
      ...(this.tls.enabled ? { tls: true } : {}),
      ...(operatorCidrs.length ? { operatorCidrs } : {}),
      ...(ssmAgent ? { ssmAgent } : {}),
    };
    this.publishConfiguration(values, instanceType.toString(), imageId);

    this.writerEndpoint = new ClusterEndpoint(this.loadBalancer.loadBalancerDnsName, CLUSTER_PORTS.writer);
    this.readerEndpoint = new ClusterEndpoint(this.loadBalancer.loadBalancerDnsName, CLUSTER_PORTS.reader);
    this.connections = new ec2.Connections({
      securityGroups: [lbSecurityGroup],
      defaultPort: ec2.Port.tcpRange(CLUSTER_PORTS.writer, CLUSTER_PORTS.reader),
    });

    if (props.outputs ?? true) this.createOutputs();
  }

  /** Node names as the nodes publish them (`<clusterName>-<i>`), in order. */
  public get nodeNames(): string[] {
    return this.spec.nodes.map((n) => n.name);
  }

  /** EC2 instance IDs of the nodes, in order. */
  public get nodeInstanceIds(): string[] {
    return this.nodes.map((n) => n.instance.instanceId);
  }

  /** The nodes' fixed private IP addresses, in order. */
  public get nodeAddresses(): string[] {
    return this.nodes.map((n) => n.address);
  }

  public get loadBalancerFullName(): string | undefined {
    return this.loadBalancer.loadBalancerFullName;
  }

  public get writerTargetGroupFullName(): string | undefined {
    return this.writerTargetGroup.targetGroupFullName;
  }

  private writerTargetGroup!: elbv2.NetworkTargetGroup;

  /**
   * Debian 12 as of each deploy. Not looked up into cdk.context.json: on a first synth the lookup's
   * placeholder fails CloudFormation's template validation before the CLI can resolve it.
   */
  private defaultImage(instanceType: ec2.InstanceType): ec2.IMachineImage {
    const arch = instanceType.architecture === ec2.InstanceArchitecture.ARM_64 ? 'arm64' : 'amd64';
    const parameter = `/aws/service/debian/release/12/latest/${arch}`;
    const { account, region } = Stack.of(this);
    if (!Token.isUnresolved(account) && !Token.isUnresolved(region)) {
      // Looked up once into cdk.context.json. The placeholder before the lookup is shaped like an
      // image ID: aws-cdk-lib's own 'dummy-value-for-...' fails template validation (E1152), which
      // stops the synth before the CLI can do the lookup.
      const ami = ContextProvider.getValue(this, {
        provider: cxschema.ContextProvider.SSM_PARAMETER_PROVIDER,
        props: { parameterName: parameter },
        dummyValue: IMAGE_LOOKUP_PLACEHOLDER,
      }).value as string;
      return ec2.MachineImage.genericLinux({ [region]: ami });
    }
    Annotations.of(this).addWarningV2(
      'cdk-failover:floatingImage',
      `the nodes' image is ${parameter} as of each deploy: once Debian publishes a new image, the next deploy's nodes replace their root volumes from it, one at a time with a switchover, after the deploy (nothing waits for it or rolls it back): an upgrade you did not choose. ` +
        `Give the stack an account and region (the image is then looked up once into cdk.context.json), or pass machineImage pinned to an AMI ID ` +
        `(MachineImage.genericLinux), the ID that ` +
        `'aws ssm get-parameter --name ${parameter}' gives`,
    );
    return ec2.MachineImage.fromSsmParameter(parameter, { os: ec2.OperatingSystemType.LINUX });
  }

  /**
   * Each node's desired configuration goes into its instance's metadata, and a wait condition
   * named after the configuration's generation makes the deploy wait until every node's agent
   * has applied it (one node at a time, the leader last) or one has failed. The user data only
   * names the instance: no change here alters an instance property.
   */
  private publishConfiguration(values: Record<string, string>, instanceType: string, imageId: string): void {
    const stack = Stack.of(this);
    const packed = this.nodes.map((node, i) => {
      const bundle = renderNodeBundle(this.spec, this.spec.nodes[i].name, {
        secretIds: {
          superuser: '__SUPERUSER_SECRET__',
          replication: '__REPLICATION_SECRET__',
          rewind: '__REWIND_SECRET__',
          restApi: '__REST_API_SECRET__',
        },
        dataVolume: { device: DATA_VOLUME_DEVICE, volumeId: '__DATA_VOLUME_ID__', waitSeconds: this.volumeAttachmentSeconds },
        readySeconds: NODE_READY_SECONDS,
        applySeconds: NODE_APPLY_SECONDS,
        ...(this.spec.tls ? { tlsSecret: { secretId: '__TLS_SECRET__', versionId: '__TLS_SECRET_VERSION__' } } : {}),
      });
      const text = packBundle(bundle);
      const all = { ...values, __DATA_VOLUME_ID__: node.dataVolume.volumeId };
      const json = JSON.stringify(bundle);
      // A placeholder this node's bundle does not mention (another node's address, say) is left out.
      const nodeValues = Object.fromEntries(Object.entries(all).filter(([k]) => json.includes(k)));
      // A rotation changes only the issuer's properties, and the version token reads the same at
      // synth: they are part of the generation, so that the nodes roll the new files out. So is the
      // instance type, which no node file holds (the agent never reads it): CloudFormation stops
      // and starts the nodes for a new one, and a new generation makes the deploy wait until every
      // node runs it again. So is the image, which each node's agent applies by having EC2 replace
      // its root volume (the node boots again from its user data).
      const generation = bundleGeneration(text, [stack.resolve(nodeValues), certificateIssue(this.tls), stack.resolve(instanceType), stack.resolve(imageId)]);
      return { text, nodeValues, generation };
    });
    const clusterGeneration = bundleGeneration(packed.map((p) => p.generation).join(','), []);
    const handle = new CfnWaitConditionHandle(this, `ConfigurationHandle${clusterGeneration}`);
    const applied = new CfnWaitCondition(this, `ConfigurationApplied${clusterGeneration}`, {
      handle: handle.ref,
      count: this.nodes.length,
      // One node at a time, each within its apply budget; CloudFormation allows at most 12 hours.
      timeout: String(Math.min(43_200, NODE_APPLY_SECONDS * this.nodes.length)),
    });
    this.nodes.forEach((node, i) => {
      node.useUserData(
        renderUserData({
          stackName: Aws.STACK_NAME,
          region: Aws.REGION,
          logicalId: stack.getLogicalId(node.cfnInstance),
          nodeName: this.spec.nodes[i].name,
        }),
      );
      node.useConfiguration(NODE_METADATA_KEY, {
        // A floating image (an SSM parameter CloudFormation resolves) is part of what the nodes
        // record, so the image Debian moved is rolled out; synth cannot see it, so no new wait
        // condition waits for that rollout.
        generation: withDeployTimeImage(packed[i].generation, imageId),
        // What every node records in etcd once applied: the leader goes last, after all others.
        clusterGeneration: withDeployTimeImage(clusterGeneration, imageId),
        waitHandle: handle.ref,
        // The image the node should run: its agent has its root volume replaced from it when the
        // instance runs another (IMDS ami-id).
        image: imageId,
        values: packed[i].nodeValues,
        bundle: packed[i].text,
      });
      applied.node.addDependency(node.instance);
    });
  }

  private addListener(id: string, port: number, haproxyPort: number, healthPath: string): void {
    const listener = this.loadBalancer.addListener(id, {
      port,
      protocol: elbv2.Protocol.TCP,
      tcpIdleTimeout: Duration.seconds(SESSION_IDLE_TIMEOUT_SECONDS),
    });
    const group = listener.addTargets(`${id}Targets`, {
      port: haproxyPort,
      protocol: elbv2.Protocol.TCP,
      targets: this.nodes.map((n) => new elbv2Targets.InstanceTarget(n.instance, haproxyPort)),
      // A node is a target only while its HAProxy sees a backend of the listener's role: a node
      // cut off from the others (no primary in its view) gets no new writer connections.
      healthCheck: {
        protocol: elbv2.Protocol.HTTP,
        port: String(CLUSTER_PORTS.haproxyHealth),
        path: healthPath,
        interval: Duration.seconds(10),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
      deregistrationDelay: Duration.seconds(10),
    });
    if (id === 'Writer') this.writerTargetGroup = group;
  }

  /** `standbyBackups`: pgBackRest's TLS server between nodes (backups from a replica). */
  private wireSecurityGroups(lbSecurityGroup: ec2.SecurityGroup, standbyBackups: boolean): void {
    const nodes = this.nodeSecurityGroup;
    for (const [port, what] of [
      [CLUSTER_PORTS.postgres, 'PostgreSQL replication and HAProxy to PostgreSQL'],
      [CLUSTER_PORTS.restApi, 'Patroni REST API (HAProxy checks, member status)'],
      [CLUSTER_PORTS.etcdClient, 'etcd clients (Patroni)'],
      [CLUSTER_PORTS.etcdPeer, 'etcd peers'],
      [CLUSTER_PORTS.haproxyPrimary, 'HAProxy primary listener (other nodes during drills)'],
      ...(standbyBackups ? ([[PGBACKREST_TLS_PORT, "pgBackRest's TLS server (a replica's backup reaches the leader; node certificates)"]] as const) : []),
    ] as const) {
      nodes.addIngressRule(nodes, ec2.Port.tcp(port), `${what}, between nodes`);
      nodes.addEgressRule(nodes, ec2.Port.tcp(port), `${what}, between nodes`);
    }
    for (const port of [CLUSTER_PORTS.haproxyPrimary, CLUSTER_PORTS.haproxyReplica, CLUSTER_PORTS.haproxyHealth]) {
      nodes.addIngressRule(lbSecurityGroup, ec2.Port.tcp(port), 'HAProxy, from the load balancer');
      lbSecurityGroup.addEgressRule(nodes, ec2.Port.tcp(port), 'HAProxy on the nodes');
    }
  }

  private createNodeRole(): iam.Role {
    const role = new iam.Role(this, 'NodeRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `Patroni nodes of ${this.clusterName} (root): read the cluster's secrets and stack, assume the process role (and hold its rights), Session Manager`,
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    for (const s of [this.superuserSecret, this.replicationSecret, this.rewindSecret, this.restApiSecret]) {
      s.grantRead(role);
    }
    // The node agent reads its instance's metadata (the desired configuration) and signals the
    // instance's creation policy; only in this stack.
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['cloudformation:DescribeStackResource', 'cloudformation:SignalResource'],
        resources: [Aws.STACK_ID],
      }),
    );
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
      reason: 'Session Manager is the only shell access to the nodes (no SSH key, no port 22); this is AWS\'s maintained minimal policy for it.',
    });
    return role;
  }

  /** Assumed by the node role alone (the credential broker, as root), for an hour at a time (role chaining's limit). */
  private createProcessRole(): iam.Role {
    const role = new iam.Role(this, 'ProcessRole', {
      assumedBy: new iam.ArnPrincipal(this.nodeRole.roleArn),
      description: `Patroni nodes of ${this.clusterName} (postgres, through the credential broker): publish the metrics, write the backups`,
      maxSessionDuration: Duration.hours(1),
    });
    role.grantAssumeRole(this.nodeRole);
    return role;
  }

  private grantPutMetricData(role: iam.Role): void {
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'], // PutMetricData has no resource type; the namespace condition scopes it
        conditions: { StringEquals: { 'cloudwatch:namespace': this.metricsNamespace } },
      }),
    );
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'cloudwatch:PutMetricData has no resource type; the statement is limited to this cluster\'s namespace by condition.',
    });
  }

  private createOutputs(): void {
    addFailoverOutputs(
      this,
      'PatroniCluster',
      PATRONI_CLUSTER_OUTPUTS,
      clusterOutputValues(this, {
        superuserSecretArn: this.superuserSecret.secretArn,
        restApiSecretArn: this.restApiSecret.secretArn,
        operatorTlsSecretArn: this.operatorTlsSecret?.secretArn,
      }),
    );
  }
}

/** How long a node may take to lead or stream after its boot or a change. */
const NODE_READY_SECONDS = 900;
/**
 * How long CloudFormation waits for a new node's signal: the metadata read (5 min), packages (dpkg
 * lock and retries), the volume (5 min) and NODE_READY_SECONDS, so the node's own FAILURE line
 * arrives before CloudFormation's timeout.
 */
const NODE_CREATION_SECONDS = 2700;
/** How long one node's application of a change may take, the wait for the lock included. */
const NODE_APPLY_SECONDS = 1800;

/** Device name of the data volume; on Nitro it appears as NVMe, found by volume ID. */
const DATA_VOLUME_DEVICE = '/dev/sdf';


function defaultClusterName(scope: Construct): string {
  return Names.uniqueResourceName(scope, { maxLength: 40, separator: '-' })
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * Boot, metrics and backups: Debian's archive and the AWS APIs. Nothing comes in from outside the
 * VPC; out, either anywhere on 443 and 80 (through NAT) or only the endpoints and the proxy.
 */
function allowEgress(nodes: ec2.SecurityGroup, egress: NodeEgress, backup: PatroniBackupProps | undefined, region: string): void {
  const options = egress.privateOptions;
  if (!options) {
    nodes.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs and Debian archive over HTTPS');
    nodes.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), 'Debian archive (signed packages over HTTP)');
    return;
  }
  const second = backup?.secondaryRepository;
  if (second && !(Token.isUnresolved(second.region) || Token.isUnresolved(region)) && second.region !== region) {
    throw new Error(
      `egress: NodeEgress.private reaches S3 through the VPC's gateway endpoint, which serves buckets of ${region} only: ` +
        `backup.secondaryRepository in ${second.region} would be unreachable (use NodeEgress.internet(), or a repository in ${region} replicated onward)`,
    );
  }
  const endpoints: [ec2.IInterfaceVpcEndpoint, string][] = [
    [options.secretsManager, 'Secrets Manager'],
    [options.cloudWatch, 'CloudWatch'],
    [options.cloudFormation, 'CloudFormation'],
    [options.sts, 'STS'],
  ];
  (options.systemsManager ?? []).forEach((endpoint, i) => endpoints.push([endpoint, `Systems Manager (${i + 1})`]));
  for (const [endpoint, service] of endpoints) {
    nodes.connections.allowTo(endpoint, ec2.Port.tcp(443), `${service} through its VPC endpoint`);
  }
  nodes.addEgressRule(options.s3, ec2.Port.tcp(443), 'S3 (wait condition signals, backups, the SSM agent package) through its gateway endpoint');
  nodes.addEgressRule(options.packageProxy.peer, ec2.Port.tcp(aptProxyPort(options.packageProxy.url)), "Debian's archive through the package proxy");
}

/** A generation with a deploy-time image ID appended (a literal image is in the generation already). */
function withDeployTimeImage(generation: string, imageId: string): string {
  return Token.isUnresolved(imageId) ? Fn.join('-', [generation, imageId]) : generation;
}
