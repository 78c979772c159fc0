// The local cluster's certificates, issued by the same code as a deployed cluster's
// (lib/tls/cluster-certificates.ts) and written where the rendered configuration expects them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ClusterSpec, NodePaths } from '../patroni/config/spec';
import { TLS_FILE_OWNERS, TlsFile, tlsFileMode, tlsFilePath } from '../patroni/config/tls';
import { ClusterCertificates, issueClusterCertificates } from '../tls/cluster-certificates';
import { FileToWrite, writeFiles } from './layout';
import type { RunAs } from './processes';

/** Days the node and operator certificates are valid (a rehearsal cluster lives hours). */
const LOCAL_CERTIFICATE_DAYS = 90;

/** The cluster-wide files: the CA (its key too: a rehearsal re-issues node certificates) and the operator's client certificate. */
export interface LocalTlsFiles {
  readonly caCert: string;
  readonly caKey: string;
  readonly operatorCert: string;
  readonly operatorKey: string;
}

export function localTlsFiles(clusterDir: string): LocalTlsFiles {
  const dir = path.join(clusterDir, 'tls');
  return {
    caCert: path.join(dir, 'ca.crt'),
    caKey: path.join(dir, 'ca.key'),
    operatorCert: path.join(dir, 'operator.crt'),
    operatorKey: path.join(dir, 'operator.key'),
  };
}

/** The files for one node, owned by the users that read them. */
export function nodeCertificateFiles(paths: NodePaths, certificates: ClusterCertificates, nodeName: string, owners: Readonly<Record<'postgres' | 'etcd', RunAs | undefined>>): FileToWrite[] {
  const node = certificates.nodes[nodeName];
  if (!node) throw new Error(`no certificate was issued for node ${nodeName}`);
  const content: Record<TlsFile, string> = {
    caCert: certificates.ca.certificatePem,
    nodeCert: node.certificatePem,
    nodeKey: node.privateKeyPem,
    etcdKey: node.privateKeyPem,
    databaseCert: certificates.database.certificatePem,
    databaseKey: certificates.database.privateKeyPem,
  };
  return (Object.keys(content) as TlsFile[]).map((file) => {
    const owner = TLS_FILE_OWNERS[file] === 'root' ? undefined : owners[TLS_FILE_OWNERS[file] as 'postgres' | 'etcd'];
    return { path: tlsFilePath(paths, file), content: content[file], mode: tlsFileMode(file), ...(owner ? { owner } : {}) };
  });
}

/**
 * Issues the cluster's certificates and writes them: the cluster-wide files under `clusterDir`, each
 * node's under its config directory. `endpointNames`: what clients dial besides the nodes (the front).
 */
export function writeLocalCertificates(
  clusterDir: string,
  spec: ClusterSpec,
  endpointNames: readonly string[],
  owners: Readonly<Record<'postgres' | 'etcd', RunAs | undefined>>,
): LocalTlsFiles {
  const certificates = issueClusterCertificates({ clusterName: spec.clusterName, nodes: spec.nodes, endpointNames, days: LOCAL_CERTIFICATE_DAYS });
  writeClusterWideFiles(clusterDir, certificates);
  for (const node of spec.nodes) {
    writeFiles(nodeCertificateFiles(node.paths ?? spec.paths!, certificates, node.name, owners));
  }
  return localTlsFiles(clusterDir);
}

/**
 * New node, database and operator certificates from the cluster's existing CA (so every client
 * still trusts them). Writes the operator's; the caller writes each node's in turn (`nodeCertificateFiles`).
 */
export function reissueLocalCertificates(clusterDir: string, spec: ClusterSpec, endpointNames: readonly string[]): ClusterCertificates {
  const files = localTlsFiles(clusterDir);
  const ca = { certificatePem: fs.readFileSync(files.caCert, 'utf8'), privateKeyPem: fs.readFileSync(files.caKey, 'utf8') };
  const certificates = issueClusterCertificates({ clusterName: spec.clusterName, nodes: spec.nodes, endpointNames, days: LOCAL_CERTIFICATE_DAYS }, ca);
  writeClusterWideFiles(clusterDir, certificates);
  return certificates;
}

function writeClusterWideFiles(clusterDir: string, certificates: ClusterCertificates): void {
  const files = localTlsFiles(clusterDir);
  writeFiles([
    { path: files.caCert, content: certificates.ca.certificatePem, mode: 0o644 },
    { path: files.caKey, content: certificates.ca.privateKeyPem, mode: 0o600 },
    { path: files.operatorCert, content: certificates.operator.certificatePem, mode: 0o644 },
    { path: files.operatorKey, content: certificates.operator.privateKeyPem, mode: 0o600 },
  ]);
}
