// The alarm catalogue as Prometheus alerting rules over what Patroni 3.0.2 serves at /metrics
// (labelled `scope="<cluster>"`, one target per node) and etcd at its metrics listener (labelled
// so by the scrape job). Descriptions and thresholds come from ALARM_DEFINITIONS; alert names are
// the reference article's where it has one. Kinds whose source
// only CloudWatch has are listed with the reason instead (docs/prometheus.md prints both).
import { stringify } from 'yaml';
import { ALARM_DEFINITIONS, etcdQuorum, type AlarmKind } from './alarm-definitions';
import { PATRONI_TIMING_MINIMUMS, PATRONI_TIMING_MINIMUMS_SINCE } from '../patroni/config/patroni-version-py';
import { PATRONI_RUNBOOK_SECTIONS, sectionRef } from '../runbook/sections';

/** What the rules of one cluster depend on. */
export interface PrometheusClusterFacts {
  readonly clusterName: string;
  /** The cluster's lag limit (`replicaMaxLag`), in bytes: a replica further behind is no failover target. */
  readonly replicaMaxLagBytes: number;
  /** etcd members (one a node). */
  readonly members: number;
  /** The declared timing, in seconds: below Patroni 3.2's minimums, a newer Patroni is slower than declared. */
  readonly timing: { readonly ttl: number; readonly loopWait: number; readonly retryTimeout: number };
  /** Where the operator reads what to do, e.g. "Shop.runbook.md, database Shop/Db". */
  readonly runbook: string;
  /** A standby cluster (no primary until it is promoted): no rule that wants a primary. */
  readonly standby?: boolean;
}

/** One rendered rule, as Prometheus reads it. */
export interface PrometheusRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

interface RuleSource {
  /** The article's name, or the catalogue kind's. */
  readonly alert: string;
  readonly severity: 'critical' | 'warning';
  /** Seconds the condition must hold. @default - the catalogue's evaluation periods of a minute each */
  readonly for?: (f: PrometheusClusterFacts) => number;
  readonly expr: (s: string, f: PrometheusClusterFacts) => string;
  /** Threshold as this rule uses it, for the summary; unset: the catalogue's description says it. */
  readonly threshold?: (f: PrometheusClusterFacts) => string;
  /** Rendered for this cluster? @default always */
  readonly applies?: (f: PrometheusClusterFacts) => boolean;
  /** Runbook sections to read, by title. */
  readonly sections: readonly string[];
}

/**
 * Nodes that lead with PostgreSQL running (0 when none answers). Patroni 3.0.2's patroni_primary
 * follows its role, so a leader whose PostgreSQL is down still says 1: the running check is what
 * the CloudWatch gauge does too. `s`: the label matcher of one cluster.
 */
export const primaryCount = (s: string) => `(count(patroni_primary{${s}} == 1 and on(instance) patroni_postgres_running{${s}} == 1) or vector(0))`;

/**
 * Bytes each running replica's replay is behind the running primary's WAL position (nothing
 * without one). The two positions come from different scrapes: a small negative value is skew.
 */
export const replayLag = (s: string) =>
  `(scalar(max(patroni_xlog_location{${s}} and on(instance) patroni_primary{${s}} == 1 and on(instance) patroni_postgres_running{${s}} == 1)) - ` +
  `(patroni_xlog_replayed_location{${s}} and on(instance) patroni_replica{${s}} == 1 and on(instance) patroni_postgres_running{${s}} == 1))`;
/**
 * etcd members that have a leader, as etcd's own /metrics says (the scrape job labels them with the
 * cluster's scope): 0 when the members answer without a leader (quorum lost), nothing when no
 * member is scraped (a cluster whose etcd nobody scrapes raises no etcd alert; a lost etcd shows
 * as DbNoPrimary anyway).
 */
export const etcdMembersWithLeader = (s: string) => `sum(etcd_server_has_leader{${s}})`;
/** The standby leader's series, while its PostgreSQL runs. */
const standbyLeaderRunning = (s: string) => `(patroni_standby_leader{${s}} == 1 and on(instance) patroni_postgres_running{${s}} == 1)`;
/** patroni_version of the first Patroni that raises timings: the semver without periods, two digits a part (3.2.0: 30200). */
const PATRONI_RAISES_TIMING = Number(PATRONI_TIMING_MINIMUMS_SINCE.split('.').map((part, i) => (i === 0 ? part : part.padStart(2, '0'))).join(''));

/** Catalogue kinds rendered as Prometheus rules, in the order written. */
export const PROMETHEUS_RULES: Partial<Record<AlarmKind, RuleSource>> = {
  DbFailoverOccurred: {
    alert: 'DatabaseFailoverOccurred',
    severity: 'warning',
    // A promotion starts a new timeline: some node was on a lower one within 5 minutes (0 is a
    // stopped PostgreSQL, not a timeline). Needs no history older than the window, unlike an offset.
    expr: (s) => `max(patroni_postgres_timeline{${s}}) > min(min_over_time(patroni_postgres_timeline{${s}}[5m]) > 0)`,
    for: () => 0,
    sections: ['Verify', 'Bring the old primary back'],
  },
  DbFailoverTooSlow: {
    alert: 'FailoverDurationHigh',
    severity: 'critical',
    // Patroni has no failover duration: no primary for longer than the threshold is the same event, seen while it lasts.
    expr: (s) => `${primaryCount(s)} < 1`,
    applies: (f) => !f.standby,
    for: () => ALARM_DEFINITIONS.DbFailoverTooSlow.threshold,
    threshold: () => `here: no primary for ${ALARM_DEFINITIONS.DbFailoverTooSlow.threshold} s, seen while it lasts`,
    sections: ['Verify the outage', 'Execute'],
  },
  DbNoPrimary: {
    alert: 'DbNoPrimary',
    severity: 'critical',
    expr: (s) => `${primaryCount(s)} < 1`,
    applies: (f) => !f.standby,
    sections: ['Verify the outage', 'Execute'],
  },
  DbSplitBrain: {
    alert: 'DbSplitBrain',
    severity: 'critical',
    expr: (s) => `${primaryCount(s)} > 1`,
    sections: ['Execute'],
  },
  DbNoHealthyReplica: {
    alert: 'NoHealthyFailoverTargets',
    severity: 'critical',
    // replayLag measures from the primary: a standby has none, and this would fire for ever.
    applies: (f) => !f.standby,
    expr: (s, f) => `(count(${replayLag(s)} <= ${f.replicaMaxLagBytes}) or vector(0)) < 1`,
    threshold: (f) => `no running replica within ${f.replicaMaxLagBytes} bytes`,
    sections: ['Confirm the standby is ready'],
  },
  DbReplicationLagHigh: {
    alert: 'DbReplicationLagHigh',
    severity: 'warning',
    applies: (f) => !f.standby,
    expr: (s, f) => `${replayLag(s)} > ${f.replicaMaxLagBytes}`,
    threshold: (f) => `${f.replicaMaxLagBytes} bytes`,
    sections: ['Confirm the standby is ready'],
  },
  EtcdMemberUnhealthy: {
    alert: 'EtcdMemberUnhealthy',
    severity: 'warning',
    expr: (s, f) => `${etcdMembersWithLeader(s)} < ${f.members}`,
    threshold: (f) => `fewer than ${f.members} members with a leader`,
    sections: ['Replace an etcd member'],
  },
  EtcdQuorumAtRisk: {
    alert: 'EtcdQuorumAtRisk',
    severity: 'critical',
    expr: (s, f) => `${etcdMembersWithLeader(s)} <= ${etcdQuorum(f.members)}`,
    threshold: (f) => `${etcdQuorum(f.members)} of ${f.members} or fewer`,
    sections: ['Replace an etcd member'],
  },
  StandbyNotReady: {
    alert: 'StandbyNotReady',
    severity: 'warning',
    applies: (f) => !!f.standby,
    // The age of the primary's last commit that the running standby leader replayed (Patroni says 0
    // for none: an age of decades), or no running standby leader at all: either way not ready.
    expr: (s) =>
      `(time() - max(patroni_xlog_replayed_timestamp{${s}} and on(instance) ${standbyLeaderRunning(s)})) > ${ALARM_DEFINITIONS.StandbyNotReady.threshold} ` +
      `or (count(${standbyLeaderRunning(s)}) or vector(0)) < 1`,
    threshold: () => `the last replayed commit older than ${ALARM_DEFINITIONS.StandbyNotReady.threshold} s, or no standby leader running`,
    sections: ['Regional failover'],
  },
  SlowerThanDeclared: {
    alert: 'SlowerThanDeclared',
    severity: 'warning',
    expr: (s) => `max(patroni_version{${s}}) >= ${PATRONI_RAISES_TIMING}`,
    applies: ({ timing }) =>
      timing.ttl < PATRONI_TIMING_MINIMUMS.ttl || timing.loopWait < PATRONI_TIMING_MINIMUMS.loop_wait || timing.retryTimeout < PATRONI_TIMING_MINIMUMS.retry_timeout,
    sections: ['Trigger conditions'],
  },
};

/** Why the other kinds have no rule: their source is not in anything Prometheus scrapes here. */
export const CLOUDWATCH_ONLY: Partial<Record<AlarmKind, string>> = {
  DnsFailoverTriggered: 'Route 53 publishes health-check status to CloudWatch (us-east-1) only',
  DnsSecondaryUnhealthy: 'Route 53 publishes health-check status to CloudWatch (us-east-1) only',
  NodeStatusCheckFailed: 'EC2 status checks are CloudWatch metrics',
  BackupTooOld: "the node metrics publisher reads pgBackRest's info and publishes to CloudWatch only",
  WalArchiveFailing: "PostgreSQL's archiver statistics reach CloudWatch through the node metrics publisher only",
  WalArchiveLate: "PostgreSQL's archiver statistics reach CloudWatch through the node metrics publisher only",
  CertificatesExpiring: 'no metric of Patroni, etcd or PostgreSQL gives a certificate\'s end (a blackbox exporter\'s probe_ssl_earliest_cert_expiry would): CloudWatch only',
};

/** The rules of one cluster, in catalogue order. */
export function prometheusRules(facts: PrometheusClusterFacts): PrometheusRule[] {
  if (!/^[A-Za-z0-9._-]+$/.test(facts.clusterName)) {
    throw new Error(`Prometheus rules: cluster name '${facts.clusterName}' must be letters, digits, '.', '_' or '-' (it goes into a label matcher)`);
  }
  const scope = `scope="${facts.clusterName}"`;
  const rules: PrometheusRule[] = [];
  for (const [kind, source] of Object.entries(PROMETHEUS_RULES) as [AlarmKind, RuleSource][]) {
    if (source.applies && !source.applies(facts)) continue;
    const forSeconds = source.for ? source.for(facts) : ALARM_DEFINITIONS[kind].evaluationPeriods * 60;
    rules.push({
      alert: source.alert,
      expr: source.expr(scope, facts),
      ...(forSeconds ? { for: `${forSeconds}s` } : {}),
      labels: { severity: source.severity, cluster: facts.clusterName, alarm: kind },
      annotations: {
        summary: `cluster ${facts.clusterName}: ${ALARM_DEFINITIONS[kind].description}${source.threshold ? ` (${source.threshold(facts)})` : ''}`,
        runbook: `${facts.runbook}: ${source.sections.map((t) => sectionRef(PATRONI_RUNBOOK_SECTIONS, t)).join(', ')}`,
      },
    });
  }
  return rules;
}

/** A Prometheus rule file: one group per cluster. */
export function renderPrometheusRuleFile(clusters: readonly PrometheusClusterFacts[]): string {
  const names = clusters.map((c) => c.clusterName);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new Error(`Prometheus rules: two clusters are named '${twice}'; their metrics (scope="${twice}") could not be told apart`);
  const groups = clusters.map((c) => ({ name: `cdk-failover-${c.clusterName}`, rules: prometheusRules(c) }));
  return `# Generated by cdk-failover from its alarm catalogue: regenerate, do not edit.\n${stringify({ groups }, { lineWidth: 0 })}`;
}
