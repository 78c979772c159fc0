// The FailoverAlarms, anywhere in the app, that watch a DnsFailover or a PatroniCluster.
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sns from 'aws-cdk-lib/aws-sns';
import { IConstruct } from 'constructs';
import { ALARM_CATALOGUE, AlarmKind, FailoverAlarms } from '../monitoring';
import { blocks, inlineCode, shell, table } from './markdown';
import { RunbookContext } from './stack-context';

/** One alarm on the watched construct. */
export interface AlarmFacts {
  /** The alarm's kind: its construct ID (`DnsFailoverTriggered`, `DbNoPrimary`...). */
  readonly kind: string;
  /** Its description in CloudWatch. */
  readonly description: string;
  /** Its threshold, when known at synth. */
  readonly threshold?: string;
  readonly logicalId: string;
}

/** A FailoverAlarms watching the construct, and the alarms it has on it. */
export interface AlarmSetFacts {
  readonly path: string;
  /** The stack the alarms are in (DNS alarms live in us-east-1, maybe not with the construct). */
  readonly context: RunbookContext;
  readonly alarms: readonly AlarmFacts[];
  /** The composite "a failover is under way" alarm. */
  readonly compositeLogicalId: string;
  /** The topic's logical ID, when the FailoverAlarms created it; else its ARN when known. */
  readonly topicLogicalId?: string;
  readonly topicArn?: string;
  readonly emails: readonly string[];
  readonly dashboardLogicalId: string;
  readonly dashboardName?: string;
}

/** The description prefixes of FailoverAlarms' alarms on cluster `clusterName`: cluster-wide and per node. */
export function clusterAlarmPrefixes(clusterName: string): string[] {
  return [`cluster ${clusterName}: `, `cluster ${clusterName} node `];
}

/**
 * The alarm sets watching something, found by the prefix FailoverAlarms puts in each alarm's
 * description (`<dns path>: ...` or `cluster <name>: ...`, `cluster <name> node <i>: ...`).
 */
export function findAlarmSets(scope: IConstruct, descriptionPrefixes: readonly string[]): AlarmSetFacts[] {
  const sets: AlarmSetFacts[] = [];
  for (const candidate of scope.node.root.node.findAll()) {
    if (!(candidate instanceof FailoverAlarms)) continue;
    const context = RunbookContext.of(candidate);
    const alarms: AlarmFacts[] = [];
    for (const key of Object.keys(candidate.alarms).sort()) {
      const alarm = candidate.alarms[key];
      const cfn = alarm.node.defaultChild as cloudwatch.CfnAlarm;
      const description = context.concrete(cfn.alarmDescription) ?? '';
      if (!descriptionPrefixes.some((prefix) => description.startsWith(prefix))) continue;
      alarms.push({ kind: alarm.node.id, description, threshold: context.concrete(cfn.threshold), logicalId: context.logicalId(cfn) });
    }
    if (alarms.length === 0) continue;
    const topic = candidate.topic;
    const ownTopic = topic instanceof sns.Topic ? (topic.node.defaultChild as sns.CfnTopic) : undefined;
    const emails = topic.node
      .findAll()
      .filter((c): c is sns.CfnSubscription => c instanceof sns.CfnSubscription && c.protocol === 'email')
      .map((s) => context.concrete(s.endpoint))
      .filter((e): e is string => e !== undefined)
      .sort();
    sets.push({
      path: candidate.node.path,
      context,
      alarms,
      compositeLogicalId: context.logicalId(candidate.failoverInProgress.node.defaultChild as cloudwatch.CfnCompositeAlarm),
      topicLogicalId: ownTopic ? context.logicalId(ownTopic) : undefined,
      topicArn: ownTopic ? undefined : context.concrete(topic.topicArn),
      emails,
      dashboardLogicalId: context.logicalId(candidate.dashboard.node.defaultChild as cloudwatch.CfnDashboard),
      dashboardName: context.concrete(candidate.dashboard.dashboardName),
    });
  }
  return sets;
}

/** The catalogue's one-line meaning of an alarm kind. */
export function alarmMeaning(kind: string): string {
  return kind in ALARM_CATALOGUE ? ALARM_CATALOGUE[kind as AlarmKind].description : '';
}

/** Markdown for the alarm sets: what each alarm means, where notifications go, how to read the states. */
export function renderAlarmSets(sets: readonly AlarmSetFacts[], descriptionPrefixes: readonly string[], what: string): string {
  return blocks(
    ...sets.map((set) => {
      const ctx = set.context;
      const rows = set.alarms.map((a) => [
        inlineCode(a.kind),
        a.description.slice(a.description.indexOf(': ') + 2),
        a.threshold ?? 'deploy-time',
        inlineCode(a.logicalId),
      ]);
      const topic = set.topicLogicalId
        ? `SNS topic (resource ${inlineCode(set.topicLogicalId)})`
        : `SNS topic ${set.topicArn ? inlineCode(set.topicArn) : 'passed in by the app'}`;
      const subscribed = set.emails.length ? `, e-mailed to ${set.emails.map(inlineCode).join(', ')}` : '';
      const region = ctx.region ?? '$AWS_REGION';
      const filter = descriptionPrefixes.every((p) => QUERY_SAFE.test(p))
        ? `?${descriptionPrefixes.map((p) => `starts_with(AlarmDescription, '${p}')`).join(' || ')}`
        : '';
      const dashboardLines = set.dashboardName
        ? [`echo "https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards/dashboard/${set.dashboardName}"`]
        : [
            ctx.resourceFetch(set.dashboardLogicalId, 'DASHBOARD'),
            `echo "https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards/dashboard/$DASHBOARD"`,
          ];
      return blocks(
        `Alarms of ${inlineCode(set.path)} on ${what}, in ${ctx.describe}. They notify the ${topic}${subscribed}, in ALARM and ` +
          `again at OK. The composite alarm ${inlineCode(set.compositeLogicalId)} is in ALARM while any failover is under way.`,
        table(['alarm', 'fires when', 'threshold', 'logical ID'], rows),
        'Their states now, and the dashboard\'s address:',
        shell([
          `aws cloudwatch describe-alarms --region ${ctx.regionArg} \\`,
          `  --query "MetricAlarms[${filter}].[StateValue,AlarmName,AlarmDescription]" --output table`,
          ...dashboardLines,
        ]),
      );
    }),
  );
}

const QUERY_SAFE = /^[A-Za-z0-9_./:@+=, -]+$/;
