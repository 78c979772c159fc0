import { Annotations, Stack, StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import { PatroniCluster, PatroniTiming, SynchronousMode } from '../lib';

/** Props of the Patroni example. */
export interface PatroniClusterExampleStackProps extends StackProps {
  /** Three availability zones of the stack's region, one node in each. */
  readonly availabilityZones: string[];
}

/** A VPC with private subnets in three AZs, and a three-node Patroni cluster across them. */
export class PatroniClusterExampleStack extends Stack {
  public readonly cluster: PatroniCluster;
  public readonly vpc: ec2.Vpc;

  constructor(scope: Construct, id: string, props: PatroniClusterExampleStackProps) {
    super(scope, id, props);
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.40.0.0/16'),
      availabilityZones: props.availabilityZones,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'db', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
      ],
      flowLogs: { all: { trafficType: ec2.FlowLogTrafficType.ALL } },
    });
    this.cluster = new PatroniCluster(this, 'Db', {
      vpc: this.vpc,
      vpcSubnets: { subnetGroupName: 'db' },
      clusterName: 'orders-db',
      timing: PatroniTiming.FAST,
      synchronousMode: SynchronousMode.ON,
      // WAL archived continuously, a weekly full and daily differential backup into a new
      // KMS-encrypted bucket; replicas are made from the latest backup.
      backup: { fullRetention: 2 },
    });
    // An example cannot know today's AMI ID. In your app, pin machineImage to one.
    Annotations.of(this.cluster).acknowledgeWarning(
      'cdk-failover:floatingImage',
      'An example, synthesized offline: a deployed stack pins machineImage to an AMI ID.',
    );
  }
}
