// A DnsFailover's stack outputs, from its interface: what `fromDnsFailoverAttributes` and the CLI read back.
import { joinOutputList } from '../util/failover-outputs';
import { DnsFailoverOutputKey } from '../util/output-contract';
import { IDnsFailover } from './dns-failover-base';

/** The output values of `dns`'s attributes. */
export function dnsOutputValues(dns: IDnsFailover): { [K in DnsFailoverOutputKey]?: string } {
  return {
    primaryHealthCheckId: dns.primaryHealthCheckId,
    secondaryHealthCheckId: dns.secondaryHealthCheckId,
    recordName: dns.recordName,
    hostedZoneId: dns.hostedZoneId,
    latencyRegions: dns.latencyRegions.length ? joinOutputList(dns.latencyRegions) : undefined,
    https: String(dns.https),
  };
}
