import { NODE_GAUGES } from './config/node-metrics';

/** A gauge every node publishes (see `IPatroniCluster.metricNodeGauge`). */
export class NodeGauge {
  /** 1 while this node is the running primary, else 0. */
  public static readonly IS_PRIMARY = new NodeGauge(NODE_GAUGES.isPrimary);
  /** 1 while this node is a running replica, else 0. */
  public static readonly IS_REPLICA = new NodeGauge(NODE_GAUGES.isReplica);
  /** 1 while this node is a streaming replica within the lag limit (a failover target), else 0. */
  public static readonly HEALTHY_REPLICA = new NodeGauge(NODE_GAUGES.healthyReplica);
  /** This replica's replay lag behind the primary, bytes (0 on the primary). */
  public static readonly REPLICATION_LAG_BYTES = new NodeGauge(NODE_GAUGES.replicationLagBytes);
  /** 1 while PostgreSQL runs on this node, else 0. */
  public static readonly POSTGRES_RUNNING = new NodeGauge(NODE_GAUGES.postgresRunning);
  /** Seconds since Patroni on this node last reached etcd. */
  public static readonly DCS_LAST_SEEN_AGE_SECONDS = new NodeGauge(NODE_GAUGES.dcsLastSeenAgeSeconds);
  /** 1 while this node's etcd member answers healthy, else 0. */
  public static readonly ETCD_HEALTHY = new NodeGauge(NODE_GAUGES.etcdHealthy);
  /** Primary of a cluster with backups: seconds since the newest backup in repository 1 ended (none yet: since initdb). */
  public static readonly BACKUP_AGE_SECONDS = new NodeGauge(NODE_GAUGES.backupAgeSeconds);
  /** Primary of a cluster with backups: the backups' size in repository 1 (the WAL archive not counted), bytes. */
  public static readonly BACKUP_REPOSITORY_SIZE_BYTES = new NodeGauge(NODE_GAUGES.backupRepositorySizeBytes);
  /** Primary of a cluster with backups: 1 while the latest WAL archive attempt failed, else 0. */
  public static readonly WAL_ARCHIVE_FAILING = new NodeGauge(NODE_GAUGES.walArchiveFailing);
  /** Primary of a cluster with backups: seconds the oldest finished WAL segment has waited to be archived. */
  public static readonly WAL_ARCHIVE_WAIT_SECONDS = new NodeGauge(NODE_GAUGES.walArchiveWaitSeconds);
  /** 1 while the Patroni running on this node (3.2 or later) has raised the declared timing to its own minimums, else 0. */
  public static readonly TIMING_ADJUSTED = new NodeGauge(NODE_GAUGES.timingAdjusted);
  /** Standby leader of a standby cluster: seconds since the primary committed the last transaction it replayed. */
  public static readonly STANDBY_REPLAY_AGE_SECONDS = new NodeGauge(NODE_GAUGES.standbyReplayAgeSeconds);
  /** Standby leader of a standby cluster while it streams: bytes its replay is behind the primary's last reported WAL position. */
  public static readonly STANDBY_REPLAY_LAG_BYTES = new NodeGauge(NODE_GAUGES.standbyReplayLagBytes);
  /** Clusters with TLS: seconds until the first of this node's certificates (its own, the database's, the CAs') ends. */
  public static readonly CERTIFICATE_EXPIRY_SECONDS = new NodeGauge(NODE_GAUGES.certificateExpirySeconds);

  private constructor(
    /** The CloudWatch metric name the node publishes. */
    public readonly metricName: string,
  ) {}
}
