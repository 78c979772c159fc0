// One cluster's certificates: its own CA, a certificate per node (the node's address in
// subjectAltName, for serving and as a client of its peers), the database's (every node address
// and the endpoints' names: clients reach whichever node leads) and one for operators' tools.
import { isIP } from 'node:net';
import { IssuedCertificate, issueCertificate, issueCertificateAuthority } from './x509';

export interface ClusterCertificateRequest {
  readonly clusterName: string;
  readonly nodes: readonly { readonly name: string; readonly address: string }[];
  /**
   * Addresses and DNS names clients dial the database at besides the nodes' (the load balancer's
   * name, the local cluster's front).
   * @default - none
   */
  readonly endpointNames?: readonly string[];
  /** How long node and operator certificates are valid; the CA lives twice as long. */
  readonly days: number;
  /** @default - the current time */
  readonly now?: Date;
}

export interface ClusterCertificates {
  readonly ca: IssuedCertificate;
  /** By node name. */
  readonly nodes: Readonly<Record<string, IssuedCertificate>>;
  /** PostgreSQL's server certificate, the same on every node. */
  readonly database: IssuedCertificate;
  /** A client certificate for the CLI, etcdctl and curl run by operators. */
  readonly operator: IssuedCertificate;
}

/** A new CA and everything it signs; or, given `ca`, new certificates from that CA (a rotation: clients keep trusting it). */
export function issueClusterCertificates(request: ClusterCertificateRequest, existingCa?: IssuedCertificate): ClusterCertificates {
  const { clusterName, days, now } = request;
  const ca = existingCa ?? issueCertificateAuthority({ commonName: `${clusterName} cluster CA`, days: 2 * days, now });
  const nodes = Object.fromEntries(
    request.nodes.map((node) => [node.name, issueCertificate(ca, { commonName: `${clusterName} ${node.name}`, ipAddresses: [node.address], usage: 'server', days, now })]),
  );
  const names = request.endpointNames ?? [];
  const database = issueCertificate(ca, {
    commonName: `${clusterName} database`,
    ipAddresses: [...request.nodes.map((n) => n.address), ...names.filter((n) => isIP(n))],
    dnsNames: names.filter((n) => !isIP(n)),
    usage: 'server',
    days,
    now,
  });
  const operator = issueCertificate(ca, { commonName: `${clusterName} operator`, usage: 'client', days, now });
  return { ca, nodes, database, operator };
}
