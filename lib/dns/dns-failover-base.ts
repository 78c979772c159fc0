import { Duration, IResource, Resource } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { LatencyMetric } from './latency-metric';

/** Options of a latency metric. */
export interface LatencyMetricOptions extends cloudwatch.MetricOptions {
  /**
   * The checker region whose measurements to read.
   * @default - the first of the health check's regions
   */
  readonly checkerRegion?: string;
}

/**
 * A Route 53 failover record pair with its health checks: what alarms, dashboards and runbooks
 * need to know of it, whether this app created it or imported it.
 */
export interface IDnsFailover extends IResource {
  /** The record's fully qualified name, without trailing dot. */
  readonly recordName: string;
  /** The hosted zone's ID. */
  readonly hostedZoneId: string;
  /** The primary's Route 53 health check ID. */
  readonly primaryHealthCheckId: string;
  /** The secondary's health check ID; undefined when the secondary has no health check. */
  readonly secondaryHealthCheckId?: string;
  /** The checker regions whose latency can be read; empty when latency is not measured. */
  readonly latencyRegions: string[];
  /** Whether the health checks are HTTPS (only those have SSLHandshakeTime). */
  readonly https: boolean;

  /** 1 while Route 53 considers the primary healthy, 0 when not (Minimum over the period). */
  metricPrimaryHealthy(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** 1 while Route 53 considers the secondary healthy, 0 when not. Needs a secondary health check. */
  metricSecondaryHealthy(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** A latency metric of the primary's health check from one checker region. Needs latency measured. */
  metricPrimaryLatency(metric: LatencyMetric, options?: LatencyMetricOptions): cloudwatch.Metric;
  /** A latency metric of the secondary's health check from one checker region. Needs latency measured. */
  metricSecondaryLatency(metric: LatencyMetric, options?: LatencyMetricOptions): cloudwatch.Metric;
}

/** What `DnsFailover.fromDnsFailoverAttributes` needs: the values of the DnsFailover's stack outputs. */
export interface DnsFailoverAttributes {
  /** The record's fully qualified name, without trailing dot. */
  readonly recordName: string;
  /** The hosted zone's ID. */
  readonly hostedZoneId: string;
  /** The primary's health check ID. */
  readonly primaryHealthCheckId: string;
  /**
   * The secondary's health check ID.
   * @default - the secondary has no health check: no secondary metrics or alarms
   */
  readonly secondaryHealthCheckId?: string;
  /**
   * The checker regions, when the health checks measure latency.
   * @default - latency not measured: no latency metrics
   */
  readonly latencyRegions?: string[];
  /**
   * Whether the health checks are HTTPS.
   * @default true
   */
  readonly https?: boolean;
}

/** The metrics of a DnsFailover, from its attributes alone: shared by the construct and its imports. */
export abstract class DnsFailoverBase extends Resource implements IDnsFailover {
  public abstract readonly recordName: string;
  public abstract readonly hostedZoneId: string;
  public abstract readonly primaryHealthCheckId: string;
  public abstract readonly secondaryHealthCheckId?: string;
  public abstract readonly latencyRegions: string[];
  public abstract readonly https: boolean;

  public metricPrimaryHealthy(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return healthCheckStatusMetric(this.primaryHealthCheckId, props);
  }

  public metricSecondaryHealthy(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return healthCheckStatusMetric(this.requireSecondary('metricSecondaryHealthy'), props);
  }

  public metricPrimaryLatency(metric: LatencyMetric, options?: LatencyMetricOptions): cloudwatch.Metric {
    return this.latencyMetric(this.primaryHealthCheckId, metric, options);
  }

  public metricSecondaryLatency(metric: LatencyMetric, options?: LatencyMetricOptions): cloudwatch.Metric {
    return this.latencyMetric(this.requireSecondary('metricSecondaryLatency'), metric, options);
  }

  private requireSecondary(method: string): string {
    if (this.secondaryHealthCheckId === undefined) {
      throw new Error(`${this.node.path}: ${method}() needs a secondary health check; set checkSecondary: true`);
    }
    return this.secondaryHealthCheckId;
  }

  private latencyMetric(healthCheckId: string, metric: LatencyMetric, options: LatencyMetricOptions = {}): cloudwatch.Metric {
    if (this.latencyRegions.length === 0) {
      throw new Error(`${this.node.path}: latency metrics need healthCheck.measureLatency: true`);
    }
    if (metric === LatencyMetric.SSL_HANDSHAKE_TIME && !this.https) {
      throw new Error(`${this.node.path}: SSLHandshakeTime exists only for HTTPS checks`);
    }
    const { checkerRegion = this.latencyRegions[0], ...metricOptions } = options;
    if (!this.latencyRegions.includes(checkerRegion)) {
      throw new Error(
        `${this.node.path}: checkerRegion '${checkerRegion}' is not one of this health check's regions (${this.latencyRegions.join(', ')})`,
      );
    }
    return new cloudwatch.Metric({
      namespace: 'AWS/Route53',
      metricName: metric.metricName,
      dimensionsMap: { HealthCheckId: healthCheckId, Region: checkerRegion },
      statistic: cloudwatch.Stats.AVERAGE,
      period: Duration.minutes(1),
      region: 'us-east-1', // Route 53 publishes health-check metrics only there
      ...metricOptions,
    });
  }
}

function healthCheckStatusMetric(healthCheckId: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: 'AWS/Route53',
    metricName: 'HealthCheckStatus',
    dimensionsMap: { HealthCheckId: healthCheckId },
    statistic: cloudwatch.Stats.MINIMUM,
    period: Duration.minutes(1),
    region: 'us-east-1', // Route 53 publishes health-check metrics only there
    ...props,
  });
}
