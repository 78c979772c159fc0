import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';

/** Overrides for one kind of alarm; anything unset keeps the catalogue's default. */
export interface AlarmTuning {
  /** @default - the catalogue's threshold */
  readonly threshold?: number;
  /** @default - the catalogue's period (1 minute for all) */
  readonly period?: Duration;
  /** @default - the catalogue's evaluation periods */
  readonly evaluationPeriods?: number;
  /** @default - equal to evaluationPeriods */
  readonly datapointsToAlarm?: number;
  /** @default - the catalogue's treatment */
  readonly treatMissingData?: cloudwatch.TreatMissingData;
}

/**
 * Tuning per alarm, by alarm; unset alarms keep the catalogue's defaults (docs/alarms.md's table).
 * Each property is named after the alarm's construct ID, first letter lower-case.
 */
export interface AlarmOverrides {
  /** The primary endpoint is unhealthy: Route 53 is answering with the secondary. @default - the catalogue's */
  readonly dnsFailoverTriggered?: AlarmTuning;
  /** The secondary endpoint is unhealthy: there is no healthy failover target. @default - the catalogue's */
  readonly dnsSecondaryUnhealthy?: AlarmTuning;
  /** A node was promoted to primary (failover or switchover). @default - the catalogue's */
  readonly dbFailoverOccurred?: AlarmTuning;
  /** A failover took longer than the threshold, in seconds. @default - the catalogue's (60 s) */
  readonly dbFailoverTooSlow?: AlarmTuning;
  /** No node reports itself primary. @default - the catalogue's */
  readonly dbNoPrimary?: AlarmTuning;
  /** More than one node was primary for a whole period. @default - the catalogue's */
  readonly dbSplitBrain?: AlarmTuning;
  /** No streaming replica within the lag limit. @default - the catalogue's */
  readonly dbNoHealthyReplica?: AlarmTuning;
  /** A replica further behind than the threshold, in bytes. @default - the cluster's replicaMaxLag */
  readonly dbReplicationLagHigh?: AlarmTuning;
  /** An etcd member is unhealthy. @default - the member count */
  readonly etcdMemberUnhealthy?: AlarmTuning;
  /** Healthy etcd members are down to the quorum. @default - the quorum */
  readonly etcdQuorumAtRisk?: AlarmTuning;
  /** A node failed its EC2 status checks. @default - the catalogue's */
  readonly nodeStatusCheckFailed?: AlarmTuning;
  /** The newest backup is older than the threshold, in seconds, or unknown. @default - the cluster's backupLimits.maxBackupAge */
  readonly backupTooOld?: AlarmTuning;
  /** WAL archiving on the primary keeps failing. @default - the catalogue's */
  readonly walArchiveFailing?: AlarmTuning;
  /** A finished WAL segment has waited longer than the threshold, in seconds, to be archived. @default - the cluster's backupLimits.maxArchiveWait */
  readonly walArchiveLate?: AlarmTuning;
  /** A node runs a Patroni that raised the declared timing. @default - the catalogue's */
  readonly slowerThanDeclared?: AlarmTuning;
}

/** The `AlarmOverrides` property of an alarm kind. */
export function overrideKey(kind: AlarmKind): keyof AlarmOverrides {
  return `${kind.charAt(0).toLowerCase()}${kind.slice(1)}` as keyof AlarmOverrides;
}

/** One alarm kind's defaults, and why they are what they are (docs/alarms.md prints this table). */
export interface AlarmDefaults {
  readonly threshold: number;
  readonly comparison: cloudwatch.ComparisonOperator;
  readonly evaluationPeriods: number;
  readonly treatMissingData: cloudwatch.TreatMissingData;
  readonly description: string;
}

const { LESS_THAN_THRESHOLD: LT, GREATER_THAN_THRESHOLD: GT, GREATER_THAN_OR_EQUAL_TO_THRESHOLD: GE, LESS_THAN_OR_EQUAL_TO_THRESHOLD: LE } =
  cloudwatch.ComparisonOperator;
const { MISSING, BREACHING, NOT_BREACHING } = cloudwatch.TreatMissingData;

/**
 * Every alarm kind, by the construct ID each alarm gets (public API; `AlarmOverrides` names it
 * with a lower-case first letter).
 * Thresholds that depend on the cluster (etcd quorum, lag limit) are filled in per cluster.
 */
export const ALARM_CATALOGUE = {
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
} satisfies Record<string, AlarmDefaults>;

/** The construct ID of an alarm kind. */
export type AlarmKind = keyof typeof ALARM_CATALOGUE;

/** Throws on an override for an alarm that does not exist (from JavaScript), or one with impossible values. */
export function validateOverrides(overrides: AlarmOverrides): void {
  const kindOf = new Map<string, AlarmKind>((Object.keys(ALARM_CATALOGUE) as AlarmKind[]).map((k) => [overrideKey(k), k]));
  for (const [key, tuning] of Object.entries(overrides) as [string, AlarmTuning | undefined][]) {
    const kind = kindOf.get(key);
    if (kind === undefined) {
      throw new Error(`overrides: '${key}' is not an alarm of FailoverAlarms (known: ${[...kindOf.keys()].join(', ')})`);
    }
    if (tuning === undefined) continue;
    const evaluations = tuning.evaluationPeriods ?? ALARM_CATALOGUE[kind].evaluationPeriods;
    if (!Number.isInteger(evaluations) || evaluations < 1) {
      throw new Error(`overrides.${key}.evaluationPeriods must be a whole number of at least 1, got ${evaluations}`);
    }
    if (tuning.datapointsToAlarm !== undefined && (tuning.datapointsToAlarm < 1 || tuning.datapointsToAlarm > evaluations)) {
      throw new Error(`overrides.${key}.datapointsToAlarm must be 1 to evaluationPeriods (${evaluations}), got ${tuning.datapointsToAlarm}`);
    }
    if (tuning.period !== undefined && !tuning.period.isUnresolved()) {
      const s = tuning.period.toSeconds();
      if (!(s === 10 || s === 30 || (s >= 60 && s % 60 === 0))) {
        throw new Error(`overrides.${key}.period must be 10 s, 30 s or a multiple of 60 s (CloudWatch's alarm periods), got ${s} s`);
      }
    }
  }
}
