import { Resolver } from 'node:dns/promises';

/**
 * The DNS queries a drill makes itself: the zone's name servers' addresses, and a question put
 * straight to one of them. Injected in tests; `SystemDnsQueries` uses node:dns.
 */
export interface DnsQueries {
  /** IPv4 addresses of a host name (a name server), through the system's resolver. */
  addressesOf(host: string): Promise<string[]>;
  /** Ask `server` (an IP address) for `name`'s records of `type` (A, AAAA, CNAME). */
  ask(server: string, name: string, type: string): Promise<string[]>;
}

export class SystemDnsQueries implements DnsQueries {
  constructor(private readonly timeoutMs = 3000) {}

  public async addressesOf(host: string): Promise<string[]> {
    return new Resolver({ timeout: this.timeoutMs, tries: 2 }).resolve4(host);
  }

  public async ask(server: string, name: string, type: string): Promise<string[]> {
    const resolver = new Resolver({ timeout: this.timeoutMs, tries: 2 });
    resolver.setServers([server]);
    switch (type) {
      case 'A':
        return resolver.resolve4(name);
      case 'AAAA':
        return resolver.resolve6(name);
      case 'CNAME':
        return resolver.resolveCname(name);
      default:
        throw new Error(`cannot ask for ${type} records`);
    }
  }
}

/** Lower case, no trailing dot: how answers and record values are compared. */
export function normalizeDnsValue(value: string): string {
  return value.trim().toLowerCase().replace(/\.$/, '');
}
