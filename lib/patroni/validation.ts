import { Size, Token } from 'aws-cdk-lib';
import { ClusterPorts, ClusterTiming, isClusterName, PRODUCTION_PORTS } from './config';
import { watchdogSafetyMargin } from './config/timing-profiles';

/** The production ports: the nodes', and the load balancer's writer and reader listeners. */
export const CLUSTER_PORTS: ClusterPorts & { readonly writer: number; readonly reader: number } = {
  ...PRODUCTION_PORTS,
  writer: 5432,
  reader: 5433,
};

/**
 * Parameters Patroni or this construct set: setting them by hand would break replication, routing
 * or failover. Patroni's docs list the first group as managed.
 */
export const MANAGED_POSTGRES_PARAMETERS: readonly string[] = [
  'synchronous_standby_names',
  'synchronous_commit',
  'hot_standby',
  'listen_addresses',
  'port',
  'unix_socket_directories',
  'cluster_name',
  'wal_level',
  'wal_log_hints',
  'max_wal_senders',
  'max_replication_slots',
  'max_connections',
  'max_locks_per_transaction',
  'max_worker_processes',
  'max_prepared_transactions',
  'track_commit_timestamp',
  'password_encryption',
  'primary_conninfo',
  'primary_slot_name',
  'restore_command',
  'recovery_target_timeline',
  'data_directory',
  'hba_file',
  'ident_file',
  'config_file',
  // TLS: the construct's certificates, or none.
  'ssl',
  'ssl_cert_file',
  'ssl_key_file',
  'ssl_ca_file',
  'ssl_min_protocol_version',
];

export interface ClusterPropsToValidate {
  readonly nodes: number;
  readonly clusterName: string;
  readonly maximumLagOnFailover: Size;
  readonly replicaMaxLag: Size;
  readonly dataVolumeSize: Size;
  readonly postgresParameters: Record<string, string>;
  readonly timing: ClusterTiming;
  /** WatchdogMode's name. */
  readonly watchdog: string;
}

/** Throws, naming the prop, the value and what is allowed. */
export function validateClusterProps(p: ClusterPropsToValidate): void {
  if (!Token.isUnresolved(p.nodes) && p.nodes !== 3 && p.nodes !== 5) {
    const why =
      p.nodes === 1 || p.nodes === 2
        ? `${p.nodes} node(s) cannot survive the loss of one: etcd needs a majority, and ${p.nodes} has no spare member`
        : p.nodes % 2 === 0
          ? `an even count tolerates no more failures than ${p.nodes - 1} (etcd needs a majority) and only adds a node that can fail`
          : 'this construct supports 3 (tolerates one loss) or 5 (tolerates two)';
    throw new Error(`nodes must be 3 or 5, got ${p.nodes}: ${why}`);
  }
  if (!Token.isUnresolved(p.clusterName) && !isClusterName(p.clusterName)) {
    throw new Error(
      `clusterName must be 1-63 lowercase letters, digits and inner hyphens (it is the etcd key prefix and part of node names), got '${p.clusterName}'`,
    );
  }
  const bytes = (name: string, size: Size) => {
    const b = size.toBytes();
    if (!(b > 0)) throw new Error(`${name} must be positive, got ${b} bytes`);
  };
  if (p.watchdog !== 'off') watchdogSafetyMargin(p.timing, `timing (with watchdog WatchdogMode.${p.watchdog.toUpperCase()})`);
  bytes('maximumLagOnFailover', p.maximumLagOnFailover);
  bytes('replicaMaxLag', p.replicaMaxLag);
  const gib = p.dataVolumeSize.toGibibytes({ rounding: 2 /* NONE */ });
  if (!Number.isInteger(gib) || gib < 1 || gib > 16384) {
    throw new Error(`dataVolumeSize must be a whole number of GiB from 1 to 16384 (gp3's limits), got ${gib} GiB`);
  }
  for (const name of Object.keys(p.postgresParameters)) {
    if (MANAGED_POSTGRES_PARAMETERS.includes(name)) {
      throw new Error(
        `postgresParameters.${name} is managed by Patroni or by this construct and cannot be set here ` +
          `(managed: ${MANAGED_POSTGRES_PARAMETERS.join(', ')})`,
      );
    }
    if (!/^[a-z_][a-z0-9_.]*$/.test(name)) {
      throw new Error(`postgresParameters: '${name}' is not a PostgreSQL parameter name (lowercase letters, digits, _ and .)`);
    }
  }
}
