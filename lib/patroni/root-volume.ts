// A new image reaches a running node as a root volume replacement: the node's agent asks EC2 to
// replace its own root volume from the image (CreateReplaceRootVolumeTask), which keeps the
// instance, its network interface and its data volume and reboots it onto the new root; the user
// data then runs again and boots the node on its data. docs/design.md "Image changes".
import { Aws, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';

/**
 * Lets the node role replace the root volume of the cluster's own instances (the tags
 * CloudFormation gives them: this stack, these logical IDs) from an image, and follow the task.
 */
export function grantRootVolumeReplacement(role: iam.Role, instances: readonly ec2.CfnInstance[]): void {
  const stack = Stack.of(role);
  // Pseudo parameters, never the stack's literal region: the acknowledgements below name these ARNs as cdk-nag prints them.
  const arn = (resource: string, account: string = Aws.ACCOUNT_ID) => `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${account}:${resource}/*`;
  role.addToPolicy(
    new iam.PolicyStatement({
      actions: ['ec2:CreateReplaceRootVolumeTask'],
      resources: [arn('instance')],
      conditions: {
        StringEquals: {
          'aws:ResourceTag/aws:cloudformation:stack-id': Aws.STACK_ID,
          'aws:ResourceTag/aws:cloudformation:logical-id': instances.map((i) => stack.getLogicalId(i)),
        },
      },
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      // The other resources the task names: the image it restores from, the volumes it detaches
      // and creates, the task itself. The instance statement above is what limits the call.
      actions: ['ec2:CreateReplaceRootVolumeTask'],
      resources: [
arn('image', ''), arn('volume'), arn('replace-root-volume-task'),
      ],
    }),
  );
  role.addToPolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeReplaceRootVolumeTasks'], resources: ['*'] }));
  Validations.of(role).acknowledge(
    {
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]',
      reason: "CreateReplaceRootVolumeTask on this cluster's instances only: the statement's condition names this stack and the nodes' logical IDs (CloudFormation's tags); an instance's ID is not known before the role exists.",
    },
    {
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>::image/*]',
      reason: 'The image a root volume is restored from is any the user deploys (a floating Debian image too); the call is limited by the instance statement.',
    },
    {
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:volume/*]',
      reason: "The root volumes a task detaches and creates have IDs only once it runs; the call is limited by the instance statement.",
    },
    {
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:replace-root-volume-task/*]',
      reason: 'A task is named by EC2 when it is created.',
    },
    {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ec2:DescribeReplaceRootVolumeTasks supports no resource-level permission; it only reads task states.',
    },
  );
}
