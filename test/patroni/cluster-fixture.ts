// A stack with a VPC and a PatroniCluster, as the construct tests synthesize it. Not a test file itself.
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { PatroniCluster, PatroniClusterProps } from '../../lib';
import { testApp } from '../app';

/** `overrides` as a function: props that need the stack or the VPC (a security group). */
export function setupCluster(
  overrides: Partial<PatroniClusterProps> | ((stack: Stack, vpc: ec2.Vpc) => Partial<PatroniClusterProps>) = {},
  azs = ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
  before?: (stack: Stack, vpc: ec2.Vpc, cluster: PatroniCluster) => void,
) {
  const stack = new Stack(testApp(), 'Test', { env: { region: 'eu-west-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    availabilityZones: azs,
    natGateways: 1,
    subnetConfiguration: [
      { name: 'public', subnetType: ec2.SubnetType.PUBLIC },
      { name: 'db', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    ],
  });
  const props = typeof overrides === 'function' ? overrides(stack, vpc) : overrides;
  const cluster = new PatroniCluster(stack, 'Db', { vpc, clusterName: 'orders', ...props });
  before?.(stack, vpc, cluster);
  return { stack, vpc, cluster, template: Template.fromStack(stack) };
}

/** An IAM policy statement as synthesized. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type PolicyStatementJson = any;

/**
 * The statements of every IAM policy in the template, or only of those attached to roles whose
 * logical ID contains `role` (`ProcessRole`, `NodeRole`).
 */
export function policyStatements(template: Template, role?: string): PolicyStatementJson[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => role === undefined || JSON.stringify(p.Properties.Roles ?? []).includes(role))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as PolicyStatementJson[]);
}
