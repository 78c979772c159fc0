// Where a node keeps its certificate files, and who may read them. Written by whoever issues the
// certificates (the local cluster; on EC2, the bootstrap from Secrets Manager), read by etcd,
// Patroni, PostgreSQL and the node agent. The node key is there twice, once per service user that
// reads it, each copy readable by that user alone.
import * as path from 'path';
import type { NodeTlsSecret } from '../../tls/secret-format';
import { NodePaths } from './spec';

export const TLS_FILE_NAMES = {
  /** The cluster CA's certificate: the only issuer etcd, Patroni, HAProxy and the node agent trust. */
  caCert: 'ca.crt',
  /** The database CA's certificate: what replication and pg_rewind check the leader against. */
  databaseCaCert: 'database-ca.crt',
  /** This node's certificate (serverAuth and clientAuth; its address in subjectAltName). */
  nodeCert: 'node.crt',
  /** The node key for Patroni and PostgreSQL (postgres, 0600). */
  nodeKey: 'node.key',
  /** The same key for etcd (etcd, 0600). */
  etcdKey: 'etcd.key',
  /**
   * PostgreSQL's server certificate, from the database CA: the database's identity, the same names
   * on every node (every node address and the endpoints' names), since a client dialling one node's
   * HAProxy or the load balancer reaches whichever node leads.
   */
  databaseCert: 'database.crt',
  /** Its key (postgres, 0600). */
  databaseKey: 'database.key',
} as const;

export type TlsFile = keyof typeof TLS_FILE_NAMES;

/** The directory inside `configDir` that holds them. */
export const TLS_DIR_NAME = 'tls';

/** The users each file belongs to (mode 0644 for certificates, 0600 for keys). */
export const TLS_FILE_OWNERS: Readonly<Record<TlsFile, 'root' | 'postgres' | 'etcd'>> = {
  caCert: 'root',
  databaseCaCert: 'root',
  nodeCert: 'root',
  nodeKey: 'postgres',
  etcdKey: 'etcd',
  databaseCert: 'root',
  databaseKey: 'postgres',
};

export function tlsFilePath(paths: NodePaths, file: TlsFile): string {
  return path.posix.join(paths.configDir, TLS_DIR_NAME, TLS_FILE_NAMES[file]);
}

export function tlsFileMode(file: TlsFile): number {
  return TLS_FILE_OWNERS[file] === 'root' ? 0o644 : 0o600;
}

/**
 * Where each file's content is in the nodes' certificate secret (NodeTlsSecret): a field, or
 * `node.cert` / `node.key` for this node's own entry. The node agent reads the same table from
 * its bundle, so the local cluster and EC2 nodes lay the files out alike.
 */
export const TLS_FILE_SOURCES: Readonly<Record<TlsFile, 'caCert' | 'databaseCaCert' | 'databaseCert' | 'databaseKey' | 'node.cert' | 'node.key'>> = {
  caCert: 'caCert',
  databaseCaCert: 'databaseCaCert',
  nodeCert: 'node.cert',
  nodeKey: 'node.key',
  etcdKey: 'node.key',
  databaseCert: 'databaseCert',
  databaseKey: 'databaseKey',
};

/** Each file's content for `nodeName`, from the nodes' secret. */
export function tlsFileContents(secret: NodeTlsSecret, nodeName: string): Record<TlsFile, string> {
  const node = secret.nodes[nodeName];
  if (!node) throw new Error(`no certificate was issued for node ${nodeName}`);
  const entries = (Object.keys(TLS_FILE_SOURCES) as TlsFile[]).map((file) => {
    const source = TLS_FILE_SOURCES[file];
    return [file, source === 'node.cert' ? node.cert : source === 'node.key' ? node.key : secret[source]] as const;
  });
  return Object.fromEntries(entries) as Record<TlsFile, string>;
}
