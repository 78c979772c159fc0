// pg_hba.conf lines: password auth is scram-sha-256 only, and only from the cluster's and the
// clients' CIDRs; over the local socket the OS user postgres (Patroni itself) gets peer auth. The
// superuser logs in over the network from the nodes' own addresses only (HAProxy and Patroni run
// there). With TLS every network line is `hostssl`: a connection without TLS matches none.
import { isIP } from 'net';
import { ClusterSpec } from './spec';

const OPEN_TO_ALL = new Set(['0.0.0.0/0', '::/0']);
// Role names go unquoted into pg_hba.conf, where these words are keywords, not roles.
const PLAIN_ROLE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HBA_KEYWORDS = new Set(['all', 'sameuser', 'samerole', 'samegroup', 'replication']);

function checkRole(prop: string, role: string): void {
  if (!PLAIN_ROLE.test(role) || HBA_KEYWORDS.has(role.toLowerCase())) {
    throw new Error(`${prop} must be a plain role name (letters, digits, _; not one of pg_hba's keywords ${[...HBA_KEYWORDS].join(', ')}), got '${role}'`);
  }
}

/** A CIDR fit for pg_hba and Patroni's allowlist: never open to all, no whitespace. */
export function checkCidr(prop: string, cidr: string, openMeans = 'PostgreSQL would accept password logins from anywhere'): void {
  if (OPEN_TO_ALL.has(cidr)) {
    throw new Error(`${prop} must not contain '${cidr}': ${openMeans}`);
  }
  if (cidr === '' || /\s/.test(cidr)) {
    throw new Error(`${prop} entries must be CIDRs without whitespace, got '${cidr}'`);
  }
}

/** As `checkCidr`, and an address/prefix that parses (a deploy-time placeholder is not one: use it for literal values only). */
export function checkLiteralCidr(prop: string, cidr: string, openMeans?: string): void {
  checkCidr(prop, cidr, openMeans);
  const [address, prefix, ...rest] = cidr.split('/');
  const family = isIP(address ?? '');
  const bits = Number(prefix);
  if (rest.length || family === 0 || !/^\d{1,3}$/.test(prefix ?? '') || bits > (family === 4 ? 32 : 128)) {
    throw new Error(`${prop} entries must be CIDRs like 10.0.9.0/24 or fd00::/64, got '${cidr}'`);
  }
}

// The address is not padded: on EC2 it is a placeholder filled in at boot, and the line must be
// the same bytes whichever way the value arrives.
function hbaLine(type: string, database: string, user: string, address: string, method: string): string {
  return [type.padEnd(7), database.padEnd(15), user.padEnd(15), address, method].filter((f) => f !== '').join(' ');
}

/** The pg_hba lines for every node of the cluster, in match order. */
export function renderPgHba(spec: ClusterSpec): string[] {
  const replicationUser = spec.credentials.replication.username;
  checkRole('credentials.replication.username', replicationUser);
  spec.clusterCidrs.forEach((c) => checkCidr('clusterCidrs', c));
  spec.clientCidrs.forEach((c) => checkCidr('clientCidrs', c));
  if (spec.clusterCidrs.length === 0) {
    throw new Error('clusterCidrs must not be empty: replicas could not replicate from the leader');
  }

  const superuser = spec.credentials.superuser.username;
  checkRole('credentials.superuser.username', superuser);
  const host = spec.tls ? 'hostssl' : 'host';
  const lines = [
    hbaLine('local', 'all', 'postgres', '', 'peer'),
    hbaLine('local', 'all', 'all', '', 'scram-sha-256'),
    ...spec.nodes.map((n) => hbaLine(host, 'all', superuser, `${n.address}/${n.address.includes(':') ? 128 : 32}`, 'scram-sha-256')),
    // From anywhere else, the superuser is refused before a password is asked for.
    hbaLine('host', 'all', superuser, '0.0.0.0/0', 'reject'),
    hbaLine('host', 'all', superuser, '::/0', 'reject'),
    ...spec.clusterCidrs.map((cidr) => hbaLine(host, 'replication', replicationUser, cidr, 'scram-sha-256')),
    ...spec.clusterCidrs.map((cidr) => hbaLine(host, 'all', 'all', cidr, 'scram-sha-256')),
    ...spec.clientCidrs.map((cidr) => hbaLine(host, 'all', 'all', cidr, 'scram-sha-256')),
  ];
  return [...new Set(lines)]; // a client CIDR equal to a cluster CIDR needs no second line
}
