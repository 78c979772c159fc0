// One cluster's certificates: its own CA, a certificate per node (the node's address in
// subjectAltName, for serving and as a client of its peers), one for operators' tools, and, from a
// second CA that only PostgreSQL's clients trust, the database's (every node address and the
// endpoints' names: clients reach whichever node leads).
import { isIP } from 'node:net';
import { IssuedCertificate, issueCertificate, issueCertificateAuthority, MAX_COMMON_NAME_LENGTH, renewCertificateAuthority } from './x509';

export interface ClusterCertificateRequest {
  readonly clusterName: string;
  readonly nodes: readonly { readonly name: string; readonly address: string }[];
  /**
   * Addresses and DNS names clients dial the database at besides the nodes' (the load balancer's
   * name, the local cluster's front).
   * @default - none
   */
  readonly endpointNames?: readonly string[];
  /** How long node and operator certificates are valid; the CAs' certificates twice as long. */
  readonly days: number;
  /** @default - the current time */
  readonly now?: Date;
}

export interface ClusterCertificates {
  /** The CA etcd, Patroni, HAProxy and the node agent trust: it signs the node and operator certificates. */
  readonly ca: IssuedCertificate;
  /** By node name. */
  readonly nodes: Readonly<Record<string, IssuedCertificate>>;
  /**
   * The CA PostgreSQL's clients (applications, replication, pg_rewind) trust, and nothing else
   * does: the database certificate names every node, so under the cluster CA its key (on every
   * node) would pass for any node's etcd or Patroni.
   */
  readonly databaseCa: IssuedCertificate;
  /** PostgreSQL's server certificate (serverAuth only), the same on every node. */
  readonly database: IssuedCertificate;
  /** A client certificate for the CLI, etcdctl and curl run by operators. */
  readonly operator: IssuedCertificate;
}

/**
 * The version of what the certificates hold. Raise it with any change to it: deployed clusters then
 * get new certificates from their CAs at the next deploy. 2: node certificates name their address
 * as a DNS name too (pgBackRest's TLS server).
 */
export const CERTIFICATE_PROFILE = '2';

/** Certificates are valid 1 to this many days (the CAs twice as long). */
export const MAX_VALIDITY_DAYS = 3650;

/** Whether `days` is a validity the issuer accepts: a whole number from 1 to MAX_VALIDITY_DAYS. */
export function isValidityDays(days: number): boolean {
  return Number.isInteger(days) && days >= 1 && days <= MAX_VALIDITY_DAYS;
}

/** The two CAs of a cluster (their keys are kept for the cluster's life; a rotation renews their certificates). */
export interface ClusterCas {
  readonly ca: IssuedCertificate;
  readonly databaseCa: IssuedCertificate;
}

/**
 * New CAs and everything they sign; or, given `existing`, a rotation: the CAs renewed (their
 * certificates signed again with the same keys, valid twice `days` from now) and new certificates
 * from them. A CA certificate from before verifies the new certificates (same key) until its own
 * end; the previous rotation's outlives them when `days` did not grow and that rotation was less
 * than `days` ago. So a cluster rotated in time never meets its CAs' end.
 */
export function issueClusterCertificates(request: ClusterCertificateRequest, existing?: ClusterCas): ClusterCertificates {
  const { clusterName, days, now } = request;
  const name = (what: string) => commonName(clusterName, what);
  const ca = existing ? renewCertificateAuthority(existing.ca, { days: 2 * days, now }) : issueCertificateAuthority({ commonName: name('cluster CA'), days: 2 * days, now });
  const databaseCa = existing
    ? renewCertificateAuthority(existing.databaseCa, { days: 2 * days, now })
    : issueCertificateAuthority({ commonName: name('database CA'), days: 2 * days, now });
  // The address as a DNS name too: pgBackRest 2.45 (Debian 12) matches the host it dials against
  // DNS names and the CN only, not IP addresses (pgbackrest/pgbackrest#1977, fixed in 2.46).
  const nodes = Object.fromEntries(
    request.nodes.map((node) => [node.name, issueCertificate(ca, { commonName: name(node.name), ipAddresses: [node.address], dnsNames: [node.address], usage: 'peer', days, now })]),
  );
  const names = request.endpointNames ?? [];
  const database = issueCertificate(databaseCa, {
    commonName: name('database'),
    ipAddresses: [...request.nodes.map((n) => n.address), ...names.filter((n) => isIP(n))],
    dnsNames: names.filter((n) => !isIP(n)),
    usage: 'server',
    days,
    now,
  });
  const operator = issueCertificate(ca, { commonName: name('operator'), usage: 'client', days, now });
  return { ca, nodes, databaseCa, database, operator };
}

/** A node certificate's common name: pgBackRest's TLS server authorizes its clients by it. */
export function nodeCommonName(clusterName: string, nodeName: string): string {
  return commonName(clusterName, nodeName);
}

/** `<cluster> <what>`, the cluster's name shortened to fit RFC 5280's 64 characters (the subject is a label; the SANs identify). */
function commonName(clusterName: string, what: string): string {
  const room = MAX_COMMON_NAME_LENGTH - what.length - 1;
  if (room < 1) throw new Error(`'${what}' leaves no room for the cluster name in a ${MAX_COMMON_NAME_LENGTH}-character common name`);
  return `${clusterName.slice(0, room)} ${what}`;
}
