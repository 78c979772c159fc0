// The runbook of a DnsFailover or PatroniCluster this stack imports (`fromXxxAttributes`): only its
// attributes are known here, so it says what they are, which alarms of the app watch it and how to
// look at it; the procedures are in the runbook of the stack that defines it.
import { Duration } from 'aws-cdk-lib';
import { IDnsFailover } from '../dns';
import { CLUSTER_PORTS, IPatroniCluster } from '../patroni';
import { NODE_METRIC_DIMENSIONS } from '../patroni/config/node-metrics';
import { NodeGauge } from '../patroni/node-gauge';
import { clusterAlarmPrefixes, findAlarmSets, renderAlarmSets } from './alarms';
import { OPERATOR_TLS_FILE } from './cli';
import { blocks, bytes, heading, inlineCode, shell, shellWord, table } from './markdown';
import { IMPORTED_RUNBOOK_SECTIONS, sectionHeading } from './sections';
import { RunbookContext } from './stack-context';

type Section = (typeof IMPORTED_RUNBOOK_SECTIONS)[number];

const DEPLOY_TIME = 'known at deploy time (a value of another stack)';
const NOT_GIVEN = 'not given to the import';

/** A duration as words, or DEPLOY_TIME for a token. */
function duration(d: Duration): string {
  return d.isUnresolved() ? DEPLOY_TIME : d.toHumanString();
}

function intro(kind: string, method: string): string {
  return (
    `This stack imports the ${kind} by its attributes (${inlineCode(method)}): it is defined and deployed elsewhere. ` +
    'Its procedures (execute, verify, roll back, bring the old primary back) are in the runbook generated with the stack that defines it. ' +
    'This section says what this stack knows of it, which alarms of this app watch it, and how to look at it.'
  );
}

/** The runbook of an imported PatroniCluster, its title at `level`. */
export function renderImportedClusterSections(cluster: IPatroniCluster, level: number): string {
  const ctx = RunbookContext.of(cluster);
  const h = (title: Section) => sectionHeading(IMPORTED_RUNBOOK_SECTIONS, title, level + 1);
  const value = (v: string) => {
    const known = ctx.concrete(v);
    return known === undefined ? DEPLOY_TIME : inlineCode(known);
  };
  const list = (values: readonly string[]) => (values.length ? (ctx.concreteList(values)?.map(inlineCode).join(', ') ?? DEPLOY_TIME) : NOT_GIVEN);
  const name = ctx.concrete(cluster.clusterName);
  const prefixes = clusterAlarmPrefixes(name ?? '');
  const sets = name === undefined ? [] : findAlarmSets(cluster, prefixes);
  const lag = ctx.concrete(cluster.replicaMaxLag.toBytes());
  const addresses = cluster.nodeAddresses.length ? ctx.concreteList(cluster.nodeAddresses) : undefined;
  const addressesMissing = cluster.nodeAddresses.length
    ? "The node addresses are known only at deploy time (a value of another stack): the defining stack's runbook has the commands that read the members and the leader."
    : "The node addresses were not given to the import: the defining stack's runbook has the commands that read the members and the leader.";
  return blocks(
    heading(level, `Database failover: ${name ?? 'a cluster named at deploy time'} (${inlineCode(cluster.node.path)}, imported)`),
    h('Overview'),
    intro('cluster', 'PatroniCluster.fromClusterAttributes'),
    table(
      ['what', 'value'],
      [
        ['cluster name (Patroni scope)', name ? inlineCode(name) : DEPLOY_TIME],
        ['nodes, as their metrics name them', list(cluster.nodeNames)],
        ['node instance IDs', list(cluster.nodeInstanceIds)],
        ['node addresses', list(cluster.nodeAddresses)],
        ['writer endpoint', value(cluster.writerEndpoint.socketAddress)],
        ['reader endpoint', value(cluster.readerEndpoint.socketAddress)],
        ['CloudWatch namespace of the node metrics', value(cluster.metricsNamespace)],
        ['lag limit of a healthy replica (`replicaMaxLag`)', lag === undefined ? DEPLOY_TIME : bytes(Number(lag))],
        [
          'backup alarm limits',
          cluster.backupLimits
            ? `newest backup ${duration(cluster.backupLimits.maxBackupAge)}, WAL archive wait ${duration(cluster.backupLimits.maxArchiveWait)}`
            : 'not given (no backup alarms)',
        ],
      ],
    ),
    h('Trigger conditions'),
    sets.length
      ? renderAlarmSets(sets, prefixes, `cluster ${inlineCode(name!)}`)
      : 'No FailoverAlarms in this app watches this import. Watch it with `new FailoverAlarms(stack, \'Alarms\', { clusters: [cluster] })`, or act on the alarms of the stack that defines it.',
    h('Verify the outage'),
    name === undefined
      ? 'The cluster\'s name is known only at deploy time: read it from the defining stack\'s outputs, then use the commands of its runbook.'
      : blocks(
          `Whether each node reported itself primary, minute by minute over the last 15 minutes, as the nodes publish it to ${inlineCode(cluster.metricsNamespace)}: 1 on exactly one node is healthy; on none, there is no writer; on two, two primaries (split brain).`,
          shell(
            cluster.nodeNames.map(
              (node) =>
                `aws cloudwatch get-metric-statistics --region ${ctx.regionArg} --namespace ${shellWord(cluster.metricsNamespace)} --metric-name ${NodeGauge.IS_PRIMARY.metricName} ` +
                `--dimensions Name=${NODE_METRIC_DIMENSIONS.cluster},Value=${shellWord(name)} Name=${NODE_METRIC_DIMENSIONS.node},Value=${shellWord(node)} --statistics Maximum --period 60 ` +
                '--start-time "$(date -u -d \'-15 min\' +%Y-%m-%dT%H:%M:%SZ)" --end-time "$(date -u +%Y-%m-%dT%H:%M:%SZ)" ' +
                "--query 'sort_by(Datapoints,&Timestamp)[].[Timestamp,Maximum]' --output text",
            ),
          ),
          addresses
            ? blocks(
                'The members, the leader and the lag, from a machine that reaches the nodes\' REST APIs (inside the VPC, or through the port forwards of the defining stack\'s runbook), ' +
                  `with the defining stack's operator TLS secret saved as ${inlineCode(OPERATOR_TLS_FILE)} (for a cluster deployed with \`ClusterTls.OFF\`: \`http://\` and no secret file):`,
                shell([
                  [
                    'npx failover status',
                    '--patroni-url',
                    addresses.map((a) => `https://${a}:${CLUSTER_PORTS.restApi}`).join(','),
                    '--tls-secret-file',
                    OPERATOR_TLS_FILE,
                    ...(lag === undefined ? [] : ['--max-lag', lag]),
                  ].join(' '),
                ]),
              )
            : addressesMissing,
        ),
  );
}

/** The runbook of an imported DnsFailover, its title at `level`. */
export function renderImportedDnsSections(dns: IDnsFailover, level: number): string {
  const ctx = RunbookContext.of(dns);
  const h = (title: Section) => sectionHeading(IMPORTED_RUNBOOK_SECTIONS, title, level + 1);
  const known = (v: string | undefined) => (v === undefined ? undefined : ctx.concrete(v));
  const record = known(dns.recordName);
  const primary = known(dns.primaryHealthCheckId);
  const secondary = known(dns.secondaryHealthCheckId);
  const zone = known(dns.hostedZoneId);
  const show = (v: string | undefined, given: boolean) => (v !== undefined ? inlineCode(v) : given ? DEPLOY_TIME : 'none (no secondary health check)');
  const prefixes = [`${dns.node.path}: `];
  const sets = findAlarmSets(dns, prefixes);
  const statusLine = (id: string) => [
    `aws route53 get-health-check-status --health-check-id ${shellWord(id)} \\`,
    "  --query 'HealthCheckObservations[].[Region,StatusReport.Status]' --output table",
  ];
  return blocks(
    heading(level, `DNS failover: ${record ?? 'a record named at deploy time'} (${inlineCode(dns.node.path)}, imported)`),
    h('Overview'),
    intro('DNS failover', 'DnsFailover.fromDnsFailoverAttributes'),
    table(
      ['what', 'value'],
      [
        ['record name', show(record, true)],
        ['hosted zone ID', show(zone, true)],
        ['primary health check ID', show(primary, true)],
        ['secondary health check ID', show(secondary, dns.secondaryHealthCheckId !== undefined)],
        ['checker regions whose latency is measured', dns.latencyRegions.length ? (ctx.concreteList(dns.latencyRegions)?.map(inlineCode).join(', ') ?? DEPLOY_TIME) : 'none'],
        ['health check protocol', dns.https ? 'HTTPS' : 'not HTTPS'],
      ],
    ),
    h('Trigger conditions'),
    sets.length
      ? renderAlarmSets(sets, prefixes, 'this DnsFailover')
      : 'No FailoverAlarms in this app watches this import. Watch it with `new FailoverAlarms(stack, \'Alarms\', { dnsFailovers: [dns] })` in a us-east-1 stack, or act on the alarms of the stack that defines it.',
    h('Verify the outage'),
    primary === undefined || record === undefined || zone === undefined
      ? 'The health check IDs, the record or the zone are known only at deploy time: read them from the defining stack\'s outputs, then use the commands of its runbook.'
      : blocks(
          'What Route 53 and the CLI see (Route 53\'s API is global: no `--region`):',
          shell([
            `npx failover status --health-check-id ${shellWord(primary)}${secondary ? ` --secondary-health-check-id ${shellWord(secondary)}` : ''} ` +
              `--hosted-zone-id ${shellWord(zone)} --record-name ${shellWord(record)}`,
            ...statusLine(primary),
            ...(secondary ? statusLine(secondary) : []),
          ]),
        ),
  );
}
