import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { IDnsFailover, LatencyMetric } from '../dns';
import { IPatroniCluster } from '../patroni';
import { CLUSTER_PANEL_ROWS } from './cluster-panels';

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
    for (const row of CLUSTER_PANEL_ROWS) {
      const widgets = row.flatMap((panel) => {
        const metrics = panel.cloudwatch(cluster);
        if (!metrics) return [];
        return [new cloudwatch.GraphWidget({ title: `${cluster.clusterName}: ${panel.title}`, left: metrics, leftYAxis: { min: 0 }, width: WIDTH, height: HEIGHT })];
      });
      if (widgets.length) dashboard.addWidgets(...widgets);
    }
  }
  return dashboard;
}
