// The local cluster's certificates, issued by the same code as a deployed cluster's
// (lib/tls/cluster-certificates.ts) and written where the rendered configuration expects them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ClusterSpec, NodePaths } from '../patroni/config/spec';
import { TLS_DIR_NAME, TLS_FILE_NAMES, TLS_FILE_OWNERS, TlsFile, tlsFileContents, tlsFileMode } from '../patroni/config/tls';
import { nodeTlsSecret } from '../tls/secret-format';
import { ClusterCertificates, issueClusterCertificates } from '../tls/cluster-certificates';
import { writeFiles } from './layout';
import type { RunAs } from './processes';

/** Days the node and operator certificates are valid (a rehearsal cluster lives hours). */
const LOCAL_CERTIFICATE_DAYS = 90;

/** The cluster-wide files: both CAs (their keys too: a rotation issues from them) and the operator's client certificate. */
export interface LocalTlsFiles {
  readonly caCert: string;
  readonly caKey: string;
  readonly databaseCaCert: string;
  readonly databaseCaKey: string;
  readonly operatorCert: string;
  readonly operatorKey: string;
}

export function localTlsFiles(clusterDir: string): LocalTlsFiles {
  const dir = path.join(clusterDir, 'tls');
  return {
    caCert: path.join(dir, 'ca.crt'),
    caKey: path.join(dir, 'ca.key'),
    databaseCaCert: path.join(dir, 'database-ca.crt'),
    databaseCaKey: path.join(dir, 'database-ca.key'),
    operatorCert: path.join(dir, 'operator.crt'),
    operatorKey: path.join(dir, 'operator.key'),
  };
}

export type CertificateOwners = Readonly<Record<'postgres' | 'etcd', RunAs | undefined>>;

/**
 * Writes one node's certificate files into a new directory and then points `<configDir>/tls` (a
 * symlink) at it in one rename: etcd, which loads its certificate and key at every handshake, sees
 * the old pair or the new pair, never one of each. The generation before is kept (a handshake that
 * resolved the link just before the swap still finds its files); older ones are removed.
 */
export function writeNodeCertificates(paths: NodePaths, certificates: ClusterCertificates, nodeName: string, owners: CertificateOwners): void {
  const content = tlsFileContents(nodeTlsSecret(certificates), nodeName);
  const link = path.join(paths.configDir, TLS_DIR_NAME);
  const previous = fs.existsSync(link) ? fs.readlinkSync(link) : undefined; // throws if `tls` is not a link: never ours
  const generation = `${TLS_DIR_NAME}.${Date.now().toString(36)}`;
  fs.mkdirSync(path.join(paths.configDir, generation), { mode: 0o755 });
  writeFiles(
    (Object.keys(content) as TlsFile[]).map((file) => {
      const owner = TLS_FILE_OWNERS[file] === 'root' ? undefined : owners[TLS_FILE_OWNERS[file] as 'postgres' | 'etcd'];
      return { path: path.join(paths.configDir, generation, TLS_FILE_NAMES[file]), content: content[file], mode: tlsFileMode(file), ...(owner ? { owner } : {}) };
    }),
  );
  const temporary = `${link}.${process.pid}.new`;
  fs.rmSync(temporary, { force: true });
  fs.symlinkSync(generation, temporary);
  fs.renameSync(temporary, link);
  for (const entry of fs.readdirSync(paths.configDir)) {
    if (entry.startsWith(`${TLS_DIR_NAME}.`) && entry !== generation && entry !== previous) {
      fs.rmSync(path.join(paths.configDir, entry), { recursive: true, force: true });
    }
  }
}

/**
 * Issues the cluster's certificates and writes them: the cluster-wide files under `clusterDir`, each
 * node's under its config directory. `endpointNames`: what clients dial besides the nodes (the front).
 */
export function writeLocalCertificates(clusterDir: string, spec: ClusterSpec, endpointNames: readonly string[], owners: CertificateOwners): LocalTlsFiles {
  const certificates = issueClusterCertificates({ clusterName: spec.clusterName, nodes: spec.nodes, endpointNames, days: LOCAL_CERTIFICATE_DAYS });
  writeClusterWideFiles(clusterDir, certificates);
  for (const node of spec.nodes) writeNodeCertificates(node.paths ?? spec.paths!, certificates, node.name, owners);
  return localTlsFiles(clusterDir);
}

/**
 * New node, database and operator certificates from the cluster's existing CAs (so every client
 * still trusts them). Writes the operator's; the caller writes each node's in turn (`writeNodeCertificates`).
 */
export function reissueLocalCertificates(clusterDir: string, spec: ClusterSpec, endpointNames: readonly string[]): ClusterCertificates {
  const files = localTlsFiles(clusterDir);
  const read = (cert: string, key: string) => ({ certificatePem: fs.readFileSync(cert, 'utf8'), privateKeyPem: fs.readFileSync(key, 'utf8') });
  const cas = { ca: read(files.caCert, files.caKey), databaseCa: read(files.databaseCaCert, files.databaseCaKey) };
  const certificates = issueClusterCertificates({ clusterName: spec.clusterName, nodes: spec.nodes, endpointNames, days: LOCAL_CERTIFICATE_DAYS }, cas);
  writeClusterWideFiles(clusterDir, certificates);
  return certificates;
}

function writeClusterWideFiles(clusterDir: string, certificates: ClusterCertificates): void {
  const files = localTlsFiles(clusterDir);
  writeFiles([
    { path: files.caCert, content: certificates.ca.certificatePem, mode: 0o644 },
    { path: files.caKey, content: certificates.ca.privateKeyPem, mode: 0o600 },
    { path: files.databaseCaCert, content: certificates.databaseCa.certificatePem, mode: 0o644 },
    { path: files.databaseCaKey, content: certificates.databaseCa.privateKeyPem, mode: 0o600 },
    { path: files.operatorCert, content: certificates.operator.certificatePem, mode: 0o644 },
    { path: files.operatorKey, content: certificates.operator.privateKeyPem, mode: 0o600 },
  ]);
}
