import { Duration, Names, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct, IConstruct } from 'constructs';
import { ALARM_CATALOGUE, AlarmKind, AlarmOverrides, overrideKey, validateOverrides } from './alarm-catalogue';
import { etcdQuorum } from './alarm-definitions';
import { buildFailoverDashboard } from './dashboard';
import { IDnsFailover } from '../dns';
import { IPatroniCluster } from '../patroni';

/** Properties of FailoverAlarms. */
export interface FailoverAlarmsProps {
  /**
   * DNS failovers to watch. Route 53 publishes health-check metrics only in us-east-1, so a
   * FailoverAlarms with DNS failovers must be in a us-east-1 stack.
   * @default - none
   */
  readonly dnsFailovers?: IDnsFailover[];

  /**
   * Patroni clusters to watch; each must be in this stack's region (alarms watch their own region).
   * @default - none
   */
  readonly clusters?: IPatroniCluster[];

  /**
   * Where notifications go.
   * @default - a new topic, encrypted with a new KMS key and refusing non-TLS publishers
   */
  readonly topic?: sns.ITopic;

  /**
   * E-mail addresses subscribed to the topic.
   * @default - none
   */
  readonly emails?: string[];

  /**
   * Notify when an alarm returns to OK too, so that the team knows a failover is over.
   * @default true
   */
  readonly notifyOnOk?: boolean;

  /**
   * Tuning per alarm (`{ dbFailoverTooSlow: { threshold: 30 } }`).
   * @default - the catalogue's defaults (see docs/alarms.md)
   */
  readonly overrides?: AlarmOverrides;

  /**
   * Name of the CloudWatch dashboard.
   * @default - generated
   */
  readonly dashboardName?: string;
}

/**
 * CloudWatch alarms, SNS notifications and a dashboard for failover events of DNS failovers and
 * Patroni clusters: failover happened, took too long, left no healthy target, split brain...
 */
export class FailoverAlarms extends Construct {
  /** The topic every alarm notifies. */
  public readonly topic: sns.ITopic;
  /** Every alarm, by `Dns-<record name>/<kind>`, `Cluster-<cluster name>/<kind>` or `Cluster-<name>/Node<i>/<kind>`. */
  public readonly alarms: Record<string, cloudwatch.Alarm> = {};
  /** ALARM while any failover is under way: DNS failover triggered, database promotion, or no primary. */
  public readonly failoverInProgress: cloudwatch.CompositeAlarm;
  /** Health status, latency, primaries, lag and role changes. */
  public readonly dashboard: cloudwatch.Dashboard;

  private readonly overrides: AlarmOverrides;
  private readonly actions: cloudwatch.IAlarmAction[];
  private readonly notifyOnOk: boolean;

  constructor(scope: Construct, id: string, props: FailoverAlarmsProps) {
    super(scope, id);
    const dnsFailovers = props.dnsFailovers ?? [];
    const clusters = props.clusters ?? [];
    if (dnsFailovers.length === 0 && clusters.length === 0) {
      throw new Error('FailoverAlarms needs at least one of dnsFailovers or clusters to watch');
    }
    this.checkRegions(dnsFailovers, clusters);
    checkNamesOnce(dnsFailovers, clusters);
    this.overrides = props.overrides ?? {};
    validateOverrides(this.overrides);
    this.notifyOnOk = props.notifyOnOk ?? true;

    this.topic = props.topic ?? this.createTopic();
    for (const email of props.emails ?? []) {
      if (!Token.isUnresolved(email) && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
        throw new Error(`emails: '${email}' is not an e-mail address`);
      }
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
    this.actions = [new cwActions.SnsAction(this.topic)];

    const inProgress: cloudwatch.IAlarm[] = [];
    // One scope per watched construct, named by what it watches (the names are refused twice), not
    // by the construct's own ID: two constructs with the same ID in different stacks, or one named
    // like a child of this construct, cannot collide, and moving a construct keeps its alarms.
    const scopeFor = (kind: 'Dns' | 'Cluster', name: string, watched: IConstruct) =>
      new Construct(this, `${kind}-${Token.isUnresolved(name) ? Names.nodeUniqueId(watched.node) : name}`);
    for (const dns of dnsFailovers) {
      const scope = scopeFor('Dns', dns.recordName, dns);
      inProgress.push(this.alarm(scope, 'DnsFailoverTriggered', dns.metricPrimaryHealthy(), dns.node.path));
      if (dns.secondaryHealthCheckId !== undefined) {
        this.alarm(scope, 'DnsSecondaryUnhealthy', dns.metricSecondaryHealthy(), dns.node.path);
      }
    }
    for (const cluster of clusters) {
      const scope = scopeFor('Cluster', cluster.clusterName, cluster);
      const where = `cluster ${cluster.clusterName}`;
      // A standby cluster has no primary and takes no backups until it is promoted: its readiness
      // is what to watch. After a promotion, removing standbyOf (or primaryClusterName from an
      // import) brings the primary's alarms.
      const standby = cluster.primaryClusterName !== undefined;
      inProgress.push(this.alarm(scope, 'DbFailoverOccurred', cluster.metricPromotions(), where));
      this.alarm(scope, 'DbFailoverTooSlow', cluster.metricFailoverDuration(), where);
      if (standby) this.alarm(scope, 'StandbyNotReady', cluster.metricStandbyReplayAge(), where);
      else inProgress.push(this.alarm(scope, 'DbNoPrimary', cluster.metricPrimaryCount(), where));
      this.alarm(scope, 'DbSplitBrain', cluster.metricPrimaryCount({ statistic: cloudwatch.Stats.MINIMUM }), where);
      this.alarm(scope, 'DbNoHealthyReplica', cluster.metricHealthyReplicaCount(), where);
      this.alarm(scope, 'DbReplicationLagHigh', cluster.metricMaxReplicationLag(), where, cluster.replicaMaxLag.toBytes());
      const members = cluster.nodeNames.length;
      this.alarm(scope, 'EtcdMemberUnhealthy', cluster.metricHealthyEtcdMembers(), where, members);
      this.alarm(scope, 'EtcdQuorumAtRisk', cluster.metricHealthyEtcdMembers(), where, etcdQuorum(members));
      this.alarm(scope, 'SlowerThanDeclared', cluster.metricTimingAdjusted(), where);
      const validity = cluster.certificateValidity;
      if (validity) this.alarm(scope, 'CertificatesExpiring', cluster.metricCertificateExpiry(), where, certificatesExpiringThreshold(validity));
      const limits = cluster.backupLimits;
      if (limits && !standby) {
        this.alarm(scope, 'BackupTooOld', cluster.metricBackupAge(), where, limits.maxBackupAge.toSeconds());
        this.alarm(scope, 'WalArchiveFailing', cluster.metricWalArchiveFailing(), where);
        this.alarm(scope, 'WalArchiveLate', cluster.metricWalArchiveWait(), where, limits.maxArchiveWait.toSeconds());
      }
      // An imported cluster without its instance IDs has no status-check alarms.
      cluster.nodeInstanceIds.forEach((_, i) => {
        this.alarm(new Construct(scope, `Node${i}`), 'NodeStatusCheckFailed', cluster.metricNodeStatusCheckFailed(i), `${where} node ${i}`);
      });
    }

    this.failoverInProgress = new cloudwatch.CompositeAlarm(this, 'FailoverInProgress', {
      alarmDescription: 'A failover is under way: DNS answering with the secondary, a database promotion, or no primary',
      alarmRule: cloudwatch.AlarmRule.anyOf(...inProgress.map((a) => cloudwatch.AlarmRule.fromAlarm(a, cloudwatch.AlarmState.ALARM))),
    });
    this.addActions(this.failoverInProgress);

    this.dashboard = buildFailoverDashboard(this, 'Dashboard', { dnsFailovers, clusters, dashboardName: props.dashboardName });
  }

  private alarm(scope: Construct, kind: AlarmKind, metric: cloudwatch.IMetric, where: string, threshold?: number): cloudwatch.Alarm {
    const defaults = ALARM_CATALOGUE[kind];
    const tuning = this.overrides[overrideKey(kind)] ?? {};
    const evaluationPeriods = tuning.evaluationPeriods ?? defaults.evaluationPeriods;
    const periodMetric = tuning.period ? withPeriod(metric, tuning.period) : metric;
    const alarm = new cloudwatch.Alarm(scope, kind, {
      metric: periodMetric,
      threshold: tuning.threshold ?? threshold ?? defaults.threshold,
      comparisonOperator: defaults.comparison,
      evaluationPeriods,
      datapointsToAlarm: tuning.datapointsToAlarm ?? evaluationPeriods,
      treatMissingData: tuning.treatMissingData ?? defaults.treatMissingData,
      alarmDescription: `${where}: ${defaults.description}`,
    });
    this.addActions(alarm);
    this.alarms[`${scope.node.path.slice(this.node.path.length + 1)}/${kind}`] = alarm;
    return alarm;
  }

  private addActions(alarm: cloudwatch.AlarmBase): void {
    alarm.addAlarmAction(...this.actions);
    if (this.notifyOnOk) alarm.addOkAction(...this.actions);
  }

  private checkRegions(dnsFailovers: IDnsFailover[], clusters: IPatroniCluster[]): void {
    const region = Stack.of(this).region;
    if (dnsFailovers.length > 0 && region !== 'us-east-1') {
      throw new Error(
        `FailoverAlarms with dnsFailovers must be in a us-east-1 stack, but this stack's region is ` +
          `${Token.isUnresolved(region) ? 'not set (environment-agnostic)' : region}: Route 53 publishes health-check metrics ` +
          "only in us-east-1, and an alarm can only watch its own region. Put the DNS alarms in a stack with env: { region: 'us-east-1' } " +
          "(a separate FailoverAlarms for the clusters can stay in the clusters' region)",
      );
    }
    for (const cluster of clusters) {
      const clusterRegion = cluster.env.region;
      if (!Token.isUnresolved(clusterRegion) && !Token.isUnresolved(region) && clusterRegion !== region) {
        throw new Error(
          `clusters: ${cluster.node.path} is in ${clusterRegion} but this FailoverAlarms is in ${region}; ` +
            "an alarm can only watch its own region: create a FailoverAlarms in the cluster's stack",
        );
      }
    }
  }

  private createTopic(): sns.Topic {
    const key = new kms.Key(this, 'TopicKey', {
      description: `Encrypts the failover notifications of ${this.node.path}`,
      enableKeyRotation: true,
    });
    // CloudWatch publishes to an encrypted topic only if the key lets it.
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    return new sns.Topic(this, 'Topic', { masterKey: key, enforceSSL: true, displayName: 'Failover events' });
  }
}

/** The scopes are named after the record and cluster names, so each may be watched once. */
function checkNamesOnce(dnsFailovers: IDnsFailover[], clusters: IPatroniCluster[]): void {
  const twice = (names: string[]) => names.filter((n) => !Token.isUnresolved(n)).find((n, i, all) => all.indexOf(n) !== i);
  const clusterTwice = twice(clusters.map((c) => c.clusterName));
  if (clusterTwice !== undefined) {
    throw new Error(`clusters: two clusters are named '${clusterTwice}'; their metrics would be the same (the ClusterName dimension): watch each cluster once`);
  }
  const recordTwice = twice(dnsFailovers.map((d) => d.recordName));
  if (recordTwice !== undefined) {
    throw new Error(`dnsFailovers: two are for '${recordTwice}'; their alarms could not be told apart: watch each record name once`);
  }
}

function withPeriod(metric: cloudwatch.IMetric, period: Duration): cloudwatch.IMetric {
  if (metric instanceof cloudwatch.Metric || metric instanceof cloudwatch.MathExpression) {
    return metric.with({ period });
  }
  return metric;
}

/** Seconds before the first certificate ends that CertificatesExpiring fires: 30 days, or a third of a shorter validity (else it would fire right after every rotation). */
function certificatesExpiringThreshold(validity: Duration): number | undefined {
  if (validity.isUnresolved()) return undefined;
  return Math.min(ALARM_CATALOGUE.CertificatesExpiring.threshold, Math.floor(validity.toSeconds() / 3));
}
