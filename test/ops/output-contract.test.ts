// The CLI finds a stack's constructs by their output descriptions: this checks that what a
// synthesized construct declares is what lib/ops parses. (Test code may load the constructs;
// lib/ops never does.)
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { DnsFailoverExampleStack } from '../../examples/dns-failover';
import { parseStackOutputs } from '../../lib/ops/stack-outputs';

describe('the contract with the constructs', () => {
  test("parses the outputs a synthesized DnsFailover declares (the CLI reads what the construct writes)", () => {
    const stack = new DnsFailoverExampleStack(new App(), 'DnsExample');
    const outputs = Object.entries(Template.fromStack(stack).toJSON().Outputs as Record<string, { Description?: string }>).map(([key, o]) => ({
      OutputKey: key,
      Description: o.Description,
      // Deployed values: the key's last part stands in for the resolved token.
      OutputValue: o.Description?.endsWith(':worstCaseFailoverSeconds') ? '152' : `value-of-${o.Description?.split(':').pop()}`,
    }));
    const parsed = parseStackOutputs('DnsExample', outputs);
    expect(parsed.dnsFailovers).toEqual([
      {
        path: 'DnsExample/Api',
        primaryHealthCheckId: 'value-of-primaryHealthCheckId',
        secondaryHealthCheckId: 'value-of-secondaryHealthCheckId',
        recordName: 'value-of-recordName',
        hostedZoneId: 'value-of-hostedZoneId',
        worstCaseFailoverSeconds: 152,
      },
    ]);
  });
});
