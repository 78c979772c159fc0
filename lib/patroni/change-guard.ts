// Refuses a deploy that a running cluster cannot take, before anything in it changes: a new member
// set (node count, cluster name, a node's subnet). Synth cannot see what is deployed;
// CloudFormation can: this custom resource's update sees what it was created with, and every other
// resource of the cluster waits for it. So such a change fails at the start of the update with the
// reason, instead of instances that cannot join. It also answers the image the instances were
// launched with (LaunchImageId, their ImageId), kept across image changes: a new image never
// replaces an instance (the new one could not take over the node's interface); it reaches the nodes
// in their configuration, and each node's agent, in turn, has EC2 replace its root volume. A new
// instance type passes: CloudFormation stops and starts the nodes, and each node's drain on stop
// takes them down one at a time, the leader last. The guard says so with `NodeStop` and
// `NodeImage`; a guard deployed without one (an earlier version, whose nodes lack that) refuses the
// change until one deploy with the deployed value.
import { Aspects, CfnResource, CustomResource, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, IConstruct } from 'constructs';
import { CHANGE_GUARD_HANDLER_JS, LAUNCH_IMAGE_ATTRIBUTE, NODE_IMAGE_ROOT_VOLUME, NODE_STOP_DRAIN } from './change-guard-handler';

export interface ChangeGuardProps {
  /** The cluster's construct path, named in the refusal. */
  readonly clusterPath: string;
  /** The members by name, with the subnet that gives each its address, in node order. */
  readonly nodes: readonly { readonly name: string; readonly subnetId: string }[];
  /** Every node's instance type: a change is refused only by a guard deployed without NodeStop. */
  readonly instanceType: string;
  /** The image the nodes should run (a deploy-time value when it floats): a change is refused only by a guard deployed without NodeImage. */
  readonly imageId: string;
}

export class ChangeGuard extends Construct {
  /** The custom resource: what must wait for the check depends on it. */
  public readonly resource: CustomResource;
  /**
   * The image the instances were launched with, kept across image changes: their ImageId. A new
   * image reaches the nodes in their configuration instead (each replaces its root volume).
   */
  public readonly launchImageId: string;

  constructor(scope: Construct, id: string, props: ChangeGuardProps) {
    super(scope, id);
    if (props.nodes.length === 0) throw new Error('nodes must name at least one node');
    const fn = new lambda.Function(this, 'Function', {
      // Fixed: a description holds at most 256 characters, and a construct path has no bound.
      description: 'cdk-failover: refuses a change a running PatroniCluster cannot take (its members); keeps the launch image',
      runtime: lambda.Runtime.NODEJS_24_X,
      code: lambda.Code.fromInline(CHANGE_GUARD_HANDLER_JS),
      handler: 'index.handler',
      timeout: Duration.seconds(30),
      memorySize: 128,
      logGroup: new logs.LogGroup(this, 'FunctionLogs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.DESTROY }),
    });
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: "AWS's minimal managed policy for a function's own logs; the function calls nothing else (it answers CloudFormation's presigned URL).",
    });
    // CloudFormation refuses to change a custom resource's service token: this function's
    // construct ID (and so its name and ARN) must never change.
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: fn.functionArn,
      resourceType: 'Custom::CdkFailoverChangeGuard',
      properties: {
        Cluster: props.clusterPath,
        Members: props.nodes.map((n) => ({ Name: n.name, Subnet: n.subnetId })),
        InstanceType: props.instanceType,
        ImageId: props.imageId,
        // What the nodes do when CloudFormation stops them: drain, one at a time under the
        // cluster's lock. Once a deploy that sent it has completed, every node has that unit, so a
        // later instance type change is safe (see the handler).
        NodeStop: NODE_STOP_DRAIN,
        // What the nodes do with a new image: each, in turn, has EC2 replace its root volume from it.
        // Once a deploy that sent it has completed, every node's agent does that (see the handler).
        NodeImage: NODE_IMAGE_ROOT_VOLUME,
      },
    });
    this.launchImageId = this.resource.getAttString(LAUNCH_IMAGE_ATTRIBUTE);
  }

  /**
   * Makes every CloudFormation resource under `scope` (but the guard's own) wait for the check, so
   * a refused deploy changes nothing there; at synth, so that resources added later count too.
   */
  public guardAll(scope: IConstruct): void {
    const own = this.node.path + '/';
    const resource = this.resource;
    Aspects.of(scope).add({
      visit(node: IConstruct) {
        if (node instanceof CfnResource && !node.node.path.startsWith(own)) node.node.addDependency(resource);
      },
    });
  }
}
