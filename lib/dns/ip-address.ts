import { BlockList, isIP } from 'net';

// Ranges Route 53 refuses for IP health checks: private, loopback, link-local, shared (CGNAT),
// "this network", multicast and reserved. Documentation ranges (TEST-NET) stay allowed so that
// examples can use them.
const NON_ROUTABLE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NON_ROUTABLE.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  NON_ROUTABLE.addSubnet(net, prefix, 'ipv6');
}

/** 4 or 6 for a literal IP address, 0 for anything else. */
export function ipVersion(address: string): 0 | 4 | 6 {
  return isIP(address) as 0 | 4 | 6;
}

/** True when Route 53 would refuse the address for an IP health check. */
export function isNonRoutable(address: string): boolean {
  const version = ipVersion(address);
  if (version === 0) return false;
  if (version === 6) {
    // IPv4-mapped IPv6 (::ffff:10.0.0.1) is judged by its IPv4 part.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return NON_ROUTABLE.check(mapped[1], 'ipv4');
    return NON_ROUTABLE.check(address, 'ipv6');
  }
  return NON_ROUTABLE.check(address, 'ipv4');
}
