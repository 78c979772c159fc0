// The metrics each node publishes to its cluster's CloudWatch namespace: the contract between the
// node-side publisher and callback (rendered here) and the alarms and dashboard (lib/monitoring).

/** Dimensions of the per-node metrics: the cluster's name and the node's. */
export const NODE_METRIC_DIMENSIONS = { cluster: 'ClusterName', node: 'Node' } as const;

/** Published every interval by each node's publisher, with both dimensions. */
export const NODE_GAUGES = {
  /** 1 while this node is the running primary, else 0. */
  isPrimary: 'IsPrimary',
  /** 1 while this node is a running replica, else 0. */
  isReplica: 'IsReplica',
  /** 1 while this node is a streaming replica within the lag limit (a failover target), else 0. */
  healthyReplica: 'HealthyReplica',
  /** This replica's replay lag behind the primary, bytes (0 on the primary). */
  replicationLagBytes: 'ReplicationLagBytes',
  /** 1 while PostgreSQL runs on this node, else 0. */
  postgresRunning: 'PostgresRunning',
  /** Seconds since Patroni on this node last reached etcd. */
  dcsLastSeenAgeSeconds: 'DcsLastSeenAgeSeconds',
  /** 1 while this node's etcd member answers healthy, else 0. */
  etcdHealthy: 'EtcdHealthy',
  /** Primary of a cluster with backups: seconds since the newest backup in repository 1 ended (none yet: since initdb). */
  backupAgeSeconds: 'BackupAgeSeconds',
  /** Primary of a cluster with backups: the backups' size in repository 1 (the WAL archive not counted), bytes. */
  backupRepositorySizeBytes: 'BackupRepositorySizeBytes',
  /** Primary of a cluster with backups: 1 while the latest archive_command attempt failed (pg_stat_archiver), else 0. */
  walArchiveFailing: 'WalArchiveFailing',
  /** Primary of a cluster with backups: seconds the oldest finished WAL segment has waited to be archived (0: none waits). */
  walArchiveWaitSeconds: 'WalArchiveWaitSeconds',
  /** 1 while the Patroni running on this node (3.2 or later) has raised the declared timing to its own minimums, else 0. */
  timingAdjusted: 'TimingAdjusted',
  /**
   * Standby leader of a standby cluster: seconds since the primary committed the last transaction
   * this node has replayed (grows while the primary commits nothing, as well as while the feed lags).
   */
  standbyReplayAgeSeconds: 'StandbyReplayAgeSeconds',
  /**
   * Standby leader of a standby cluster while it streams (`standbyStreaming`): bytes between the
   * primary's WAL position, as the primary last reported it over the link, and this node's replay.
   * Not published while the repository alone feeds it: that shows no position of the primary's.
   */
  standbyReplayLagBytes: 'StandbyReplayLagBytes',
  /**
   * Clusters with TLS: seconds until the first of this node's certificate files ends (its own,
   * the database's, the two CAs'); negative once one has.
   */
  certificateExpirySeconds: 'CertificateExpirySeconds',
} as const;

/** The gauges only the primary of a cluster with backups publishes. */
export const BACKUP_NODE_GAUGES: readonly string[] = [
  NODE_GAUGES.backupAgeSeconds,
  NODE_GAUGES.backupRepositorySizeBytes,
  NODE_GAUGES.walArchiveFailing,
  NODE_GAUGES.walArchiveWaitSeconds,
];

/** The gauges only the nodes of a cluster with TLS publish. */
export const TLS_NODE_GAUGES: readonly string[] = [NODE_GAUGES.certificateExpirySeconds];

/** The gauges only the standby leader of a standby cluster publishes. */
export const STANDBY_NODE_GAUGES: readonly string[] = [NODE_GAUGES.standbyReplayAgeSeconds, NODE_GAUGES.standbyReplayLagBytes];

/** Published by the role-change callback, with the cluster dimension only. */
export const ROLE_CHANGE_EVENTS = {
  /** 1 per role change of any node. */
  roleChange: 'RoleChange',
  /** 1 when a node becomes primary. */
  promotion: 'Promotion',
  /** On promotion: seconds since this node last saw a healthy primary (detection plus election). */
  failoverDurationSeconds: 'FailoverDurationSeconds',
} as const;
