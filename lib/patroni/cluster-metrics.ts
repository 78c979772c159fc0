import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { NODE_GAUGES, NODE_METRIC_DIMENSIONS, ROLE_CHANGE_EVENTS } from './config/node-metrics';

/** What the metric helpers need to know of a cluster. */
export interface ClusterMetricSource {
  readonly metricsNamespace: string;
  readonly clusterName: string;
  /** Node names, in order, as the nodes publish them. */
  readonly nodeNames: readonly string[];
}

/** One node's gauge (Maximum over the period). */
export function nodeGauge(
  source: ClusterMetricSource,
  nodeName: string,
  gauge: string,
  props?: cloudwatch.MetricOptions,
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: source.metricsNamespace,
    metricName: gauge,
    dimensionsMap: { [NODE_METRIC_DIMENSIONS.cluster]: source.clusterName, [NODE_METRIC_DIMENSIONS.node]: nodeName },
    statistic: cloudwatch.Stats.MAXIMUM,
    period: Duration.minutes(1),
    ...props,
  });
}

/**
 * A gauge combined over every node: `SUM` counts (primaries, healthy replicas), `MAX` finds the
 * worst (lag). Node names are known at synth, so this is plain metric math, no SEARCH.
 */
export function clusterGauge(
  source: ClusterMetricSource,
  gauge: string,
  combine: 'SUM' | 'MAX' | 'MIN',
  label: string,
  props?: cloudwatch.MetricOptions,
  fillWithZero = true,
): cloudwatch.MathExpression {
  // Ids unique per gauge, so that two of these can share a graph.
  const prefix = gauge.charAt(0).toLowerCase() + gauge.slice(1);
  const usingMetrics: Record<string, cloudwatch.IMetric> = {};
  source.nodeNames.forEach((name, i) => (usingMetrics[`${prefix}${i}`] = nodeGauge(source, name, gauge, props)));
  // Per-node statistic: Maximum by default ("was it ever primary this period"); pass Minimum for
  // "primary the whole period", which a clean switchover inside one period never is twice.
  // FILL(..., 0): a node that stopped reporting counts as not primary, not healthy, no lag known.
  // Without it (gauges only the primary publishes), no data from any node stays no data.
  return new cloudwatch.MathExpression({
    expression: `${combine}([${Object.keys(usingMetrics).map((k) => (fillWithZero ? `FILL(${k}, 0)` : k)).join(', ')}])`,
    usingMetrics,
    label,
    period: props?.period ?? Duration.minutes(1),
  });
}

/** A role-change event metric (Sum or Maximum over the period), cluster-wide. */
export function clusterEvent(
  source: ClusterMetricSource,
  event: string,
  statistic: string,
  props?: cloudwatch.MetricOptions,
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: source.metricsNamespace,
    metricName: event,
    dimensionsMap: { [NODE_METRIC_DIMENSIONS.cluster]: source.clusterName },
    statistic,
    period: Duration.minutes(1),
    ...props,
  });
}

export { NODE_GAUGES, ROLE_CHANGE_EVENTS };
