// A fake Route 53 behind aws-sdk-client-mock: one DnsFailover's zone, records and health checks,
// whose answer follows the primary check's Disabled + Inverted switch after a few looks.
import {
  GetHealthCheckCommand,
  GetHealthCheckStatusCommand,
  GetHostedZoneCommand,
  HealthCheckVersionMismatch,
  ListResourceRecordSetsCommand,
  Route53Client,
  TestDNSAnswerCommand,
  UpdateHealthCheckCommand,
} from '@aws-sdk/client-route-53';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import type { DnsQueries } from '../../lib/ops/dns-answers';
import type { DnsFailoverOutputs } from '../../lib/ops/stack-outputs';

export const PRIMARY_IP = '203.0.113.10';
export const SECONDARY_IP = '198.51.100.20';
export const NAME_SERVERS = ['ns-1.awsdns-01.org', 'ns-2.awsdns-02.co.uk'];

export const TARGET: DnsFailoverOutputs = {
  path: 'DnsStack/Api',
  primaryHealthCheckId: 'hc-primary',
  secondaryHealthCheckId: 'hc-secondary',
  recordName: 'api.example.com',
  hostedZoneId: 'Z0123456789',
  worstCaseFailoverSeconds: 162,
};

export class FakeRoute53 {
  public version = 7;
  public disabled = false;
  public inverted = false;
  /** Looks (TestDNSAnswer) after a switch change before the answer follows it. */
  public propagationLooks = 2;
  /** The answer never follows the switch (a stuck propagation). */
  public stuck = false;
  /** Throw HealthCheckVersionMismatch on this many next UpdateHealthCheck calls (bumping the version). */
  public mismatches = 0;
  public readonly mock: AwsClientStub<Route53Client>;
  public readonly client: Route53Client;
  private side: 'primary' | 'secondary' = 'primary';
  private looksSinceChange = 0;

  /** @param everyClient mock every Route53Client (the CLI makes its own), not just `this.client` */
  constructor(everyClient = false) {
    this.client = new Route53Client({ region: 'us-east-1' });
    this.mock = everyClient ? mockClient(Route53Client) : mockClient(this.client);
    this.mock.on(GetHostedZoneCommand).callsFake(() => ({
      HostedZone: { Id: `/hostedzone/${TARGET.hostedZoneId}`, Name: 'example.com.', CallerReference: 'x', Config: { PrivateZone: false } },
      DelegationSet: { NameServers: NAME_SERVERS },
    }));
    this.mock.on(ListResourceRecordSetsCommand).callsFake(() => ({
      ResourceRecordSets: [
        { Name: 'api.example.com.', Type: 'A', SetIdentifier: 'Primary', Failover: 'PRIMARY', TTL: 60, HealthCheckId: 'hc-primary', ResourceRecords: [{ Value: PRIMARY_IP }] },
        { Name: 'api.example.com.', Type: 'A', SetIdentifier: 'Secondary', Failover: 'SECONDARY', TTL: 60, HealthCheckId: 'hc-secondary', ResourceRecords: [{ Value: SECONDARY_IP }] },
        { Name: 'www.example.com.', Type: 'A', TTL: 60, ResourceRecords: [{ Value: '192.0.2.1' }] },
      ],
      IsTruncated: false,
      MaxItems: 100,
    }));
    this.mock.on(GetHealthCheckCommand).callsFake((input: { HealthCheckId: string }) => ({
      HealthCheck: {
        Id: input.HealthCheckId,
        CallerReference: 'x',
        HealthCheckVersion: input.HealthCheckId === 'hc-primary' ? this.version : 1,
        HealthCheckConfig: {
          Type: 'HTTPS',
          Disabled: input.HealthCheckId === 'hc-primary' ? this.disabled : false,
          Inverted: input.HealthCheckId === 'hc-primary' ? this.inverted : false,
        },
      },
    }));
    this.mock.on(GetHealthCheckStatusCommand).callsFake(() => ({
      HealthCheckObservations: ['us-east-1', 'eu-west-1', 'us-west-2'].map((Region) => ({
        Region,
        IPAddress: '15.177.0.1',
        StatusReport: { Status: 'Success: HTTP Status Code 200, OK', CheckedTime: new Date('2026-01-01T00:00:00Z') },
      })),
    }));
    this.mock.on(UpdateHealthCheckCommand).callsFake((input: { HealthCheckVersion?: number; Disabled?: boolean; Inverted?: boolean }) => {
      if (this.mismatches > 0) {
        this.mismatches--;
        this.version++; // someone else changed it meanwhile
        throw new HealthCheckVersionMismatch({ message: 'The value of HealthCheckVersion does not match', $metadata: {} });
      }
      if (input.HealthCheckVersion !== this.version) {
        throw new HealthCheckVersionMismatch({ message: `version ${input.HealthCheckVersion} is not ${this.version}`, $metadata: {} });
      }
      if (input.Disabled !== undefined) this.disabled = input.Disabled;
      if (input.Inverted !== undefined) this.inverted = input.Inverted;
      this.version++;
      this.looksSinceChange = 0;
      return { HealthCheck: { Id: 'hc-primary', CallerReference: 'x', HealthCheckVersion: this.version, HealthCheckConfig: { Type: 'HTTPS', Disabled: this.disabled, Inverted: this.inverted } } };
    });
    this.mock.on(TestDNSAnswerCommand).callsFake(() => {
      this.look();
      return { Nameserver: NAME_SERVERS[0], RecordName: 'api.example.com', RecordType: 'A', RecordData: [this.valueNow()], ResponseCode: 'NOERROR', Protocol: 'UDP' };
    });
  }

  /** The DNS side: name servers resolve to documentation addresses and answer as Route 53 does. */
  public readonly dns: DnsQueries & { asked: Array<{ server: string; name: string; type: string }> } = {
    asked: [],
    addressesOf: async (host: string) => [`192.0.2.${NAME_SERVERS.indexOf(host) + 101}`],
    ask: async (server: string, name: string, type: string) => {
      this.dns.asked.push({ server, name, type });
      return [this.valueNow()];
    },
  };

  public get forced(): boolean {
    return this.disabled && this.inverted;
  }

  public updateCalls(): Array<{ HealthCheckId?: string; HealthCheckVersion?: number; Disabled?: boolean; Inverted?: boolean }> {
    return this.mock.commandCalls(UpdateHealthCheckCommand).map((c) => c.args[0].input);
  }

  private look(): void {
    this.looksSinceChange++;
    const wanted = this.forced ? 'secondary' : 'primary';
    if (!this.stuck && this.looksSinceChange > this.propagationLooks) this.side = wanted;
  }

  private valueNow(): string {
    return this.side === 'primary' ? PRIMARY_IP : SECONDARY_IP;
  }
}
