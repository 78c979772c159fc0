// A standby cluster (Patroni's `standby_cluster`): its standby leader is made from the primary's
// newest backup in the pgBackRest repository and replays the WAL the primary archives there; its
// own replicas stream from the standby leader. `standby_cluster` is written into bootstrap.dcs
// only, never into what the node agent PATCHes: promotion (`failover promote`) removes it from
// /config, and no later deploy puts it back.
import { checkedBackup, checkOtherStanza, fromStanza } from './pgbackrest';
import { ClusterNode, ClusterSpec, StandbySourceSpec } from './spec';

/** The `postgresql` replica method the standby leader is made with (Patroni runs its command). */
export const STANDBY_REPLICA_METHOD = 'pgbackrest_standby';

/** The spec's standby source, checked; undefined for a primary cluster. */
export function checkedStandby(spec: ClusterSpec): StandbySourceSpec | undefined {
  const backup = checkedBackup(spec);
  const source = backup?.standbyOf;
  if (!source) return undefined;
  checkOtherStanza(spec, 'backup.standbyOf', source, 'a cluster cannot follow itself');
  if (backup.restoreFrom) throw new Error('backup.standbyOf and backup.restoreFrom exclude each other: a standby cluster is made from its primary');
  if ((source.host === undefined) !== (source.port === undefined)) {
    throw new Error(`backup.standbyOf.host and backup.standbyOf.port go together (the primary's writer endpoint), got host ${source.host ?? 'none'} and port ${source.port ?? 'none'}`);
  }
  if (source.host !== undefined && !/^[A-Za-z0-9.:-]+$/.test(source.host)) {
    throw new Error(`backup.standbyOf.host must be a host name or an IP address, got '${source.host}'`);
  }
  if (source.port !== undefined && (!Number.isInteger(source.port) || source.port < 1 || source.port > 65535)) {
    throw new Error(`backup.standbyOf.port must be a port from 1 to 65535, got ${source.port}`);
  }
  if (source.primaryDatabaseCa !== undefined && source.host === undefined) {
    throw new Error("backup.standbyOf.primaryDatabaseCa goes with host and port: it is the CA replication checks the primary's writer endpoint against");
  }
  if (source.primaryDatabaseCa !== undefined && !spec.tls) {
    throw new Error('backup.standbyOf.primaryDatabaseCa needs tls: without TLS replication checks no certificate');
  }
  return source;
}

/** `bootstrap.dcs` additions: `standby_cluster`, fed from the primary's repository (and its writer endpoint, given one). */
export function standbyClusterSettings(spec: ClusterSpec, node: ClusterNode): Record<string, unknown> {
  const source = checkedStandby(spec);
  if (!source) return {};
  return {
    standby_cluster: {
      // Streaming while the primary's writer endpoint answers; the repository when it does not.
      ...(source.host !== undefined ? { host: source.host, port: source.port } : {}),
      restore_command: fromStanza(spec, node, source, ['archive-get', '%f', '"%p"']),
      // Patroni 3.0.2 makes every member of a standby cluster with these (ha.py's clone wraps the
      // standby leader as a remote member): its replicas copy the standby leader (basebackup),
      // falling back to the primary's backup; the standby leader, with no member to copy, gets
      // only the methods marked no_leader.
      create_replica_methods: ['basebackup', STANDBY_REPLICA_METHOD],
    },
  };
}

/** `postgresql` additions: the method that restores the primary's newest backup into the standby leader. */
export function standbyReplicaMethod(spec: ClusterSpec, node: ClusterNode): Record<string, unknown> {
  const source = checkedStandby(spec);
  if (!source) return {};
  // no_leader: the standby leader has no member to copy from (no standby_cluster host), and Patroni
  // 3.0.2 keeps only methods so marked when it has none; without it the bootstrap fails.
  return { [STANDBY_REPLICA_METHOD]: { command: fromStanza(spec, node, source, ['--delta', 'restore']), keep_data: true, no_params: true, no_leader: true } };
}
