import { App } from 'aws-cdk-lib';
import { DnsFailoverAliasExampleStack, DnsFailoverExampleStack } from './dns-failover';
import { MultiRegionPrimaryStack, MultiRegionSecondaryStack, MultiRegionStandbyStack } from './multi-region';
import { PatroniClusterExampleStack } from './patroni-cluster';

/** Every example stack, as `cdk synth` writes them. Construct IDs here are public: they name the stacks. */
export function addExampleStacks(app: App): void {
  // Route 53 health-check metrics and alarms live in us-east-1, so DNS failover stacks do too.
  const dnsEnv = { region: 'us-east-1' };
  new DnsFailoverExampleStack(app, 'DnsFailoverExample', { env: dnsEnv });
  new DnsFailoverAliasExampleStack(app, 'DnsFailoverAliasExample', { env: dnsEnv });
  new PatroniClusterExampleStack(app, 'PatroniClusterExample', {
    env: { region: 'eu-west-1' },
    availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
  });

  // Multi-region: us-east-1 holds the primary database, DNS failover and alarms; us-west-2 stands
  // by with a standby database fed from the primary's second backup repository there.
  // Prefix list IDs are the Route 53 health checkers' per region; look yours up once
  // (aws ec2 describe-managed-prefix-lists) and pass them as context.
  const clientCidr = String(app.node.tryGetContext('cdk-failover:clientCidr') ?? '198.51.100.0/24');
  const secondary = new MultiRegionSecondaryStack(app, 'MultiRegionSecondary', {
    env: { region: 'us-west-2' },
    availabilityZones: ['us-west-2a', 'us-west-2b', 'us-west-2c'],
    cidr: '10.61.0.0/16',
    healthCheckerPrefixListId: String(app.node.tryGetContext('cdk-failover:usWest2HealthCheckPrefixList') ?? 'pl-0a1b2c3d4e5f60002'),
    clientCidr,
  });
  const primary = new MultiRegionPrimaryStack(app, 'MultiRegionPrimary', {
    env: { region: 'us-east-1' },
    availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'],
    cidr: '10.60.0.0/16',
    healthCheckerPrefixListId: String(app.node.tryGetContext('cdk-failover:usEast1HealthCheckPrefixList') ?? 'pl-0a1b2c3d4e5f60001'),
    clientCidr,
    secondaryLoadBalancer: secondary.loadBalancer,
    secondaryRepository: secondary.repository,
    secondaryRegion: 'us-west-2',
  });
  // The standby takes the primary by plain values: its writer endpoint and security group from
  // the primary stack's outputs (context; unused by a standby fed from the repository).
  const db = primary.cluster;
  new MultiRegionStandbyStack(app, 'MultiRegionStandby', {
    env: { region: 'us-west-2' },
    secondary,
    primary: {
      clusterName: db.clusterName,
      nodes: db.nodeNames.length,
      endpointHostname: String(app.node.tryGetContext('cdk-failover:primaryDbEndpointHostname') ?? 'shop-db-0123456789abcdef.elb.us-east-1.amazonaws.com'),
      securityGroupId: String(app.node.tryGetContext('cdk-failover:primaryDbSecurityGroupId') ?? 'sg-0123456789abcdef0'),
      backupLimits: db.backupLimits,
    },
  });
}
