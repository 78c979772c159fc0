import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { NodeEgress, PatroniCluster, PatroniClusterProps, PatroniTiming } from '../../lib';
import { buildLocalSpec } from '../../lib/local/local-spec';
import { renderNodeConfigFiles } from '../../lib/patroni/config';
import { APT_PROXY_FILE } from '../../lib/patroni/config/apt-proxy';
import { testApp } from '../app';
import { setupCluster } from './cluster-fixture';
import { unpackNode } from './user-data-helpers';

const PROXY = 'http://10.0.200.10:3128';

/** A VPC without a NAT gateway: isolated subnets, the three interface endpoints, and a proxy address. */
const S3 = ec2.Peer.prefixList('pl-6da54004');

function isolated(props: Partial<PatroniClusterProps> = {}, egressOverrides: { s3?: ec2.IPeer | null; sts?: null; url?: string; systemsManager?: boolean } = {}) {
  const stack = new Stack(testApp(), 'Test', { env: { region: 'eu-west-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
    natGateways: 0,
    subnetConfiguration: [{ name: 'db', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
  });
  const endpoint = (id: string, service: ec2.InterfaceVpcEndpointAwsService) => vpc.addInterfaceEndpoint(id, { service, privateDnsEnabled: true });
  const egress = NodeEgress.private({
    secretsManager: endpoint('SecretsManager', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER),
    cloudWatch: endpoint('CloudWatch', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING),
    cloudFormation: endpoint('CloudFormation', ec2.InterfaceVpcEndpointAwsService.CLOUDFORMATION),
    sts: egressOverrides.sts === null ? (undefined as unknown as ec2.IInterfaceVpcEndpoint) : endpoint('Sts', ec2.InterfaceVpcEndpointAwsService.STS),
    s3: egressOverrides.s3 === null ? (undefined as unknown as ec2.IPeer) : (egressOverrides.s3 ?? S3),
    packageProxy: { url: egressOverrides.url ?? PROXY, peer: ec2.Peer.ipv4('10.0.200.10/32') },
    ...(egressOverrides.systemsManager
      ? { systemsManager: [ec2.InterfaceVpcEndpointAwsService.SSM, ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES, ec2.InterfaceVpcEndpointAwsService.EC2_MESSAGES].map((s, i) => endpoint(`Ssm${i}`, s)) }
      : {}),
  });
  const cluster = new PatroniCluster(stack, 'Db', { vpc, clusterName: 'orders', vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED }, egress, ...props });
  return { stack, cluster, template: Template.fromStack(stack) };
}

type Rule = { CidrIp?: string; DestinationSecurityGroupId?: unknown; DestinationPrefixListId?: string; FromPort: number; ToPort: number; Description: string };

/** Every egress rule of the nodes' security group, inline or separate. */
function nodeEgress(template: Template): Rule[] {
  const groups = template.findResources('AWS::EC2::SecurityGroup');
  const [nodeId, node] = Object.entries(groups).find(([id]) => /DbNodeSecurityGroup/.test(id))!;
  const inline = (node.Properties.SecurityGroupEgress ?? []) as Rule[];
  const separate = Object.values(template.findResources('AWS::EC2::SecurityGroupEgress'))
    .filter((r) => JSON.stringify(r.Properties.GroupId).includes(nodeId))
    .map((r) => r.Properties as Rule);
  return [...inline, ...separate];
}

describe('NodeEgress', () => {
  test('internet() (the default): 443 and 80 to any address, through the NAT gateway', () => {
    const rules = nodeEgress(setupCluster().template).filter((r) => r.CidrIp === '0.0.0.0/0');
    expect(rules.map((r) => [r.FromPort, r.Description])).toEqual([
      [443, 'AWS APIs and Debian archive over HTTPS'],
      [80, 'Debian archive (signed packages over HTTP)'],
    ]);
  });

  test('private(): no rule to any address; HTTPS to each endpoint, the proxy\'s port to the proxy, and apt told to use it', () => {
    const { template, cluster } = isolated();
    const rules = nodeEgress(template);
    expect(rules.filter((r) => r.CidrIp === '0.0.0.0/0')).toEqual([]);
    const descriptions = rules.map((r) => r.Description);
    for (const service of ['Secrets Manager', 'CloudWatch', 'CloudFormation', 'STS']) {
      expect(descriptions).toContain(`${service} through its VPC endpoint`);
    }
    expect(rules.find((r) => r.CidrIp === '10.0.200.10/32')).toMatchObject({ FromPort: 3128, ToPort: 3128, Description: "Debian's archive through the package proxy" });
    // The endpoints' own groups let the nodes in.
    const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties.Description);
    expect(ingress).toEqual(
      expect.arrayContaining(['Secrets Manager through its VPC endpoint', 'CloudWatch through its VPC endpoint', 'CloudFormation through its VPC endpoint', 'STS through its VPC endpoint']),
    );

    const node = unpackNode(template, 0, cluster);
    const aptFile = node.bundle.files.find((f) => f.path === APT_PROXY_FILE)!;
    expect(aptFile.content).toContain(`Acquire::http::Proxy "${PROXY}";`);
    expect(aptFile.content).toContain(`Acquire::https::Proxy "${PROXY}";`);
    // The first boot's apt runs (before the agent writes any file) take the proxy on their command line.
    expect(node.text).toContain(`apt-get update -q -o DPkg::Lock::Timeout=600 -o 'Acquire::http::Proxy=${PROXY}' -o 'Acquire::https::Proxy=${PROXY}' &&`);
  });

  test("private(): Systems Manager's endpoints, when given, get HTTPS from the nodes (the SSM agent); none without them", () => {
    const sessions = (t: Template) => nodeEgress(t).map((r) => r.Description).filter((d) => d.startsWith('Systems Manager'));
    expect(sessions(isolated({}, { systemsManager: true }).template)).toEqual([1, 2, 3].map((i) => `Systems Manager (${i}) through its VPC endpoint`));
    expect(sessions(isolated().template)).toEqual([]);
    // Day two: adding them changes the security group only, never an instance.
    const instances = (t: Template) => Object.values(t.findResources('AWS::EC2::Instance')).map((r) => r.Properties);
    expect(instances(isolated({}, { systemsManager: true }).template)).toEqual(instances(isolated().template));
  });

  test('private(): S3 through its prefix list always (the wait condition is a presigned S3 URL); each part required; a secondary repository in another region refused', () => {
    const { template } = isolated();
    expect(nodeEgress(template).find((r) => r.DestinationPrefixListId === 'pl-6da54004')).toMatchObject({
      FromPort: 443,
      Description: 'S3 (wait condition signals, backups, the SSM agent package) through its gateway endpoint',
    });
    expect(() => isolated({}, { s3: null })).toThrow('NodeEgress.private: s3 is required (the nodes cannot boot or report without it)');
    expect(() => isolated({}, { sts: null })).toThrow('NodeEgress.private: sts is required (the nodes cannot boot or report without it)');
    const secondaryRepository = { bucket: s3.Bucket.fromBucketName(new Stack(), 'B', 'dr-bucket'), region: 'eu-central-1' };
    expect(() => isolated({ backup: { secondaryRepository } })).toThrow(
      "egress: NodeEgress.private reaches S3 through the VPC's gateway endpoint, which serves buckets of eu-west-1 only: backup.secondaryRepository in eu-central-1 would be unreachable",
    );
    expect(() => isolated({ backup: { secondaryRepository: { ...secondaryRepository, region: 'eu-west-1' } } })).not.toThrow();
  });

  test.each(['https://proxy:3128', 'http://user:pw@proxy:3128', 'proxy:3128', 'http://proxy:99999', 'http://proxy:3128/path'])('refuses the proxy URL %s, naming the prop', (url) => {
    expect(() => isolated({}, { url })).toThrow(`NodeEgress.private packageProxy.url must be an http://host[:port] URL as apt takes it (no credentials, path or https), got '${url}'`);
  });

  test("apt's file is an EC2 node's only: the local cluster writes nothing outside its own tree on its host", () => {
    const spec = buildLocalSpec({ clusterName: 'eg', nodeCount: 3, timing: PatroniTiming.FAST.values, clusterDir: '/var/tmp/x/eg' });
    for (const node of spec.nodes) {
      // renderNodeConfigFiles is the list the local cluster writes (lib/local/files.ts).
      expect(renderNodeConfigFiles(spec, node.name).map((f) => f.path).filter((p) => !p.startsWith('/var/tmp/x/eg/'))).toEqual([]);
    }
  });

  test('day two: internet() to private() changes the security group and the nodes\' apt file (metadata), not the instances', () => {
    const before = setupCluster();
    const after = isolated();
    const instanceProps = (t: Template) => Object.values(t.findResources('AWS::EC2::Instance')).map((r) => {
      const { SubnetId, NetworkInterfaces, ...rest } = r.Properties as Record<string, unknown>;
      void SubnetId; void NetworkInterfaces; // the subnets differ between the two VPCs of this test
      return rest;
    });
    const [b, a] = [unpackNode(before.template, 0), unpackNode(after.template, 0)];
    expect(a.userData).toBe(b.userData);
    expect(instanceProps(after.template).map((p) => p.ImageId)).toEqual(instanceProps(before.template).map((p) => p.ImageId));
    expect(b.bundle.files.find((f) => f.path === APT_PROXY_FILE)!.content).toContain('No proxy');
    expect(a.document.generation).not.toBe(b.document.generation);
  });
});
