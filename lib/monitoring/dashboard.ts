import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { IDnsFailover, LatencyMetric } from '../dns';
import { IPatroniCluster } from '../patroni';

/** What the dashboard shows. */
export interface FailoverDashboardProps {
  readonly dnsFailovers: IDnsFailover[];
  readonly clusters: IPatroniCluster[];
  readonly dashboardName?: string;
}

const WIDTH = 12;
const HEIGHT = 6;

/** One row per DNS failover (status, latency per checker region), three rows per cluster. */
export function buildFailoverDashboard(scope: Construct, id: string, props: FailoverDashboardProps): cloudwatch.Dashboard {
  const dashboard = new cloudwatch.Dashboard(scope, id, {
    dashboardName: props.dashboardName,
    defaultInterval: Duration.hours(3),
  });
  for (const dns of props.dnsFailovers) {
    const status = [dns.metricPrimaryHealthy({ label: 'primary' })];
    if (dns.secondaryHealthCheckId !== undefined) status.push(dns.metricSecondaryHealthy({ label: 'secondary' }));
    const row: cloudwatch.IWidget[] = [
      new cloudwatch.GraphWidget({
        title: `${dns.recordName}: health check status (1 healthy)`,
        left: status,
        leftYAxis: { min: 0, max: 1 },
        width: WIDTH,
        height: HEIGHT,
      }),
    ];
    if (dns.latencyRegions.length > 0) {
      row.push(
        new cloudwatch.GraphWidget({
          title: `${dns.recordName}: primary time to first byte per checker region (ms)`,
          left: dns.latencyRegions.map((region) =>
            dns.metricPrimaryLatency(LatencyMetric.TIME_TO_FIRST_BYTE, { checkerRegion: region, label: region }),
          ),
          width: WIDTH,
          height: HEIGHT,
        }),
      );
    }
    dashboard.addWidgets(...row);
  }
  for (const cluster of props.clusters) {
    const graph = (title: string, metrics: cloudwatch.IMetric[], yAxis?: cloudwatch.YAxisProps) =>
      new cloudwatch.GraphWidget({ title: `${cluster.clusterName}: ${title}`, left: metrics, leftYAxis: yAxis, width: WIDTH, height: HEIGHT });
    dashboard.addWidgets(
      graph('primaries (1 healthy, 0 no writer, 2+ split brain)', [cluster.metricPrimaryCount()], { min: 0 }),
      graph('healthy replicas and etcd members', [cluster.metricHealthyReplicaCount(), cluster.metricHealthyEtcdMembers()], { min: 0 }),
    );
    dashboard.addWidgets(
      graph('max replication lag (bytes)', [cluster.metricMaxReplicationLag()], { min: 0 }),
      graph('promotions and role changes', [cluster.metricPromotions({ label: 'promotions' }), cluster.metricRoleChanges({ label: 'role changes' })], { min: 0 }),
    );
    // An imported cluster may come without its load balancer's names: no HAProxy graph then.
    const haproxy = cluster.loadBalancerFullName !== undefined && cluster.writerTargetGroupFullName !== undefined;
    dashboard.addWidgets(
      graph('failover duration (s)', [cluster.metricFailoverDuration({ label: 'failover duration' })], { min: 0 }),
      ...(haproxy ? [graph('healthy HAProxy targets behind the writer', [cluster.metricHealthyHaproxyCount()], { min: 0 })] : []),
    );
    if (cluster.backupLimits) {
      dashboard.addWidgets(
        graph('newest backup age and oldest WAL waiting for the archive (s)', [cluster.metricBackupAge(), cluster.metricWalArchiveWait()], { min: 0 }),
        graph('backups in the repository (bytes)', [cluster.metricBackupRepositorySize()], { min: 0 }),
      );
    }
  }
  return dashboard;
}
