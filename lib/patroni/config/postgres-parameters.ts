// PostgreSQL parameters: the cluster-wide ones Patroni keeps in the DCS, and the per-node ones.
import { ClusterSpec, NodePaths } from './spec';
import { tlsFilePath } from './tls';

type ParameterValue = string | number | boolean;

/**
 * Parameters the renderers set themselves or Patroni manages; `postgresParameters` may not set them.
 * (PatroniCluster's validation refuses them with its own message first; this is the backstop.)
 */
export const RENDERER_OWNED_PARAMETERS: readonly string[] = [
  'wal_level',
  'hot_standby',
  'wal_log_hints',
  'password_encryption',
  'synchronous_standby_names',
  'listen_addresses',
  'port',
  'unix_socket_directories',
  'hba_file',
  'ident_file',
  'data_directory',
  'config_file',
  'cluster_name',
  'primary_conninfo',
  'primary_slot_name',
  'restore_command',
  'recovery_target_timeline',
  'ssl',
  'ssl_cert_file',
  'ssl_key_file',
  'ssl_ca_file',
  'ssl_min_protocol_version',
];

// Replication needs these; pg_rewind needs wal_log_hints (checksums cover it too, belt and braces).
const CLUSTER_DEFAULTS: Readonly<Record<string, ParameterValue>> = {
  wal_level: 'replica',
  hot_standby: 'on',
  wal_log_hints: 'on',
  max_wal_senders: 10,
  max_replication_slots: 10,
  wal_keep_size: '1GB',
  password_encryption: 'scram-sha-256',
};

function sortedByName(params: Record<string, ParameterValue>): Record<string, ParameterValue> {
  return Object.fromEntries(Object.entries(params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** `bootstrap.dcs.postgresql.parameters`: the defaults above plus `spec.postgresParameters`, sorted. */
export function clusterParameters(spec: ClusterSpec): Record<string, ParameterValue> {
  for (const name of Object.keys(spec.postgresParameters)) {
    if (RENDERER_OWNED_PARAMETERS.includes(name)) {
      throw new Error(
        `postgresParameters must not set '${name}': the Patroni configuration sets it (not settable: ${RENDERER_OWNED_PARAMETERS.join(', ')})`,
      );
    }
  }
  return sortedByName({ ...CLUSTER_DEFAULTS, ...spec.postgresParameters });
}

/** `postgresql.parameters` of one node: its socket directory, its PostgreSQL log files and, with TLS, its certificate. */
export function nodeParameters(spec: ClusterSpec, paths: NodePaths): Record<string, ParameterValue> {
  return {
    ...(spec.tls
      ? {
          ssl: 'on',
          ssl_cert_file: tlsFilePath(paths, 'databaseCert'),
          ssl_key_file: tlsFilePath(paths, 'databaseKey'),
          ssl_min_protocol_version: 'TLSv1.2',
        }
      : {}),
    unix_socket_directories: paths.socketDir,
    logging_collector: 'on',
    log_directory: paths.logDir,
    log_filename: 'postgresql-%a.log',
    log_truncate_on_rotation: 'on',
    log_rotation_age: '1d',
  };
}
