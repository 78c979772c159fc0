// The alarm catalogue's data, without aws-cdk-lib: what FailoverAlarms builds its CloudWatch alarms
// from (alarm-catalogue.ts adds CloudWatch's types) and what the Prometheus rules and the CLI read.
// Comparisons and missing-data treatments are CloudWatch's own strings.

/** One alarm kind's defaults, and why they are what they are. */
export interface AlarmDefinition {
  readonly threshold: number;
  readonly comparison: 'LessThanThreshold' | 'GreaterThanThreshold' | 'GreaterThanOrEqualToThreshold' | 'LessThanOrEqualToThreshold';
  readonly evaluationPeriods: number;
  readonly treatMissingData: 'missing' | 'breaching' | 'notBreaching';
  readonly description: string;
}

const LT = 'LessThanThreshold';
const GT = 'GreaterThanThreshold';
const GE = 'GreaterThanOrEqualToThreshold';
const LE = 'LessThanOrEqualToThreshold';
const MISSING = 'missing';
const BREACHING = 'breaching';
const NOT_BREACHING = 'notBreaching';

/**
 * Every alarm kind, by the construct ID each alarm gets (public API; `AlarmOverrides` names it
 * with a lower-case first letter).
 * Thresholds that depend on the cluster (etcd quorum, lag limit) are filled in per cluster.
 */
export const ALARM_DEFINITIONS = {
  // Route 53: health status is 1 or 0 per minute; a gap is the metric lagging, so keep the state.
  DnsFailoverTriggered: { threshold: 1, comparison: LT, evaluationPeriods: 1, treatMissingData: MISSING, description: 'the primary endpoint is unhealthy: Route 53 is answering with the secondary' },
  DnsSecondaryUnhealthy: { threshold: 1, comparison: LT, evaluationPeriods: 2, treatMissingData: MISSING, description: 'the secondary endpoint is unhealthy: there is no healthy failover target' },
  // Role-change events are published only when they happen: no data means nothing happened.
  DbFailoverOccurred: { threshold: 1, comparison: GE, evaluationPeriods: 1, treatMissingData: NOT_BREACHING, description: 'a node was promoted to primary (failover or switchover)' },
  DbFailoverTooSlow: { threshold: 60, comparison: GT, evaluationPeriods: 1, treatMissingData: NOT_BREACHING, description: 'a failover took longer than the threshold (seconds from the last healthy primary seen to promotion)' },
  // Gauges come from every node every interval: silence from all of them is itself a failure.
  DbNoPrimary: { threshold: 1, comparison: LT, evaluationPeriods: 2, treatMissingData: BREACHING, description: 'no node reports itself primary: writes are failing' },
  DbSplitBrain: { threshold: 1, comparison: GT, evaluationPeriods: 1, treatMissingData: NOT_BREACHING, description: 'more than one node was primary for a whole minute (split brain)' },
  DbNoHealthyReplica: { threshold: 1, comparison: LT, evaluationPeriods: 3, treatMissingData: BREACHING, description: 'no streaming replica within the lag limit: there is no failover target' },
  DbReplicationLagHigh: { threshold: 16 * 1024 * 1024, comparison: GT, evaluationPeriods: 5, treatMissingData: NOT_BREACHING, description: 'a replica has been further behind than the threshold (bytes) for 5 minutes' },
  EtcdMemberUnhealthy: { threshold: 0, comparison: LT, evaluationPeriods: 3, treatMissingData: BREACHING, description: 'an etcd member is unhealthy (threshold: the member count)' },
  EtcdQuorumAtRisk: { threshold: 0, comparison: LE, evaluationPeriods: 2, treatMissingData: BREACHING, description: 'healthy etcd members are down to the quorum: one more loss stops all failover (threshold: the quorum)' },
  NodeStatusCheckFailed: { threshold: 1, comparison: GE, evaluationPeriods: 2, treatMissingData: MISSING, description: 'a node failed its EC2 status checks' },
  // A node publishes it every minute once its Patroni answers: a Patroni upgraded in place
  // under a short timing (a new node's boot refuses one) shows once it restarts.
  SlowerThanDeclared: { threshold: 1, comparison: GE, evaluationPeriods: 3, treatMissingData: NOT_BREACHING, description: 'a node runs a Patroni (3.2 or later) that raised the declared timing to its own minimums: failover is slower than declared' },
  // Backups (clusters with backupLimits): only the primary publishes these. No backup age for 15
  // minutes means a repository nobody can read, or no primary: breaching. An archiver that failed
  // for 5 minutes in a row is not a blip (PostgreSQL retries archive_command every minute).
  BackupTooOld: { threshold: 0, comparison: GT, evaluationPeriods: 15, treatMissingData: BREACHING, description: 'the newest backup (before the first one: the database itself) is older than the threshold (seconds), or the repository cannot be read' },
  WalArchiveFailing: { threshold: 1, comparison: GE, evaluationPeriods: 5, treatMissingData: NOT_BREACHING, description: "WAL archiving has failed for 5 minutes: the archive has a gap growing, and point-in-time recovery stops at the gap's start" },
  WalArchiveLate: { threshold: 0, comparison: GT, evaluationPeriods: 3, treatMissingData: NOT_BREACHING, description: 'a finished WAL segment has waited longer than the threshold (seconds) to be archived: the RPO is slipping' },
  // Standby clusters only: their standby leader publishes the age every minute; silence means no
  // standby leader (nothing to promote): breaching. 15 minutes: many archive_timeouts of a busy primary.
  StandbyNotReady: { threshold: 900, comparison: GT, evaluationPeriods: 3, treatMissingData: BREACHING, description: "secondary region not ready: the standby cluster's last replayed commit of its primary is older than the threshold (seconds), or no standby leader publishes it (none runs, or it has replayed no commit since it started)" },
  // TLS clusters: every node publishes when its first certificate ends. 30 days (a third of the
  // validity when that is shorter) leaves time for a rotation deploy. No data (publishers down,
  // which other alarms catch) keeps the state: a gauge that moves over days must not flip to OK.
  CertificatesExpiring: { threshold: 30 * 86_400, comparison: LT, evaluationPeriods: 3, treatMissingData: MISSING, description: "a certificate on a node (its own, the database's or a CA's) ends sooner than the threshold (seconds): deploy a rotation" },
} satisfies Record<string, AlarmDefinition>;


/** The etcd quorum of `members`: a majority. */
export function etcdQuorum(members: number): number {
  return Math.floor(members / 2) + 1;
}

/** The construct ID of an alarm kind. */
export type AlarmKind = keyof typeof ALARM_DEFINITIONS;
