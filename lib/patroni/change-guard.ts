// Refuses a deploy that a running cluster cannot take, before any node changes: a new member set
// (node count, cluster name, a node's subnet), instance type or image. Synth cannot see what is
// deployed; CloudFormation can: this custom resource's update sees what it was created with, and
// every node's instance and data volume wait for it. So such a change fails at the start of the
// update with the reason, instead of a full outage (an instance type changed on every node at
// once), a replacement that fails (the image), or instances that cannot join (the node count).
import { CustomResource, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, IConstruct } from 'constructs';
import { CHANGE_GUARD_HANDLER_JS } from './change-guard-handler';

export interface ChangeGuardProps {
  /** The cluster's construct path, named in the refusal. */
  readonly clusterPath: string;
  /** The members by name, with their (deploy-time) addresses, in node order. */
  readonly nodes: readonly { readonly name: string; readonly address: string }[];
  /** Every node's instance type. */
  readonly instanceType: string;
  /** Every node's image ID (a deploy-time value when it floats). */
  readonly imageId: string;
}

export class ChangeGuard extends Construct {
  /** The custom resource: what must wait for the check depends on it. */
  public readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: ChangeGuardProps) {
    super(scope, id);
    if (props.nodes.length === 0) throw new Error('nodes must name at least one node');
    const fn = new lambda.Function(this, 'Function', {
      description: `Refuses a change ${props.clusterPath} cannot take while it runs (its members, instance type or image)`,
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
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: fn.functionArn,
      resourceType: 'Custom::CdkFailoverChangeGuard',
      properties: {
        Cluster: props.clusterPath,
        Members: props.nodes.map((n) => ({ Name: n.name, Address: n.address })),
        InstanceType: props.instanceType,
        ImageId: props.imageId,
      },
    });
  }

  /** Makes `resource` wait for the check: it is created or changed only once the change passed. */
  public guard(resource: IConstruct): void {
    resource.node.addDependency(this.resource);
  }
}
