// The panels of a cluster's dashboards, once: the CloudWatch dashboard (FailoverAlarms) draws each
// panel's CloudWatch metrics, the Grafana dashboard its PromQL over Patroni's /metrics where
// Prometheus has a source. Two panels a row, in this order.
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { IPatroniCluster } from '../patroni';
import { etcdMembersWithLeader, primaryCount, replayLag, type PrometheusClusterFacts } from './prometheus-rules';

/** One series of a Grafana panel. */
export interface PromSeries {
  readonly legend: string;
  readonly expr: string;
}

export interface ClusterPanel {
  readonly title: string;
  /** Unset: the panel is not drawn for this cluster (an imported one without its load balancer's names, no backups). */
  readonly cloudwatch: (cluster: IPatroniCluster) => cloudwatch.IMetric[] | undefined;
  /** Grafana unit id. */
  readonly unit: string;
  /** @default - CloudWatch only: nothing Prometheus scrapes has the values */
  readonly prometheus?: (scope: string, facts: PrometheusClusterFacts) => PromSeries[];
  /** What the Grafana panel leaves out, for its description. */
  readonly cloudWatchOnly?: string;
}

/** Rows of two panels. */
export const CLUSTER_PANEL_ROWS: readonly (readonly ClusterPanel[])[] = [
  [
    {
      title: 'primaries (1 healthy, 0 no writer, 2+ split brain)',
      cloudwatch: (c) => [c.metricPrimaryCount()],
      unit: 'short',
      prometheus: (s) => [{ legend: 'primaries', expr: primaryCount(s) }],
    },
    {
      title: 'healthy replicas and etcd members',
      cloudwatch: (c) => [c.metricHealthyReplicaCount(), c.metricHealthyEtcdMembers()],
      unit: 'short',
      prometheus: (s, f) => [
        { legend: 'healthy replicas', expr: `count(${replayLag(s)} <= ${f.replicaMaxLagBytes}) or vector(0)` },
        { legend: 'etcd members with a leader', expr: `${etcdMembersWithLeader(s)} or vector(0)` },
      ],
    },
  ],
  [
    {
      title: 'max replication lag (bytes)',
      cloudwatch: (c) => [c.metricMaxReplicationLag()],
      unit: 'bytes',
      prometheus: (s) => [{ legend: '{{instance}}', expr: replayLag(s) }],
    },
    {
      title: 'promotions and role changes',
      cloudwatch: (c) => [c.metricPromotions({ label: 'promotions' }), c.metricRoleChanges({ label: 'role changes' })],
      unit: 'short',
      // A promotion starts a timeline: the highest timeline steps up by one per promotion.
      prometheus: (s) => [{ legend: 'timeline (one step a promotion)', expr: `max(patroni_postgres_timeline{${s}})` }],
      cloudWatchOnly: 'role changes: the role-change callback publishes them to CloudWatch only',
    },
  ],
  [
    {
      title: 'failover duration (s)',
      cloudwatch: (c) => [c.metricFailoverDuration({ label: 'failover duration' })],
      unit: 's',
    },
    {
      title: 'healthy HAProxy targets behind the writer',
      cloudwatch: (c) => (c.loadBalancerFullName !== undefined && c.writerTargetGroupFullName !== undefined ? [c.metricHealthyHaproxyCount()] : undefined),
      unit: 'short',
    },
  ],
  [
    {
      title: 'newest backup age and oldest WAL waiting for the archive (s)',
      cloudwatch: (c) => (c.backupLimits ? [c.metricBackupAge(), c.metricWalArchiveWait()] : undefined),
      unit: 's',
    },
    {
      title: 'backups in the repository (bytes)',
      cloudwatch: (c) => (c.backupLimits ? [c.metricBackupRepositorySize()] : undefined),
      unit: 'bytes',
    },
  ],
];
