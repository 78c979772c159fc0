// PostgreSQL parameters: the cluster-wide ones Patroni keeps in the DCS, and the per-node ones.
import { ClusterSpec, NodePaths } from './spec';

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

/** `postgresql.parameters` of one node: its socket directory and its PostgreSQL log files. */
export function nodeParameters(paths: NodePaths): Record<string, ParameterValue> {
  return {
    unix_socket_directories: paths.socketDir,
    logging_collector: 'on',
    log_directory: paths.logDir,
    log_filename: 'postgresql-%a.log',
    log_truncate_on_rotation: 'on',
    log_rotation_age: '1d',
  };
}
