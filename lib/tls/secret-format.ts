// What the certificate custom resource writes into Secrets Manager, and what readers (the node
// agent, the CLI, the local cluster) expect there. No AWS SDK here: the construct imports it at synth.
import type { ClusterCertificates } from './cluster-certificates';

/** Written into each certificate secret when it is created, so an unissued secret is told from an issued one. */
export const UNISSUED = JSON.stringify({ issued: false });

/** The nodes' secret: the trust anchors, each node's certificate and key by node name, the database's. */
export interface NodeTlsSecret {
  readonly caCert: string;
  readonly databaseCaCert: string;
  readonly databaseCert: string;
  readonly databaseKey: string;
  readonly nodes: Readonly<Record<string, { readonly cert: string; readonly key: string }>>;
}

/** The operators' secret: a client certificate for the CLI, etcdctl and curl, and both CAs. */
export interface OperatorTlsSecret {
  readonly caCert: string;
  readonly databaseCaCert: string;
  readonly cert: string;
  readonly key: string;
}

export function nodeTlsSecret(issued: ClusterCertificates): NodeTlsSecret {
  return {
    caCert: issued.ca.certificatePem,
    databaseCaCert: issued.databaseCa.certificatePem,
    databaseCert: issued.database.certificatePem,
    databaseKey: issued.database.privateKeyPem,
    nodes: Object.fromEntries(Object.entries(issued.nodes).map(([name, c]) => [name, { cert: c.certificatePem, key: c.privateKeyPem }])),
  };
}

export function operatorTlsSecret(issued: ClusterCertificates): OperatorTlsSecret {
  return { caCert: issued.ca.certificatePem, databaseCaCert: issued.databaseCa.certificatePem, cert: issued.operator.certificatePem, key: issued.operator.privateKeyPem };
}
