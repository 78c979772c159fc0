import { Duration, IResource, Resource, Size, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import { clusterEvent, clusterGauge, NODE_GAUGES, nodeGauge, ROLE_CHANGE_EVENTS } from './cluster-metrics';
import { ClusterEndpoint } from './endpoint';
import { NodeGauge } from './node-gauge';
import { CLUSTER_PORTS } from './validation';

/**
 * A Patroni cluster: what alarms, dashboards and other stacks need to know of it, whether this app
 * created it or imported it.
 */
export interface IPatroniCluster extends IResource, ec2.IConnectable {
  /** Patroni scope, and the ClusterName dimension of its metrics. */
  readonly clusterName: string;
  /** CloudWatch namespace the nodes publish to. */
  readonly metricsNamespace: string;
  /** Node names as the nodes publish them, in order. */
  readonly nodeNames: string[];
  /** EC2 instance IDs of the nodes, in order; empty when not known (an import without them). */
  readonly nodeInstanceIds: string[];
  /** The nodes' private IP addresses, in order; empty when not known (an import without them). */
  readonly nodeAddresses: string[];
  /** The reader endpoint drops replicas further behind than this. */
  readonly replicaMaxLag: Size;
  /** Writer endpoint: always the current leader. */
  readonly writerEndpoint: ClusterEndpoint;
  /** The load balancer's `net/...` name; undefined when not known (an import without it). */
  readonly loadBalancerFullName?: string;
  /** The writer target group's `targetgroup/...` name; undefined when not known. */
  readonly writerTargetGroupFullName?: string;
  /** Reader endpoint: replicas within `replicaMaxLag`. */
  readonly readerEndpoint: ClusterEndpoint;
  /** What the backup alarms compare with; undefined when the cluster has no backups (or an import does not say). */
  readonly backupLimits?: BackupLimits;
  /** The cluster this one was made a standby of (`standbyOf`); undefined for a primary (or an import that does not say). */
  readonly primaryClusterName?: string;
  /** How long the cluster's certificates are valid; undefined without TLS (or an import that does not say). */
  readonly certificateValidity?: Duration;

  /** Role changes of any node (Sum). A failover or switchover counts one per node that changed. */
  metricRoleChanges(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** Promotions to primary (Sum): each is a database failover or switchover. */
  metricPromotions(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** Seconds from the last healthy primary seen to a promotion (Maximum). */
  metricFailoverDuration(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** Number of nodes reporting themselves primary: 1 is healthy, 0 no writer, 2+ split brain. */
  metricPrimaryCount(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression;
  /** Number of streaming replicas within the lag limit: the failover targets left. */
  metricHealthyReplicaCount(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression;
  /** The largest replication lag of any replica, bytes. */
  metricMaxReplicationLag(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression;
  /** Number of etcd members answering healthy. */
  metricHealthyEtcdMembers(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression;
  /** One node's gauge. */
  metricNodeGauge(nodeIndex: number, gauge: NodeGauge, props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** EC2's status check of one node (Maximum: 1 when either check failed). Needs the instance IDs. */
  metricNodeStatusCheckFailed(nodeIndex: number, props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /** HAProxy targets the load balancer considers healthy behind the writer listener. */
  metricHealthyHaproxyCount(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  /**
   * Seconds since the newest backup ended (Maximum), as the primary sees the repository every 5
   * minutes; before the first backup, seconds since the database was created. No data: no
   * primary, or the repository did not answer.
   */
  metricBackupAge(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression;
  /** 1 while the primary's latest WAL archive attempt failed (Maximum). */
  metricWalArchiveFailing(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression;
  /** Seconds the oldest finished WAL segment has waited to be archived on the primary (Maximum): the archive's lag. */
  metricWalArchiveWait(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression;
  /** The backups' size in the primary repository, bytes (the WAL archive not counted). */
  metricBackupRepositorySize(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression;
  /**
   * 1 while a node runs a Patroni (3.2 or later) that raised the declared timing to its own
   * minimums (Maximum over the nodes): failover is slower than declared.
   */
  metricTimingAdjusted(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression;
  /**
   * A standby cluster's readiness: seconds since its primary committed the last transaction the
   * standby leader replayed (Maximum). It also grows while the primary commits nothing. No data:
   * no standby leader runs (or the cluster is a primary).
   */
  metricStandbyReplayAge(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression;
  /**
   * A streaming standby cluster's lag in bytes: how far the standby leader's replay is behind the
   * primary's WAL position as the primary last reported it (Maximum). No data: not streaming (the
   * repository alone shows no position of the primary's), or no standby leader runs.
   */
  metricStandbyReplayLag(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression;
  /**
   * Seconds until the first certificate on any node ends (Minimum over the nodes: their own
   * certificates, the database's, the CAs'); negative once one has. No data: a cluster without TLS.
   */
  metricCertificateExpiry(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression;
}

/** What the backup alarms of a cluster compare with. */
export interface BackupLimits {
  /** The newest backup is late past this age (the longest gap the schedules leave, plus a backup's run time). */
  readonly maxBackupAge: Duration;
  /** A finished WAL segment is late when it has waited this long to be archived. */
  readonly maxArchiveWait: Duration;
}

/** What `PatroniCluster.fromClusterAttributes` needs: the values of the cluster's stack outputs. */
export interface PatroniClusterAttributes {
  /** The cluster's name (Patroni scope). */
  readonly clusterName: string;
  /** Number of nodes (3 or 5). */
  readonly nodes: number;
  /** The load balancer's DNS name, where the writer (5432) and reader (5433) endpoints are. */
  readonly endpointHostname: string;
  /** The load balancer's security group: clients allowed here reach both endpoints. */
  readonly securityGroupId: string;
  /**
   * The nodes' EC2 instance IDs, in order.
   * @default - unknown: no node status-check metrics or alarms
   */
  readonly nodeInstanceIds?: string[];
  /**
   * The nodes' private IP addresses, in order.
   * @default - unknown: runbooks cannot name the nodes' REST APIs
   */
  readonly nodeAddresses?: string[];
  /**
   * The cluster's `replicaMaxLag`.
   * @default Size.mebibytes(16)
   */
  readonly replicaMaxLag?: Size;
  /**
   * The load balancer's and the writer target group's full names (`net/...`, `targetgroup/...`).
   * @default - unknown: no HAProxy target metric
   */
  readonly loadBalancerFullName?: string;
  /** @default - unknown: no HAProxy target metric */
  readonly writerTargetGroupFullName?: string;
  /**
   * The cluster's backup limits (`backupLimits` of the PatroniCluster).
   * @default - no backup alarms
   */
  readonly backupLimits?: BackupLimits;
  /**
   * The cluster's `standbyOf` primary, by name.
   * @default - a primary cluster
   */
  readonly primaryClusterName?: string;
  /**
   * How long the cluster's certificates are valid (`ClusterTls.issued({ validity })`).
   * @default - unknown: no CertificatesExpiring alarm
   */
  readonly certificateValidity?: Duration;
}

/** A cluster's `replicaMaxLag` unless set. */
export const DEFAULT_REPLICA_MAX_LAG = Size.mebibytes(16);

/** The CloudWatch namespace of a cluster's node metrics. */
export function clusterMetricsNamespace(clusterName: string): string {
  return `CdkFailover/Patroni/${clusterName}`;
}

/** Node `i`'s name, as its metrics and Patroni know it. */
export function clusterNodeName(clusterName: string, index: number): string {
  return `${clusterName}-${index}`;
}

/** The metrics of a Patroni cluster, from its attributes alone: shared by the construct and its imports. */
export abstract class PatroniClusterBase extends Resource implements IPatroniCluster {
  public abstract readonly connections: ec2.Connections;
  public abstract readonly clusterName: string;
  public abstract readonly metricsNamespace: string;
  public abstract readonly nodeNames: string[];
  public abstract readonly nodeInstanceIds: string[];
  public abstract readonly nodeAddresses: string[];
  public abstract readonly replicaMaxLag: Size;
  public abstract readonly writerEndpoint: ClusterEndpoint;
  public abstract readonly readerEndpoint: ClusterEndpoint;
  public abstract readonly loadBalancerFullName?: string;
  public abstract readonly writerTargetGroupFullName?: string;
  public abstract readonly backupLimits?: BackupLimits;
  public abstract readonly primaryClusterName?: string;
  public abstract readonly certificateValidity?: Duration;

  public metricRoleChanges(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return clusterEvent(this, ROLE_CHANGE_EVENTS.roleChange, cloudwatch.Stats.SUM, props);
  }

  public metricPromotions(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return clusterEvent(this, ROLE_CHANGE_EVENTS.promotion, cloudwatch.Stats.SUM, props);
  }

  public metricFailoverDuration(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return clusterEvent(this, ROLE_CHANGE_EVENTS.failoverDurationSeconds, cloudwatch.Stats.MAXIMUM, props);
  }

  public metricPrimaryCount(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression {
    return clusterGauge(this, NODE_GAUGES.isPrimary, 'SUM', 'primaries', props);
  }

  public metricHealthyReplicaCount(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression {
    return clusterGauge(this, NODE_GAUGES.healthyReplica, 'SUM', 'healthy replicas', props);
  }

  public metricMaxReplicationLag(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression {
    return clusterGauge(this, NODE_GAUGES.replicationLagBytes, 'MAX', 'max replication lag (bytes)', props);
  }

  public metricHealthyEtcdMembers(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression {
    return clusterGauge(this, NODE_GAUGES.etcdHealthy, 'SUM', 'healthy etcd members', props);
  }

  public metricNodeGauge(nodeIndex: number, gauge: NodeGauge, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return nodeGauge(this, this.nodeNames[this.checkNodeIndex(nodeIndex)], gauge.metricName, props);
  }

  public metricNodeStatusCheckFailed(nodeIndex: number, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    const instanceId = this.nodeInstanceIds[this.checkNodeIndex(nodeIndex)];
    if (instanceId === undefined) {
      throw new Error(`${this.node.path}: metricNodeStatusCheckFailed() needs the nodes' instance IDs (nodeInstanceIds when imported)`);
    }
    return new cloudwatch.Metric({
      namespace: 'AWS/EC2',
      metricName: 'StatusCheckFailed',
      dimensionsMap: { InstanceId: instanceId },
      statistic: cloudwatch.Stats.MAXIMUM,
      period: Duration.minutes(1),
      ...props,
    });
  }

  public metricHealthyHaproxyCount(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    const loadBalancer = this.loadBalancerFullName;
    const targetGroup = this.writerTargetGroupFullName;
    if (loadBalancer === undefined || targetGroup === undefined) {
      throw new Error(
        `${this.node.path}: metricHealthyHaproxyCount() needs the load balancer's and writer target group's full names ` +
          '(loadBalancerFullName and writerTargetGroupFullName when imported)',
      );
    }
    return new cloudwatch.Metric({
      namespace: 'AWS/NetworkELB',
      metricName: 'HealthyHostCount',
      dimensionsMap: { LoadBalancer: loadBalancer, TargetGroup: targetGroup },
      statistic: cloudwatch.Stats.AVERAGE,
      ...props,
    }).attachTo(this);
  }

  // Only the primary publishes these: no FILL, so that silence stays missing data (not 0).
  public metricBackupAge(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression {
    return clusterGauge(this, NODE_GAUGES.backupAgeSeconds, 'MAX', 'newest backup age (s)', props, false);
  }

  public metricWalArchiveFailing(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression {
    return clusterGauge(this, NODE_GAUGES.walArchiveFailing, 'MAX', 'WAL archiving failing', props, false);
  }

  public metricTimingAdjusted(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression {
    return clusterGauge(this, NODE_GAUGES.timingAdjusted, 'MAX', 'timing raised by Patroni', props, false);
  }

  public metricStandbyReplayAge(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression {
    return clusterGauge(this, NODE_GAUGES.standbyReplayAgeSeconds, 'MAX', 'standby replay age (s)', props, false);
  }

  public metricStandbyReplayLag(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression {
    return clusterGauge(this, NODE_GAUGES.standbyReplayLagBytes, 'MAX', 'standby replay lag (bytes)', props, false);
  }

  public metricCertificateExpiry(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression {
    return clusterGauge(this, NODE_GAUGES.certificateExpirySeconds, 'MIN', 'first certificate ends in (s)', { statistic: cloudwatch.Stats.MINIMUM, ...props }, false);
  }

  public metricWalArchiveWait(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression {
    return clusterGauge(this, NODE_GAUGES.walArchiveWaitSeconds, 'MAX', 'oldest WAL waiting for the archive (s)', props, false);
  }

  public metricBackupRepositorySize(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression {
    return clusterGauge(this, NODE_GAUGES.backupRepositorySizeBytes, 'MAX', 'backups in the repository (bytes)', props, false);
  }

  private checkNodeIndex(nodeIndex: number): number {
    if (!Number.isInteger(nodeIndex) || nodeIndex < 0 || nodeIndex >= this.nodeNames.length) {
      throw new Error(`nodeIndex must be 0 to ${this.nodeNames.length - 1}, got ${nodeIndex}`);
    }
    return nodeIndex;
  }
}

/** A PatroniCluster made elsewhere (another stack or app), known by its attributes. */
export class ImportedPatroniCluster extends PatroniClusterBase {
  public readonly connections: ec2.Connections;
  public readonly clusterName: string;
  public readonly metricsNamespace: string;
  public readonly nodeNames: string[];
  public readonly nodeInstanceIds: string[];
  public readonly nodeAddresses: string[];
  public readonly replicaMaxLag: Size;
  public readonly writerEndpoint: ClusterEndpoint;
  public readonly readerEndpoint: ClusterEndpoint;
  public readonly loadBalancerFullName?: string;
  public readonly writerTargetGroupFullName?: string;
  public readonly backupLimits?: BackupLimits;
  public readonly primaryClusterName?: string;
  public readonly certificateValidity?: Duration;

  constructor(scope: Construct, id: string, attrs: PatroniClusterAttributes) {
    super(scope, id);
    if (!Token.isUnresolved(attrs.nodes) && attrs.nodes !== 3 && attrs.nodes !== 5) {
      throw new Error(`nodes must be 3 or 5 (a PatroniCluster's node count), got ${attrs.nodes}`);
    }
    if (attrs.nodeInstanceIds && !Token.isUnresolved(attrs.nodeInstanceIds) && attrs.nodeInstanceIds.length !== attrs.nodes) {
      throw new Error(`nodeInstanceIds must list ${attrs.nodes} instance IDs (one per node), got ${attrs.nodeInstanceIds.length}`);
    }
    if (attrs.nodeAddresses && !Token.isUnresolved(attrs.nodeAddresses) && attrs.nodeAddresses.length !== attrs.nodes) {
      throw new Error(`nodeAddresses must list ${attrs.nodes} addresses (one per node), got ${attrs.nodeAddresses.length}`);
    }
    if ((attrs.loadBalancerFullName === undefined) !== (attrs.writerTargetGroupFullName === undefined)) {
      throw new Error('loadBalancerFullName and writerTargetGroupFullName go together: give both or neither');
    }
    this.clusterName = attrs.clusterName;
    this.metricsNamespace = clusterMetricsNamespace(attrs.clusterName);
    this.nodeNames = Array.from({ length: attrs.nodes }, (_, i) => clusterNodeName(attrs.clusterName, i));
    this.nodeInstanceIds = [...(attrs.nodeInstanceIds ?? [])];
    this.nodeAddresses = [...(attrs.nodeAddresses ?? [])];
    this.replicaMaxLag = attrs.replicaMaxLag ?? DEFAULT_REPLICA_MAX_LAG;
    this.writerEndpoint = new ClusterEndpoint(attrs.endpointHostname, CLUSTER_PORTS.writer);
    this.readerEndpoint = new ClusterEndpoint(attrs.endpointHostname, CLUSTER_PORTS.reader);
    this.connections = new ec2.Connections({
      securityGroups: [ec2.SecurityGroup.fromSecurityGroupId(this, 'SecurityGroup', attrs.securityGroupId)],
      defaultPort: ec2.Port.tcpRange(CLUSTER_PORTS.writer, CLUSTER_PORTS.reader),
    });
    this.loadBalancerFullName = attrs.loadBalancerFullName;
    this.writerTargetGroupFullName = attrs.writerTargetGroupFullName;
    this.backupLimits = attrs.backupLimits && checkBackupLimits(attrs.backupLimits, 'backupLimits');
    this.primaryClusterName = attrs.primaryClusterName;
    this.certificateValidity = attrs.certificateValidity;
  }
}

/** `limits`, unless a limit is shorter than a minute or not whole minutes (the alarms' period). */
export function checkBackupLimits(limits: BackupLimits, prop: string): BackupLimits {
  for (const key of ['maxBackupAge', 'maxArchiveWait'] as const) {
    const limit = limits[key];
    if (limit.isUnresolved()) continue;
    const minutes = limit.toSeconds() / 60;
    if (!Number.isInteger(minutes) || minutes < 1) {
      throw new Error(`${prop}.${key} must be whole minutes, at least 1 minute (the backup alarms' period), got ${limit.toHumanString()}`);
    }
  }
  return limits;
}
