import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { ALARM_DEFINITIONS, type AlarmKind } from './alarm-definitions';

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
  /**
   * A standby cluster's last replayed commit of its primary is older than the threshold, in
   * seconds, or no standby leader publishes it ("secondary region not ready"). Set the threshold above the
   * longest time the primary commits nothing. @default - the catalogue's (900 s)
   */
  readonly standbyNotReady?: AlarmTuning;
  /**
   * A certificate on a node (its own, the database's or a CA's) ends sooner than the threshold,
   * in seconds. @default - the catalogue's (30 days)
   */
  readonly certificatesExpiring?: AlarmTuning;
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

/**
 * Every alarm kind, by the construct ID each alarm gets (public API; `AlarmOverrides` names it
 * with a lower-case first letter): `ALARM_DEFINITIONS` with CloudWatch's types.
 * Thresholds that depend on the cluster (etcd quorum, lag limit) are filled in per cluster.
 */
export const ALARM_CATALOGUE = Object.fromEntries(
  Object.entries(ALARM_DEFINITIONS).map(([kind, d]) => [
    kind,
    { ...d, comparison: d.comparison as cloudwatch.ComparisonOperator, treatMissingData: d.treatMissingData as cloudwatch.TreatMissingData },
  ]),
) as Record<AlarmKind, AlarmDefaults>;

export type { AlarmKind };

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
