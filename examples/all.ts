import { App } from 'aws-cdk-lib';
import { DnsFailoverAliasExampleStack, DnsFailoverExampleStack } from './dns-failover';

/** Every example stack, as `cdk synth` writes them. Construct IDs here are public: they name the stacks. */
export function addExampleStacks(app: App): void {
  // Route 53 health-check metrics and alarms live in us-east-1, so DNS failover stacks do too.
  const dnsEnv = { region: 'us-east-1' };
  new DnsFailoverExampleStack(app, 'DnsFailoverExample', { env: dnsEnv });
  new DnsFailoverAliasExampleStack(app, 'DnsFailoverAliasExample', { env: dnsEnv });
}
