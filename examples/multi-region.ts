import { Annotations, Duration, RemovalPolicy, Stack, StackProps, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { DnsFailover, FailoverAlarms, FailoverEndpoint, HealthCheckProtocol, PatroniCluster, PatroniClusterAttributes, PatroniTiming } from '../lib';

/** Props of one region's web tier. */
export interface RegionalWebStackProps extends StackProps {
  /** Three availability zones of the region. */
  readonly availabilityZones: string[];
  /** CIDR of the VPC (the two regions differ, so they can be peered later). */
  readonly cidr: string;
  /**
   * Route 53 health checkers' managed prefix list in this region
   * (`com.amazonaws.<region>.route53-healthchecks`): the only source, with `clientCidr`, the load
   * balancer accepts. Looked up once with `aws ec2 describe-managed-prefix-lists`; given here so
   * that synth needs no lookup.
   */
  readonly healthCheckerPrefixListId: string;
  /** Where the service's clients come from. */
  readonly clientCidr: string;
}

/** A region's VPC and internet-facing load balancer answering /health. */
export class RegionalWebStack extends Stack {
  public readonly vpc: ec2.Vpc;
  public readonly loadBalancer: elbv2.ApplicationLoadBalancer;

  constructor(scope: Construct, id: string, props: RegionalWebStackProps) {
    super(scope, id, { ...props, crossRegionReferences: true });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(props.cidr),
      availabilityZones: props.availabilityZones,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'db', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
      ],
      flowLogs: { all: { trafficType: ec2.FlowLogTrafficType.ALL } },
    });
    const securityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc: this.vpc,
      description: 'Route 53 health checkers and the service clients only',
      allowAllOutbound: false,
    });
    securityGroup.addIngressRule(ec2.Peer.prefixList(props.healthCheckerPrefixListId), ec2.Port.tcp(80), 'Route 53 health checkers');
    securityGroup.addIngressRule(ec2.Peer.ipv4(props.clientCidr), ec2.Port.tcp(80), 'service clients');
    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: this.vpc,
      internetFacing: true,
      securityGroup,
      dropInvalidHeaderFields: true,
    });
    const logs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      removalPolicy: RemovalPolicy.RETAIN,
      serverAccessLogsPrefix: 'bucket-access/',
      lifecycleRules: [{ expiration: Duration.days(90) }],
    });
    this.loadBalancer.logAccessLogs(logs, 'alb');
    // Stand-in for the service: the example has no application, so the listener answers /health
    // itself. Replace with your targets.
    this.loadBalancer.addListener('Http', {
      port: 80,
      open: false,
      defaultAction: elbv2.ListenerAction.fixedResponse(200, { contentType: 'text/plain', messageBody: 'ok' }),
    });
  }
}

/**
 * The secondary region (us-west-2): its web tier, and the bucket that holds the primary
 * database's second backup repository, which the standby cluster there is made from and follows.
 * It exists before the primary, which writes to it.
 */
export class MultiRegionSecondaryStack extends RegionalWebStack {
  public readonly repository: s3.Bucket;

  constructor(scope: Construct, id: string, props: RegionalWebStackProps) {
    super(scope, id, props);
    const key = new kms.Key(this, 'RepositoryKey', {
      description: 'pgBackRest repositories in the secondary region (the primary database and its standby)',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.repository = new s3.Bucket(this, 'Repository', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: key,
      bucketKeyEnabled: true,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: 'AbortIncompleteUploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
        { id: 'ExpireDeletedVersions', noncurrentVersionExpiration: Duration.days(30), expiredObjectDeleteMarker: true },
      ],
    });
    Validations.of(this.repository).acknowledge({
      id: 'AwsSolutions-S1',
      reason: "Only the two clusters' node and process roles write here, and pgBackRest logs every backup and archive push on the nodes; CloudTrail data events record object access where the account turns them on.",
    });
  }
}

/**
 * cdk-nag's finding on a node role's objects grant in the secondary region's repository, which
 * another stack owns: PatroniCluster acknowledges it itself only for a bucket whose ARN it can
 * spell, and here the ARN is a cross-region reference (its output name is the bucket's).
 */
function acknowledgeRepositoryObjects(cluster: PatroniCluster, prefix: string): void {
  const arn = '{"Fn::GetStackOutput":{"StackName":"MultiRegionSecondary","Region":"us-west-2","OutputName":"PublishOutputFnGetAttRepository22E53BBDArn057CFFF0"}}';
  Validations.of(cluster).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${arn}/${prefix}/*]`,
    reason: `pgBackRest names its files itself (backups, WAL segments); the role reaches only the prefix ${prefix}/ in the secondary region's repository.`,
  });
}

/** The names of the database roles' secrets, the same in both regions (Secrets Manager replicas). */
export const SHOP_DB_SECRET_NAMES = { superuser: 'shop-db/superuser', replication: 'shop-db/replication', rewind: 'shop-db/rewind' } as const;

/**
 * A database role's secret, as PatroniCluster makes its own (username and a 32-character
 * alphanumeric password), but named and replicated into `replicaRegion`. Retained: the standby's
 * logins, and a restored volume's, depend on it.
 */
function replicatedSecret(scope: Construct, id: string, name: string, username: string, replicaRegion: string): secretsmanager.Secret {
  const secret = new secretsmanager.Secret(scope, id, {
    secretName: name,
    description: `${username} of the shop database, replicated to ${replicaRegion} for its standby`,
    generateSecretString: { secretStringTemplate: JSON.stringify({ username }), generateStringKey: 'password', passwordLength: 32, excludePunctuation: true },
    replicaRegions: [{ region: replicaRegion }],
    removalPolicy: RemovalPolicy.RETAIN,
  });
  Validations.of(secret).acknowledge({
    id: 'AwsSolutions-SMG4',
    reason: "Rotating a database role's password means changing the role and patroni.yml on every node in step; no rotation function ships yet (a documented manual procedure).",
  });
  return secret;
}

/** Props of the primary region's stack. */
export interface MultiRegionPrimaryStackProps extends RegionalWebStackProps {
  /** The other region's load balancer. */
  readonly secondaryLoadBalancer: elbv2.ILoadBalancerV2;
  /** The other region's repository bucket: the database's second backup repository. */
  readonly secondaryRepository: s3.IBucket;
  /** The other region. */
  readonly secondaryRegion: string;
}

/**
 * The primary region (us-east-1): its web tier, the database, DNS failover to the secondary
 * region's load balancer, and the alarms on both (Route 53's metrics live in us-east-1).
 */
export class MultiRegionPrimaryStack extends RegionalWebStack {
  public readonly cluster: PatroniCluster;
  public readonly dns: DnsFailover;
  public readonly alarms: FailoverAlarms;

  constructor(scope: Construct, id: string, props: MultiRegionPrimaryStackProps) {
    super(scope, id, props);
    this.cluster = new PatroniCluster(this, 'Db', {
      vpc: this.vpc,
      vpcSubnets: { subnetGroupName: 'db' },
      clusterName: 'shop-db',
      timing: PatroniTiming.FAST,
      // A second repository in the secondary region: the standby there is made from it and
      // follows it, and it survives the loss of this region.
      backup: { secondaryRepository: { bucket: props.secondaryRepository, region: props.secondaryRegion } },
      // Named, and replicated into the secondary region: the standby there logs in with these
      // roles' passwords (its data is this cluster's) and finds them by name.
      databaseSecrets: {
        superuser: replicatedSecret(this, 'SuperuserSecret', SHOP_DB_SECRET_NAMES.superuser, 'postgres', props.secondaryRegion),
        replication: replicatedSecret(this, 'ReplicationSecret', SHOP_DB_SECRET_NAMES.replication, 'replicator', props.secondaryRegion),
        rewind: replicatedSecret(this, 'RewindSecret', SHOP_DB_SECRET_NAMES.rewind, 'rewind_user', props.secondaryRegion),
      },
    });
    acknowledgeRepositoryObjects(this.cluster, 'shop-db');
    // An example cannot know today's AMI ID. In your app, pin machineImage to one.
    Annotations.of(this.cluster).acknowledgeWarning(
      'cdk-failover:floatingImage',
      'An example, synthesized offline: a deployed stack pins machineImage to an AMI ID.',
    );
    const zone = new route53.PublicHostedZone(this, 'Zone', { zoneName: 'shop.example.com' });
    this.dns = new DnsFailover(this, 'Api', {
      zone,
      recordName: 'api',
      primary: FailoverEndpoint.alias(new targets.LoadBalancerTarget(this.loadBalancer)),
      secondary: FailoverEndpoint.alias(new targets.LoadBalancerTarget(props.secondaryLoadBalancer)),
      // The secondary is checked by Route 53 too, so that its alarm can say when no target is left.
      checkSecondary: true,
      healthCheck: { protocol: HealthCheckProtocol.HTTP, path: '/health', interval: Duration.seconds(10), measureLatency: true },
      recoveryTimeObjective: Duration.minutes(3),
    });
    this.alarms = new FailoverAlarms(this, 'Alarms', {
      dnsFailovers: [this.dns],
      clusters: [this.cluster],
      emails: ['oncall@example.com'],
    });
  }
}

/** Props of the secondary region's database stack. */
export interface MultiRegionStandbyStackProps extends StackProps {
  /** The secondary region's web stack: its VPC and the repository bucket. */
  readonly secondary: MultiRegionSecondaryStack;
  /**
   * The primary database, by attributes: plain values, never a reference to the primary's stack,
   * so that this stack can still be deployed (after a promotion) while the primary region is down.
   */
  readonly primary: PatroniClusterAttributes;
}

/**
 * The secondary region's database (us-west-2): a standby cluster of the primary, fed from the
 * primary's second repository, promoted when the primary region is lost (the runbook's "Regional
 * failover", docs/regional-recovery.md), and its readiness alarm.
 */
export class MultiRegionStandbyStack extends Stack {
  public readonly cluster: PatroniCluster;
  public readonly alarms: FailoverAlarms;

  constructor(scope: Construct, id: string, props: MultiRegionStandbyStackProps) {
    super(scope, id, props);
    // The database secrets' replicas in this region, by name (the primary's stack names them).
    const replica = (id: string, name: string) => secretsmanager.Secret.fromSecretNameV2(this, id, name);
    this.cluster = new PatroniCluster(this, 'Db', {
      vpc: props.secondary.vpc,
      vpcSubnets: { subnetGroupName: 'db' },
      clusterName: 'shop-db-dr',
      timing: PatroniTiming.FAST,
      standbyOf: PatroniCluster.fromClusterAttributes(this, 'Primary', props.primary),
      // The primary's second repository; after a promotion this cluster's own backups go here too.
      backup: { bucket: props.secondary.repository },
      databaseSecrets: {
        superuser: replica('Superuser', SHOP_DB_SECRET_NAMES.superuser),
        replication: replica('Replication', SHOP_DB_SECRET_NAMES.replication),
        rewind: replica('Rewind', SHOP_DB_SECRET_NAMES.rewind),
      },
    });
    acknowledgeRepositoryObjects(this.cluster, 'shop-db');
    acknowledgeRepositoryObjects(this.cluster, 'shop-db-dr');
    Validations.of(this.cluster).acknowledge({
      id: 'CloudFormation-Validate::W3010',
      reason: "Each node and its data volume are pinned to one subnet's zone (the volume lives there); the zones come from the VPC of the secondary's web stack, as literals.",
    });
    Annotations.of(this.cluster).acknowledgeWarning(
      'cdk-failover:floatingImage',
      'An example, synthesized offline: a deployed stack pins machineImage to an AMI ID.',
    );
    // "Secondary region not ready" instead of the primary's alarms, until it is promoted.
    this.alarms = new FailoverAlarms(this, 'Alarms', {
      clusters: [this.cluster],
      emails: ['oncall@example.com'],
      overrides: { standbyNotReady: { threshold: Duration.minutes(15).toSeconds() } },
    });
  }
}
