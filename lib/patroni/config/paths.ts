// Where the rendered files and the services' state live on a node.
import * as path from 'path';
import { ClusterNode, ClusterSpec, NodePaths } from './spec';

/** File names inside `NodePaths.configDir`. */
export const CONFIG_FILE_NAMES = {
  patroni: 'patroni.yml',
  etcd: 'etcd.conf.yml',
  haproxy: 'haproxy.cfg',
  roleChangeCallback: 'on_role_change.sh',
  metricsPublisher: 'metrics_publisher.py',
} as const;

export type ConfigFile = keyof typeof CONFIG_FILE_NAMES;

/**
 * The layout the EC2 bootstrap script prepares on Debian 12. The data directory is not Debian's
 * `<ver>/main`, so a cluster that `postgresql-common` might create by itself can never be mistaken
 * for Patroni's.
 */
export function debianNodePaths(postgresVersion: number): NodePaths {
  return {
    configDir: '/etc/cdk-failover',
    dataDir: `/var/lib/postgresql/${postgresVersion}/patroni`,
    binDir: `/usr/lib/postgresql/${postgresVersion}/bin`,
    socketDir: '/var/run/postgresql',
    pgpass: '/var/lib/postgresql/.pgpass_patroni',
    // On the data volume, beside PostgreSQL's: a replacement instance (same address, same volume)
    // resumes the same etcd member instead of failing as 'already bootstrapped' with an empty one.
    etcdDataDir: '/var/lib/postgresql/etcd',
    logDir: '/var/log/cdk-failover',
    runDir: '/run/cdk-failover',
  };
}

// Paths go unquoted into systemd units, haproxy.cfg and shell: absolute, and no character that
// any of them would read specially (whitespace, quotes, `$`, systemd's `%` specifiers).
export const SAFE_PATH = /^\/[A-Za-z0-9._/-]*$/;

function checkPaths(owner: string, paths: NodePaths): NodePaths {
  for (const [key, value] of Object.entries(paths)) {
    if (!SAFE_PATH.test(value)) {
      throw new Error(`${owner}.${key} must be an absolute path of letters, digits and . _ / -, got '${value}'`);
    }
  }
  return paths;
}

/** The spec-wide paths (`spec.paths`, else Debian's), checked for safe characters. */
export function clusterPaths(spec: ClusterSpec): NodePaths {
  return spec.paths ? checkPaths('paths', spec.paths) : debianNodePaths(spec.postgresVersion);
}

/** The node's paths (its own, else the spec-wide ones), checked for safe characters. */
export function nodePaths(spec: ClusterSpec, node: ClusterNode): NodePaths {
  return node.paths ? checkPaths(`nodes[${node.name}].paths`, node.paths) : clusterPaths(spec);
}

/** Absolute path of one of the rendered config files on a node. */
export function configFilePath(paths: NodePaths, file: ConfigFile): string {
  return path.posix.join(paths.configDir, CONFIG_FILE_NAMES[file]);
}
