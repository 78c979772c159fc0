// Refuses a deploy that changes a running cluster's members, before any node changes. Synth cannot
// see what is deployed; CloudFormation can: this custom resource's update sees the members it was
// created with, and every node's instance and data volume wait for it. So a node count change
// fails at the start of the update with the reason, instead of creating instances that cannot join.
import { CustomResource, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, IConstruct } from 'constructs';
import { MEMBER_SET_HANDLER_JS } from './member-set-handler';

export interface MemberSetGuardProps {
  /** The cluster's construct path, named in the refusal. */
  readonly clusterPath: string;
  /** The members by name, with their (deploy-time) addresses, in node order. */
  readonly nodes: readonly { readonly name: string; readonly address: string }[];
}

export class MemberSetGuard extends Construct {
  /** The custom resource: what must wait for the check depends on it. */
  public readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: MemberSetGuardProps) {
    super(scope, id);
    if (props.nodes.length === 0) throw new Error('nodes must name at least one node');
    const fn = new lambda.Function(this, 'Function', {
      description: `Refuses a change of ${props.clusterPath}'s members (node count, names, addresses) on a running cluster`,
      runtime: lambda.Runtime.NODEJS_24_X,
      code: lambda.Code.fromInline(MEMBER_SET_HANDLER_JS),
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
      resourceType: 'Custom::CdkFailoverMemberSet',
      properties: {
        Cluster: props.clusterPath,
        Members: props.nodes.map((n) => ({ Name: n.name, Address: n.address })),
      },
    });
  }

  /** Makes `resource` wait for the check: it is created or changed only once the members passed. */
  public guard(resource: IConstruct): void {
    resource.node.addDependency(this.resource);
  }
}
