import { Duration, Lazy, RemovalPolicy, Size } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** Properties of one Patroni node. */
export interface PatroniNodeProps {
  readonly vpc: ec2.IVpc;
  readonly subnet: ec2.ISubnet;
  readonly securityGroup: ec2.ISecurityGroup;
  readonly instanceType: ec2.InstanceType;
  readonly machineImage: ec2.IMachineImage;
  readonly role: iam.IRole;
  readonly dataVolumeSize: Size;
  /**
   * The data volume's removal policy.
   * @default RemovalPolicy.SNAPSHOT
   */
  readonly removalPolicy?: RemovalPolicy;
  /** Device name the data volume is attached as. */
  readonly dataVolumeDevice: string;
  /** How long CloudFormation waits for a new instance to report that PostgreSQL leads or streams. */
  readonly readyTimeout: Duration;
  /** Keeps the instance from being terminated through the API (disableApiTermination). */
  readonly terminationProtection: boolean;
}

/**
 * One node: an identity that outlives its instance (a network interface holding the address the
 * other nodes know it by, and an encrypted gp3 data volume), and the instance itself.
 */
export class PatroniNode extends Construct {
  /** The pre-created network interface: the node's address survives the instance. */
  public readonly networkInterface: ec2.CfnNetworkInterface;
  /** The PostgreSQL data volume, separate from the root volume. */
  public readonly dataVolume: ec2.Volume;
  /** The EC2 instance; its user data is set by the cluster once every address is known. */
  public readonly instance: ec2.Instance;
  /** The node's private address. */
  public readonly address: string;
  /** Recovers the instance onto healthy hardware when the system status check fails. */
  public readonly recoveryAlarm: cloudwatch.Alarm;
  /** The instance's L1 resource: its metadata carries the node's configuration. */
  public readonly cfnInstance: ec2.CfnInstance;
  private userDataScript?: string;

  constructor(scope: Construct, id: string, props: PatroniNodeProps) {
    super(scope, id);
    // No L2 exists for a standalone network interface.
    this.networkInterface = new ec2.CfnNetworkInterface(this, 'NetworkInterface', {
      subnetId: props.subnet.subnetId,
      groupSet: [props.securityGroup.securityGroupId],
      description: `${this.node.path} Patroni node address`,
    });
    this.address = this.networkInterface.attrPrimaryPrivateIpAddress;

    this.dataVolume = new ec2.Volume(this, 'DataVolume', {
      availabilityZone: props.subnet.availabilityZone,
      size: props.dataVolumeSize,
      volumeType: ec2.EbsDeviceVolumeType.GP3,
      encrypted: true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.SNAPSHOT,
    });

    this.instance = new ec2.Instance(this, 'Instance', {
      vpc: props.vpc,
      vpcSubnets: { subnets: [props.subnet] },
      securityGroup: props.securityGroup,
      instanceType: props.instanceType,
      machineImage: props.machineImage,
      role: props.role,
      // Filled in by useUserData(), once every node's address is known.
      userData: ec2.UserData.custom(
        Lazy.string({
          produce: () => {
            if (this.userDataScript === undefined) throw new Error(`${this.node.path}: user data was never set`);
            return this.userDataScript;
          },
        }),
      ),
      requireImdsv2: true,
      detailedMonitoring: true,
      disableApiTermination: props.terminationProtection,
      ssmSessionPermissions: false, // the shared role already has AmazonSSMManagedInstanceCore
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(16, { volumeType: ec2.EbsDeviceVolumeType.GP3, encrypted: true }),
        },
      ],
    });
    // The instance takes the pre-created interface as its primary one, so a replaced instance
    // comes back on the same address. ec2.Instance has no prop for that.
    const cfnInstance = this.instance.node.defaultChild as ec2.CfnInstance;
    this.cfnInstance = cfnInstance;
    // The node signals once PostgreSQL leads or streams: a node that does not come up fails the
    // deploy (and CloudFormation rolls back) instead of looking created.
    cfnInstance.cfnOptions.creationPolicy = { resourceSignal: { count: 1, timeout: `PT${props.readyTimeout.toSeconds()}S` } };
    cfnInstance.addPropertyDeletionOverride('SubnetId');
    cfnInstance.addPropertyDeletionOverride('SecurityGroupIds');
    cfnInstance.addPropertyOverride('NetworkInterfaces', [{ DeviceIndex: '0', NetworkInterfaceId: this.networkInterface.ref }]);

    new ec2.CfnVolumeAttachment(this, 'DataVolumeAttachment', {
      instanceId: this.instance.instanceId,
      volumeId: this.dataVolume.volumeId,
      device: props.dataVolumeDevice,
    });

    this.recoveryAlarm = new cloudwatch.Alarm(this, 'RecoveryAlarm', {
      alarmDescription: `Recover ${this.node.path} when its host fails the system status check`,
      metric: new cloudwatch.Metric({
        namespace: 'AWS/EC2',
        metricName: 'StatusCheckFailed_System',
        dimensionsMap: { InstanceId: this.instance.instanceId },
        statistic: cloudwatch.Stats.MAXIMUM,
        period: Duration.minutes(1),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.MISSING,
    });
    this.recoveryAlarm.addAlarmAction(new cwActions.Ec2Action(cwActions.Ec2InstanceAction.RECOVER));
  }

  /** Sets the node's user data (a complete script, shebang included). */
  public useUserData(script: string): void {
    this.userDataScript = script;
  }

  /** Publishes the node's desired configuration in the instance's metadata, where its agent reads it. */
  public useConfiguration(key: string, document: Record<string, unknown>): void {
    this.cfnInstance.addMetadata(key, document);
  }
}
