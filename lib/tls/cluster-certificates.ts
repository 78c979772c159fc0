// One cluster's certificates: its own CA, a certificate per node (the node's address in
// subjectAltName, for serving and as a client of its peers) and one for operators' tools.
import { IssuedCertificate, issueCertificate, issueCertificateAuthority } from './x509';

export interface ClusterCertificateRequest {
  readonly clusterName: string;
  readonly nodes: readonly { readonly name: string; readonly address: string }[];
  /** How long node and operator certificates are valid; the CA lives twice as long. */
  readonly days: number;
  /** @default - the current time */
  readonly now?: Date;
}

export interface ClusterCertificates {
  readonly ca: IssuedCertificate;
  /** By node name. */
  readonly nodes: Readonly<Record<string, IssuedCertificate>>;
  /** A client certificate for the CLI, etcdctl and curl run by operators. */
  readonly operator: IssuedCertificate;
}

export function issueClusterCertificates(request: ClusterCertificateRequest): ClusterCertificates {
  const { clusterName, days, now } = request;
  const ca = issueCertificateAuthority({ commonName: `${clusterName} cluster CA`, days: 2 * days, now });
  const nodes = Object.fromEntries(
    request.nodes.map((node) => [node.name, issueCertificate(ca, { commonName: `${clusterName} ${node.name}`, ipAddresses: [node.address], usage: 'server', days, now })]),
  );
  const operator = issueCertificate(ca, { commonName: `${clusterName} operator`, usage: 'client', days, now });
  return { ca, nodes, operator };
}
