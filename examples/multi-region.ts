import { Annotations, Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DnsFailover, FailoverAlarms, FailoverEndpoint, HealthCheckProtocol, PatroniCluster, PatroniTiming } from '../lib';

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

/** Props of the primary region's stack. */
export interface MultiRegionPrimaryStackProps extends RegionalWebStackProps {
  /** The other region's load balancer. */
  readonly secondaryLoadBalancer: elbv2.ILoadBalancerV2;
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
    });
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
