// The runbook of one PatroniCluster: Patroni, etcd and HAProxy on EC2 behind an internal NLB.
import { IPatroniCluster, PatroniCluster } from '../patroni';
import { SYSTEMD_UNIT_NAMES } from '../patroni/config/systemd-units';
import { DRAIN_ON_STOP, DRAIN_UNIT_NAME, NODE_AGENT_PATH } from '../patroni/config/agent-units';
import { renderImportedClusterSections } from './imported-runbook';
import { clusterAlarmPrefixes, findAlarmSets, renderAlarmSets } from './alarms';
import { etcdQuorum } from '../monitoring/alarm-definitions';
import { failoverCli, FORWARDED_REST_API_PORT_BASE, FORWARDED_WRITER_PORT, forwardedPatroniUrls, forwardedWriterUri, OPERATOR_TLS_FILE } from './cli';
import { ProcedureStep, rebuildFromSurvivorSteps, replaceMemberSteps } from './etcd-procedures';
import { blocks, bullets, bytes, checklist, heading, inlineCode, listOf, numbered, seconds, shell, table } from './markdown';
import { PatroniFacts, patroniFacts } from './patroni-facts';
import { PATRONI_RUNBOOK_SECTIONS, sectionHeading, sectionRef } from './sections';

type Section = (typeof PATRONI_RUNBOOK_SECTIONS)[number];
const ref = (title: Section) => sectionRef(PATRONI_RUNBOOK_SECTIONS, title);

/** The Markdown runbook of `cluster`, as a document of its own. */
export function renderPatroniClusterRunbook(cluster: IPatroniCluster): string {
  return `${renderPatroniSections(cluster, 1)}\n`;
}

/**
 * The runbook of `cluster` with its title at heading `level` and its sections one below: the whole
 * runbook for a PatroniCluster of this app, what its attributes give for an import.
 */
export function renderPatroniSections(cluster: IPatroniCluster, level: number): string {
  if (!(cluster instanceof PatroniCluster)) return renderImportedClusterSections(cluster, level);
  const f = patroniFacts(cluster);
  const h = (title: Section) => sectionHeading(PATRONI_RUNBOOK_SECTIONS, title, level + 1);
  const sub = (text: string) => heading(level + 2, text);
  return blocks(
    heading(level, `Database failover: ${f.clusterName} (${inlineCode(f.path)})`),
    h('Overview'),
    overview(f),
    h('Prerequisites'),
    prerequisites(f, sub),
    h('Trigger conditions'),
    triggers(cluster, f),
    h('Verify the outage'),
    verifyOutage(f),
    h('Confirm the standby is ready'),
    standbyReady(f),
    h('Execute'),
    sub('Automatic failover: what to watch'),
    executeAutomatic(f),
    sub('Manual: planned switchover (the leader is healthy)'),
    executeSwitchover(f),
    sub('Manual: failover (no healthy leader, and Patroni does not promote)'),
    executeFailover(f),
    sub('Two primaries (DbSplitBrain)'),
    splitBrain(f),
    h('Verify'),
    verify(f),
    h('Rollback'),
    rollback(f),
    h('Post-failover checklist'),
    postFailover(f),
    h('Bring the old primary back'),
    bringBack(f),
    h('Replace an etcd member'),
    replaceEtcdMember(f, sub),
    h("A node's bootstrap failed"),
    bootstrapFailed(f),
    h("A node's configuration change failed"),
    configurationChangeFailed(f),
    h('Backups and point-in-time recovery'),
    backups(f, sub),
    h('Regional failover'),
    regionalFailover(cluster, f, sub),
    h('Planned maintenance of a node'),
    plannedMaintenance(f),
  );
}

// ---- shared pieces -------------------------------------------------------------------------------

const patronictl = (f: PatroniFacts, args: string) => `sudo -u postgres patronictl -c ${f.files.patroni} ${args}`;

function memberNames(f: PatroniFacts): string[] {
  return f.nodes.map((n) => n.name);
}

/** Patroni's reaction time to a lost leader, as a planning figure (not a bound). */
function unplannedFailoverSeconds(f: PatroniFacts): number {
  const t = f.timing;
  return t.ttlSeconds + t.loopWaitSeconds + t.etcdElectionTimeoutMs / 1000 + (t.haproxyRise * t.haproxyCheckIntervalMs) / 1000;
}

function quorum(f: PatroniFacts): number {
  return etcdQuorum(f.nodes.length);
}

function cli(f: PatroniFacts, command: readonly string[], extra: readonly string[] = []): string {
  return failoverCli(f.context, f.path, command, [...forwardedPatroniUrls(f.nodes.length, !!f.tls), ...extra]);
}

function nodeShell(f: PatroniFacts, index: string): string {
  return `aws ssm start-session --region ${f.context.regionArg} --target "\${NODE_ID[${index}]}"`;
}

/** A line that stops with `message` unless the operator has set `variable`. */
function guard(variable: string, message: string): string {
  return `${variable}="\${${variable}:?${message}}"`;
}

function nodeIndexGuard(f: PatroniFacts): string {
  return guard('N', `set N to the node's index, 0 to ${f.nodes.length - 1}`);
}

function syncText(f: PatroniFacts): string {
  switch (f.synchronousMode) {
    case 'on':
      return 'synchronous mode **on**: a commit waits for the synchronous standby, and only that standby is promoted automatically, so no acknowledged write is lost. With no standby left, the primary goes on accepting writes alone.';
    case 'strict':
      return 'synchronous mode **strict**: a commit waits for the synchronous standby, and only that standby is promoted automatically. With no standby left, the primary stops accepting writes.';
    default:
      return `asynchronous replication (synchronous mode **off**): a failover can lose the writes the new leader had not received, up to maximum_lag_on_failover (${bytes(f.maximumLagOnFailoverBytes)}).`;
  }
}

function renderSteps(steps: readonly ProcedureStep[]): string {
  return blocks(
    ...steps.map((step, i) =>
      blocks(`**Step ${i + 1}, on the ${step.on}.** ${step.title}`, shell(step.lines), step.expect ? `Expect: ${step.expect}` : undefined),
    ),
  );
}

// ---- sections ------------------------------------------------------------------------------------

function overview(f: PatroniFacts): string {
  const t = f.timing;
  const o = f.outputs;
  const outputRow = (what: string, key: string) => {
    const out = o.get(key);
    return [what, out ? (out.value !== undefined ? `${inlineCode(out.value)} (output ${inlineCode(out.logicalId)})` : f.context.outputPhrase(out)) : 'no output'];
  };
  const resourceRow = (what: string, logicalId: string | undefined) => [what, logicalId ? `resource ${inlineCode(logicalId)} (no output; its physical ID is the ARN)` : 'not found'];
  const lost = f.nodes.length - quorum(f);
  return blocks(
    `PostgreSQL ${f.postgresVersion} on ${f.nodes.length} EC2 nodes (${f.instanceType ? inlineCode(f.instanceType) : 'instance type set at deploy time'}, Debian 12) in ${f.context.describe}. ` +
      `Patroni elects the leader through etcd, which runs a member on every node: the cluster survives the loss of ${lost} node${lost === 1 ? '' : 's'} ` +
      `(quorum ${quorum(f)} of ${f.nodes.length}). HAProxy on every node sends connections to the node Patroni says is the leader; an internal Network ` +
      `Load Balancer gives clients a writer (port ${f.ports.writer}, to HAProxy ${f.ports.haproxyPrimary}) and a reader (port ${f.ports.reader}, to HAProxy ${f.ports.haproxyReplica}: replicas within ${bytes(f.replicaMaxLagBytes)} of lag) endpoint. ` +
      'Patroni fails over by itself when the leader\'s node, Patroni or network is lost; a crash of PostgreSQL alone is restarted in place.',
    table(
      ['node', 'member name (Patroni and etcd)', 'availability zone', 'instance', 'address'],
      f.nodes.map((n) => [String(n.index), inlineCode(n.name), n.availabilityZone ?? 'deploy-time', `\`\${NODE_ID[${n.index}]}\``, `\`\${NODE_ADDR[${n.index}]}\``]),
    ),
    `Instance IDs and addresses are known at deploy time: ${o.get('nodeInstanceIds') ? f.context.outputPhrase(o.get('nodeInstanceIds')!) : 'no output'} and ` +
      `${o.get('nodeAddresses') ? f.context.outputPhrase(o.get('nodeAddresses')!) : 'no output'}, comma-separated in node order; ${ref('Prerequisites')} reads them into \`NODE_ID\` and \`NODE_ADDR\`.`,
    table(
      ['what', 'where'],
      [
        outputRow('cluster name (Patroni scope, etcd prefix)', 'clusterName'),
        outputRow('writer endpoint', 'writerEndpoint'),
        outputRow('reader endpoint', 'readerEndpoint'),
        outputRow(`superuser secret (${inlineCode(f.superuser)}), ARN`, 'superuserSecretArn'),
        outputRow(`Patroni REST API secret (${inlineCode(f.restApiUser)}), ARN`, 'restApiSecretArn'),
        resourceRow('replication user secret', f.resources.replicationSecret),
        resourceRow('pg_rewind user secret', f.resources.rewindSecret),
        outputRow('CloudWatch namespace of the node metrics', 'metricsNamespace'),
        outputRow('lag limit of a healthy replica (`replicaMaxLag`), bytes: `failover prometheus-rules` reads it', 'replicaMaxLagBytes'),
        ...(o.get('operatorTlsSecretArn')
          ? [outputRow('TLS: both CAs and an operator client certificate (`caCert`, `databaseCaCert`, `cert`, `key`), ARN', 'operatorTlsSecretArn')]
          : []),
        outputRow('the clients\' security group (the load balancer\'s)', 'securityGroupId'),
        outputRow('the load balancer\'s full name (`net/...`)', 'loadBalancerFullName'),
        outputRow('the writer target group\'s full name (`targetgroup/...`)', 'writerTargetGroupFullName'),
        ...(o.get('maxBackupAgeSeconds') ? [outputRow('backup alarm limit: newest backup age, seconds', 'maxBackupAgeSeconds')] : []),
        ...(o.get('maxArchiveWaitSeconds') ? [outputRow('backup alarm limit: WAL archive wait, seconds', 'maxArchiveWaitSeconds')] : []),
        ...(o.get('primaryClusterName') ? [outputRow(`the primary this standby cluster follows (${ref('Regional failover')})`, 'primaryClusterName')] : []),
        ...(o.get('certificateValiditySeconds') ? [outputRow('how long its certificates are valid, seconds (`certificateValidity`)', 'certificateValiditySeconds')] : []),
      ],
    ),
    'Another stack or app watches this cluster through `PatroniCluster.fromClusterAttributes`, with the values of these outputs ' +
      '(node count from `nodeAddresses`, `endpointHostname` from the writer endpoint without its port).',
    bullets([
      `Replication: ${syncText(f)}`,
      `A replica more than maximum_lag_on_failover (${bytes(f.maximumLagOnFailoverBytes)}) behind is never promoted automatically.`,
      `Watchdog: ${inlineCode(f.watchdogMode)}${f.watchdogMode === 'required' ? ' (softdog resets a node whose Patroni hangs while leading; Patroni will not lead without it)' : ''}.`,
    ]),
    `Timing profile ${inlineCode(f.timingProfile)}:`,
    table(
      ['setting', 'value', 'meaning'],
      [
        ['ttl', seconds(t.ttlSeconds), 'a lost leader keeps the leader key this long'],
        ['loop_wait', seconds(t.loopWaitSeconds), 'pause between Patroni\'s loops'],
        ['retry_timeout', seconds(t.retryTimeoutSeconds), 'a leader that cannot reach etcd or PostgreSQL this long demotes itself'],
        ['HAProxy checks', `every ${seconds(t.haproxyCheckIntervalMs / 1000)}, fall ${t.haproxyFall}, rise ${t.haproxyRise}`, 'how fast HAProxy follows the leader'],
        ['etcd heartbeat / election', `${t.etcdHeartbeatMs} ms / ${t.etcdElectionTimeoutMs} ms`, 'etcd\'s own leader election'],
      ],
    ),
    'Planning figure for an automatic failover, from the loss of the leader to writes through the writer endpoint: ttl + loop_wait + ' +
      `etcd election timeout (when the lost node also led etcd) + HAProxy rise x interval = ` +
      `**${seconds(unplannedFailoverSeconds(f))}**, plus the promotion itself (seconds). It is not a bound: a slow promotion or a replica that must catch up adds to it. ` +
      'A planned switchover interrupts writes for a few seconds.',
    'On every node:',
    table(
      ['path', 'what'],
      [
        [inlineCode(f.files.patroni), 'Patroni\'s configuration, mode 0600, owner postgres. It holds the passwords: never paste it into a ticket'],
        [inlineCode(f.files.etcd), 'etcd\'s configuration (etcd 3.4 reads nothing else: command-line flags are ignored with a config file)'],
        [inlineCode(f.files.haproxy), 'HAProxy\'s configuration'],
        [inlineCode(f.files.roleChangeCallback), 'role-change callback (publishes the Promotion and RoleChange metrics)'],
        [inlineCode(f.paths.dataDir), 'PostgreSQL data directory, on the node\'s own EBS data volume (kept when the instance is replaced)'],
        [inlineCode(f.paths.etcdDataDir), 'etcd data directory, on the data volume (a replacement instance resumes the member; if the volume is lost, see ' + ref('Replace an etcd member') + ')'],
        [inlineCode(f.paths.logDir), 'Patroni and PostgreSQL logs'],
        [`${inlineCode(f.units.etcd)}, ${inlineCode(f.units.patroni)}, ${inlineCode(f.units.haproxy)}`, 'the systemd units (Debian\'s own etcd, patroni, haproxy and postgresql units are masked)'],
      ],
    ),
    table(
      ['port', 'listener', 'open to'],
      [
        [String(f.ports.writer), 'load balancer writer listener', 'clients allowed through the cluster\'s `connections`'],
        [String(f.ports.reader), 'load balancer reader listener', 'the same'],
        [`${f.ports.haproxyPrimary} / ${f.ports.haproxyReplica}`, 'HAProxy on each node: leader / replicas', 'the load balancer; 5000 also the other nodes'],
        [String(f.ports.haproxyHealth), 'HAProxy health (`/health`, `/primary`, `/replicas`)', 'the load balancer'],
        [String(f.ports.postgres), 'PostgreSQL', 'the nodes only'],
        [String(f.ports.restApi), 'Patroni REST API', 'the nodes only'],
        [`${f.ports.etcdClient} / ${f.ports.etcdPeer}`, 'etcd client / peer (on the node address, not localhost)', 'the nodes only'],
      ],
    ),
  );
}

function prerequisites(f: PatroniFacts, sub: (text: string) => string): string {
  const ctx = f.context;
  const o = f.outputs;
  const fetch = (key: string, variable: string) => {
    const out = o.get(key);
    return out ? [ctx.outputFetch(out, variable)] : [];
  };
  const forwards = f.nodes.map(
    (n) =>
      `aws ssm start-session --region ${ctx.regionArg} --target "\${NODE_ID[${n.index}]}" --document-name AWS-StartPortForwardingSessionToRemoteHost ` +
      `--parameters "host=\${NODE_ADDR[${n.index}]},portNumber=${f.ports.restApi},localPortNumber=${FORWARDED_REST_API_PORT_BASE + n.index}"`,
  );
  const secret = (variable: string, arnVariable: string) =>
    `export ${variable}="$(aws secretsmanager get-secret-value --region ${ctx.regionArg} --secret-id "$${arnVariable}" --query SecretString --output text | jq -r .password)"`;
  return blocks(
    checklist([
      'AWS CLI v2 with the Session Manager plugin, `jq`, `psql` (PostgreSQL client) and bash on your machine; Node.js 20 and this project (`npm ci`) for `npx failover`.',
      'Credentials allowed `cloudformation:DescribeStacks` and `DescribeStackResource`, `ssm:StartSession` on the nodes (documents ' +
        '`SSM-SessionManagerRunShell` and `AWS-StartPortForwardingSessionToRemoteHost`), `secretsmanager:GetSecretValue` on the superuser and REST API secrets, ' +
        '`ec2:DescribeInstanceStatus`, `ec2:StartInstances`, `elasticloadbalancing:DescribeTargetHealth`, `cloudwatch:DescribeAlarms` and `cloudwatch:GetMetricStatistics`' +
        (f.backup ? '; for `failover backup --stack`, `ssm:SendCommand` on the nodes and the document `AWS-RunShellScript`, and `ssm:GetCommandInvocation`.' : '.'),
      'There is no SSH: the nodes are reached through Session Manager only. Check now, not during an incident, that every node is online in Systems Manager (below): the node role allows it, ' +
        (f.ssmAgent
          ? "and every node's agent installs AWS's SSM agent once the node is ready, only if its signature verifies against a pinned AWS key. A node missing below logged why in its journal (`SSM agent not installed`, retried every 30 minutes); the likeliest cause is a new AWS signing key: pass it as `ssmAgent.signingKey` and deploy."
          : 'but this cluster does not install the SSM agent (`ssmAgent: { install: false }`): your image must run it.'),
    ]),
    sub('Shell variables (your machine)'),
    shell([
      `# Deploy-time values of ${f.path}, from the outputs of stack ${ctx.stackName}`,
      ...fetch('nodeInstanceIds', 'NODE_IDS'),
      ...fetch('nodeAddresses', 'NODE_ADDRS'),
      ...fetch('superuserSecretArn', 'SUPERUSER_SECRET_ARN'),
      ...fetch('restApiSecretArn', 'REST_API_SECRET_ARN'),
      ...fetch('writerEndpoint', 'WRITER_ENDPOINT'),
      ...fetch('operatorTlsSecretArn', 'OPERATOR_TLS_SECRET_ARN'),
      'IFS=, read -r -a NODE_ID <<<"$NODE_IDS"',
      'IFS=, read -r -a NODE_ADDR <<<"$NODE_ADDRS"',
      `aws ssm describe-instance-information --region ${ctx.regionArg} --filters "Key=InstanceIds,Values=$NODE_IDS" \\`,
      "  --query 'InstanceInformationList[].[InstanceId,PingStatus]' --output table",
    ]),
    sub('A shell on a node'),
    shell([nodeIndexGuard(f), `${nodeShell(f, '$N')}   # Session Manager opens sh: type bash`]),
    `On a node, ${inlineCode(patronictl(f, 'list'))} shows the cluster, and etcd answers on the node's own address (not localhost): ` +
      `${inlineCode(`etcdctl --endpoints "$(sed -n 's/^advertise-client-urls: //p' ${f.files.etcd})" endpoint health --cluster`)}.`,
    ...(f.tls
      ? [
          'Every link runs TLS: etcd answers only clients with a certificate from the cluster CA, PostgreSQL only TLS connections (clients check the database CA, ' +
            '`databaseCaCert` of the operator TLS secret, with `sslmode=verify-full`). On a node, become root (`sudo -i`) and run this first: every `etcdctl` line below assumes it.',
          shell([`export ETCDCTL_CACERT=${f.tls.caCert} ETCDCTL_CERT=${f.tls.cert} ETCDCTL_KEY=${f.tls.key}`]),
        ]
      : []),
    sub('The ops CLI from your machine'),
    `The Patroni REST API (${f.ports.restApi}) and HAProxy are open to the nodes only, so \`npx failover\` reaches them through Session Manager port forwarding. ` +
      `Keep one terminal per node open with its forward (REST API of node i on 127.0.0.1:${FORWARDED_REST_API_PORT_BASE}+i), and one to the HAProxy primary listener ` +
      `of a running node (127.0.0.1:${FORWARDED_WRITER_PORT}: always the leader, as through the writer endpoint; node 0 below, change the index if it is down). ` +
      'Each runs in a terminal of its own: set the variables above there first (bash does not export arrays).',
    shell([
      ...forwards,
      `aws ssm start-session --region ${ctx.regionArg} --target "\${NODE_ID[0]}" --document-name AWS-StartPortForwardingSessionToRemoteHost ` +
        `--parameters "host=\${NODE_ADDR[0]},portNumber=${f.ports.haproxyPrimary},localPortNumber=${FORWARDED_WRITER_PORT}"`,
    ]),
    f.tls
      ? 'Passwords go into the environment, never on a command line or into a file. The operator TLS secret (both CAs, a client certificate and its key) goes into a file only you can read: ' +
          `the CLI takes it as \`--tls-secret-file\`, psql takes the database CA. Through forwarded ports the CLI accepts a certificate that names one of the stack's nodes or its writer endpoint. Delete ${inlineCode(OPERATOR_TLS_FILE)} when you are done.`
      : 'Credentials go into the environment, never on a command line or into a file:',
    shell([
      `export PATRONI_REST_USERNAME=${f.restApiUser}`,
      secret('PATRONI_REST_PASSWORD', 'REST_API_SECRET_ARN'),
      `export PGUSER=${f.superuser} PGDATABASE=postgres`,
      secret('PGPASSWORD', 'SUPERUSER_SECRET_ARN'),
      ...(f.tls
        ? [
            `(umask 077; aws secretsmanager get-secret-value --region ${ctx.regionArg} --secret-id "$OPERATOR_TLS_SECRET_ARN" --query SecretString --output text > ${OPERATOR_TLS_FILE})`,
            `(umask 077; jq -r .databaseCaCert ${OPERATOR_TLS_FILE} > database-ca.crt)`,
          ]
        : []),
      cli(f, ['status']),
    ]),
    'Through forwarded ports the CLI reads the cluster and sends switchovers, but it asks the leader\'s own address for replication details: ' +
      'that part (the wait for a rejoin) cannot answer from your machine. Confirm rejoins with `patronictl list` on a node.',
  );
}

function triggers(cluster: PatroniCluster, f: PatroniFacts): string {
  const prefixes = clusterAlarmPrefixes(f.clusterName);
  const sets = findAlarmSets(cluster, prefixes);
  const alarms = sets.length
    ? renderAlarmSets(sets, prefixes, `cluster ${inlineCode(f.clusterName)}`)
    : `No FailoverAlarms in this app watches this cluster. Add one in this stack (\`new FailoverAlarms(stack, 'Alarms', { clusters: [cluster] })\`); until then, watch the node metrics in ${inlineCode(f.metricsNamespace)}.`;
  const standby = cluster.primaryClusterName !== undefined;
  return blocks(
    numbered([
      standby
        ? `\`StandbyNotReady\`: this standby of ${inlineCode(cluster.primaryClusterName!)} has replayed no commit of it for longer than the threshold, or no standby leader publishes the age (none runs, or it has replayed no commit since it started). ` +
          "Look for `archive-get` errors in the standby leader's PostgreSQL log (the read grant and the repository's KMS key), and at the primary's `WalArchiveFailing` for its second repository; " +
          `a primary that commits nothing also raises it. While the primary region is lost it stays in ALARM: ${ref('Regional failover')}.`
        : '`DbNoPrimary` (no node reports itself primary: writes fail) or writes failing through the writer endpoint: confirm (' + ref('Verify the outage') + '). ' +
          `If Patroni has not promoted anyone within about ${seconds(unplannedFailoverSeconds(f))}, find out why before acting (${ref('Execute')}). ` +
          'If writes work and every node\'s metrics stopped at once, the nodes lost their credentials for CloudWatch, not their database: ' +
          "`sudo journalctl -u cdk-failover-credentials --no-pager | tail` on a node names what STS answered (the credential broker, docs/security.md).",
      '`DbFailoverOccurred`: Patroni promoted a node. Check the result (' + ref('Verify') + ') and bring the old leader back (' + ref('Bring the old primary back') + ').',
      '`DbSplitBrain`: two nodes report themselves primary. Never switch over now: ' + ref('Execute') + ', "Two primaries".',
      '`EtcdMemberUnhealthy` or `EtcdQuorumAtRisk`: etcd is down to its quorum; one more loss stops every failover. Fix etcd (' + ref('Replace an etcd member') + ').',
      '`DbNoHealthyReplica`: there is no failover target. Restore a replica before anything else.',
      '`SlowerThanDeclared`: a node runs a Patroni (3.2 or later) that raised the declared timing to its own minimums (ttl at least 20 s): ' +
        'failovers take longer than this runbook says. Run `patroni --version` on each node; put back Debian 12\'s 3.0.2 ' +
        '(`apt-get install patroni=3.0.2-1`, then restart Patroni one node at a time, the leader last after a switchover), or deploy a timing of at least 20 / 1 / 3 s (ttl / loop_wait / retry_timeout).',
      ...(f.tls
        ? [
            "`CertificatesExpiring`: a certificate on a node (its own, the database's or a CA's) ends within the threshold (30 days by default). " +
              "Rotate: deploy with a new `ClusterTls.issued({ rotation })` value (any new string). The nodes install the new certificates one at a time, the leader last, with no failover, and the CAs are renewed with their keys. " +
              "Clients that keep a copy of a CA (`databaseCaCert`) verify the new certificates with it until it ends; take the new one from the operator secret before then.",
          ]
        : []),
      ...(f.backup && !standby
        ? [
            '`BackupTooOld`, `WalArchiveFailing` or `WalArchiveLate`: the database is served, but a restore would lose more than planned. ' +
              'Find the cause (' + ref('Backups and point-in-time recovery') + ', "Backups are failing") before the next failover or deploy.',
          ]
        : []),
      'Planned work on the leader\'s node (patching, resizing, moving): a switchover first (' + ref('Execute') + ').',
    ]),
    'Do not act on: a replica lost (nothing fails over; bring it back), or PostgreSQL crashing on the leader (Patroni restarts it in place).',
    alarms,
  );
}

function verifyOutage(f: PatroniFacts): string {
  const ctx = f.context;
  return blocks(
    'From your machine (forwards of ' + ref('Prerequisites') + ' running):',
    shell([
      cli(f, ['status']),
      `aws ec2 describe-instance-status --region ${ctx.regionArg} --include-all-instances --instance-ids "\${NODE_ID[@]}" \\`,
      "  --query 'InstanceStatuses[].[InstanceId,AvailabilityZone,InstanceState.Name,SystemStatus.Status,InstanceStatus.Status]' --output table",
    ]),
    `On a node that is running (${inlineCode(`${nodeIndexGuard(f)}; ${nodeShell(f, '$N')}`)}):`,
    shell([
      patronictl(f, 'list'),
      patronictl(f, 'history'),
      `systemctl status ${f.units.etcd} ${f.units.patroni} ${f.units.haproxy} --no-pager`,
      `sudo journalctl -u ${f.units.patroni} --since -15min --no-pager`,
      `etcdctl --endpoints "$(sed -n 's/^advertise-client-urls: //p' ${f.files.etcd})" endpoint health --cluster`,
    ]),
    bullets([
      '`patronictl list` names the Leader and its State (running), every replica\'s State (streaming) and Lag in MB; TL is the timeline, which grows by one at each promotion.',
      'A node missing from the list, or whose instance status is not `ok`, is the one lost; its journal (if reachable) says why.',
      `etcd must have quorum (${quorum(f)} of ${f.nodes.length} healthy) for Patroni to do anything.`,
    ]),
  );
}

function standbyReady(f: PatroniFacts): string {
  const lagQuery =
    'SELECT application_name, state, sync_state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) AS replay_lag_bytes FROM pg_stat_replication';
  const replicaQuery =
    'SELECT pg_is_in_recovery(), pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), now() - pg_last_xact_replay_timestamp() AS last_replay_age';
  const lagMetric = [
    `aws cloudwatch get-metric-statistics --region ${f.context.regionArg} --namespace ${f.metricsNamespace} --metric-name ReplicationLagBytes \\`,
    `  --dimensions Name=ClusterName,Value=${f.clusterName} Name=Node,Value=${f.nodes[f.nodes.length - 1]?.name ?? ''} --statistics Maximum --period 60 \\`,
    '  --start-time "$(date -u -d \'-15 min\' +%Y-%m-%dT%H:%M:%SZ)" --end-time "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \\',
    "  --query 'sort_by(Datapoints,&Timestamp)[].[Timestamp,Maximum]' --output text",
  ];
  return blocks(
    `A good target is a replica whose State is \`streaming\` and whose lag is under maximum_lag_on_failover (${bytes(f.maximumLagOnFailoverBytes)})` +
      (f.synchronousMode === 'off' ? '.' : '; in synchronous mode, the member listed as `Sync Standby`, the only one Patroni promotes automatically.'),
    shell([patronictl(f, 'list'), `${cli(f, ['switchover'], ['--dry-run'])}   # the candidate the CLI would choose, and its lag`]),
    'On the leader, if it still runs: each replica\'s replay lag in bytes.',
    shell([`sudo -u postgres psql -c ${quoteSql(lagQuery)}`]),
    'On the candidate: it is in recovery, receiving and replaying.',
    shell([`sudo -u postgres psql -c ${quoteSql(replicaQuery)}`]),
    `The lag each node reported to CloudWatch (here ${inlineCode(f.nodes[f.nodes.length - 1]?.name ?? '')}; one line per minute):`,
    shell(lagMetric),
  );
}

function quoteSql(sql: string): string {
  return `"${sql.replace(/[\\"$`]/g, (c) => `\\${c}`)}"`;
}

function executeAutomatic(f: PatroniFacts): string {
  const t = f.timing;
  return blocks(
    `Patroni fails over by itself: the leader key expires at most ttl (${seconds(t.ttlSeconds)}) after the leader's last renewal, ` +
      `the healthiest eligible replica takes it and promotes, and HAProxy on every node sends new connections there after ${t.haproxyRise} passed check(s) ` +
      `(every ${seconds(t.haproxyCheckIntervalMs / 1000)}). Connections to the old leader are cut; clients reconnect to the same writer endpoint. Watch, on a running node:`,
    shell([patronictl(f, 'list -W'), cli(f, ['status'])]),
    bullets([
      `The new Leader appears with the timeline one higher. The alarms of ${ref('Trigger conditions')}: \`DbFailoverOccurred\` fires; \`DbNoPrimary\` only if no node is primary for whole minutes.`,
      'Do not restart Patroni or etcd on the survivors, do not promote with `pg_ctl`, and do not start PostgreSQL by hand: Patroni alone manages it.',
      `If nothing is promoted after about ${seconds(unplannedFailoverSeconds(f))}: check etcd's quorum (${ref('Verify the outage')}), then whether any replica is eligible ` +
        `(${ref('Confirm the standby is ready')}). Patroni's journal on each replica says why it does not promote.`,
    ]),
  );
}

function executeSwitchover(f: PatroniFacts): string {
  const names = memberNames(f);
  return blocks(
    `With the ops CLI (forwards and credentials of ${ref('Prerequisites')}); add \`--candidate <member>\` (${listOf(names.map(inlineCode), 'or')}) to choose, else it picks the healthy replica with the least lag:`,
    shell([cli(f, ['switchover'], ['--dry-run']), cli(f, ['switchover'], ['--timeout', '120'])]),
    'Or with Patroni\'s own tool, on any running node:',
    shell([
      patronictl(f, 'list'),
      guard('LEADER', 'set LEADER to the Leader shown by patronictl list'),
      guard('CANDIDATE', 'set CANDIDATE to a streaming replica'),
      patronictl(f, `switchover --leader "$LEADER" --candidate "$CANDIDATE" --force ${f.clusterName}`),
      patronictl(f, 'list'),
    ]),
    bullets([
      'Patroni refuses a candidate that is not streaming, or (in synchronous mode) not the Sync Standby; its message says so.',
      'Writes stop for a few seconds while the leader demotes and the candidate promotes; the old leader rejoins as a replica by itself.',
    ]),
  );
}

function executeFailover(f: PatroniFacts): string {
  return blocks(
    'Only when no healthy leader exists and Patroni promotes nobody (for example every replica is further behind than maximum_lag_on_failover, or in strict mode the standby is gone). ' +
      `First make sure etcd has quorum (${ref('Replace an etcd member')} otherwise): without it nothing can be promoted. The ops CLI has no failover command; on a running node:`,
    shell([
      patronictl(f, 'list'),
      guard('CANDIDATE', 'set CANDIDATE to the replica to promote'),
      patronictl(f, `failover --candidate "$CANDIDATE" --force ${f.clusterName}`),
      patronictl(f, 'list'),
    ]),
    bullets([
      f.synchronousMode === 'off'
        ? `Writes the candidate had not received are lost: pick the replica with the least lag, and record the lag shown by \`patronictl list\` in the incident.`
        : 'In synchronous mode pick the `Sync Standby`: it has every acknowledged write. Any other member may lack some.',
      'If the old leader comes back later, Patroni rewinds it (pg_rewind) and it follows the new leader: its writes that never reached a replica are discarded.',
    ]),
  );
}

function splitBrain(f: PatroniFacts): string {
  return blocks(
    'Two nodes report themselves primary. The one holding the leader key, shown as Leader by `patronictl list`, is the real one; the other ' +
      `must stop taking writes. On the other node (through its own shell, ${inlineCode(`${nodeIndexGuard(f)}; ${nodeShell(f, '$N')}`)}):`,
    shell([patronictl(f, 'list'), `sudo systemctl stop ${f.units.patroni}`, `sudo journalctl -u ${f.units.patroni} --since -30min --no-pager`]),
    'Stopping Patroni stops its PostgreSQL. Find out how it kept running as primary (a hung Patroni without watchdog, a clock jump) before starting it again: it then rejoins as a replica.',
  );
}

function verify(f: PatroniFacts): string {
  const ctx = f.context;
  return blocks(
    'One leader, running, on a new timeline; every other member streaming:',
    shell([patronictl(f, 'list'), cli(f, ['status'])]),
    `The leader takes writes through HAProxy (forward to 127.0.0.1:${FORWARDED_WRITER_PORT} and PGPASSWORD of ${ref('Prerequisites')}); \`txid_current()\` fails on a replica:`,
    // Through a forward the host is 127.0.0.1, which the certificate does not name: verify-ca, the chain only.
    shell([
      `psql "host=127.0.0.1 port=${FORWARDED_WRITER_PORT} user=${f.superuser} dbname=postgres${f.tls ? ' sslmode=verify-ca sslrootcert=database-ca.crt' : ''}" -c 'SELECT pg_is_in_recovery(), txid_current(), inet_server_addr()'`,
    ]),
    'The load balancer sees HAProxy healthy on every running node:',
    shell(
      f.resources.writerTargetGroup
        ? [
            ctx.resourceFetch(f.resources.writerTargetGroup, 'WRITER_TARGET_GROUP'),
            `aws elbv2 describe-target-health --region ${ctx.regionArg} --target-group-arn "$WRITER_TARGET_GROUP" \\`,
            "  --query 'TargetHealthDescriptions[].[Target.Id,TargetHealth.State]' --output table",
          ]
        : ['# no writer target group found'],
    ),
    bullets([
      '`pg_is_in_recovery` is `f` and `inet_server_addr` is the new leader\'s address.',
      'Applications connect through the writer endpoint again (their own health checks and error rates).',
      'The alarms of ' + ref('Trigger conditions') + ' return to OK within minutes (`DbFailoverOccurred` after its period).',
    ]),
  );
}

function rollback(f: PatroniFacts): string {
  return blocks(
    'A promotion cannot be undone: the new leader is on a new timeline. "Rolling back" means moving leadership back to the old leader once it has ' +
      `rejoined as a streaming replica (${ref('Bring the old primary back')}), with a planned switchover:`,
    shell([
      patronictl(f, 'list'),
      guard('OLD_LEADER', 'set OLD_LEADER to the member to lead again'),
      cli(f, ['switchover'], ['--candidate', '"$OLD_LEADER"', '--dry-run']),
      cli(f, ['switchover'], ['--candidate', '"$OLD_LEADER"']),
    ]),
    'Patroni has no preferred leader: a switchover back is a choice, not a requirement. Never copy data files between nodes or promote by hand.',
  );
}

function postFailover(f: PatroniFacts): string {
  return checklist([
    'Applications reconnected: their error rates and connection pools are back to normal.',
    `\`patronictl list\`: one Leader, every other member streaming${f.synchronousMode === 'off' ? '' : ', one of them Sync Standby'}, lag near 0.`,
    `etcd: all ${f.nodes.length} members healthy (\`endpoint health --cluster\`).`,
    'The alarms are back to OK; `DbSplitBrain` never fired (if it did: ' + ref('Execute') + ', "Two primaries").',
    `${inlineCode(patronictl(f, 'history'))} recorded; the FailoverDurationSeconds metric compared with the planning figure (${seconds(unplannedFailoverSeconds(f))}).`,
    `Lost writes (asynchronous mode only): ${f.synchronousMode === 'off' ? 'compare the lag at the failover with what applications acknowledged.' : 'none expected in synchronous mode.'}`,
    'The old leader brought back as a replica (' + ref('Bring the old primary back') + '), so that the cluster again survives a loss.',
    'Root cause found: the old leader\'s journal, EC2 status checks, AZ events.',
    `A drill scheduled: ${inlineCode(cli(f, ['drill', 'db'], [...forwardedWriterUri(f.superuser), '--report', 'db-drill.json']))} (or the local rehearsal cluster).`,
    'Incident ticket with the timeline.',
  ]);
}

function bringBack(f: PatroniFacts): string {
  const ctx = f.context;
  return blocks(
    numbered([
      'Start its instance if it is stopped; a host failure is handled by the node\'s auto-recovery alarm (same instance, addresses and volumes).',
      'Patroni starts with the instance and rejoins the node as a replica, rewinding it (pg_rewind) if it diverged. Watch it become `streaming`.',
      `If it stays \`start failed\` or \`stopped\`, or its journal shows pg_rewind failing: re-create it from the leader with \`reinit\` (erases that node's data directory and copies the leader's).`,
      `If its data volume was lost (a new instance on a new, empty volume), its etcd member lost its data (on its own volume, a new instance resumes the member): ${ref('Replace an etcd member')}.`,
      'Leadership does not move back by itself; see ' + ref('Rollback') + ' to move it.',
    ]),
    shell([
      nodeIndexGuard(f),
      `aws ec2 start-instances --region ${ctx.regionArg} --instance-ids "\${NODE_ID[$N]}"`,
      `${nodeShell(f, '$N')}   # then, on the node:`,
    ]),
    shell([
      `systemctl status ${f.units.patroni} --no-pager`,
      patronictl(f, 'list -W'),
      '# only if it cannot rejoin:',
      guard('MEMBER', 'set MEMBER to the member to re-create'),
      patronictl(f, `reinit ${f.clusterName} "$MEMBER" --force --wait`),
    ]),
  );
}

function bootstrapFailed(f: PatroniFacts): string {
  return blocks(
    'A node runs its user data once per instance (cloud-init): it reads the node\'s configuration from the instance\'s CloudFormation metadata and hands the boot to the node agent. ' +
      'When the boot stops, the node signals FAILURE (the deploy fails and CloudFormation rolls back), the node never joins (`failover status` lists it as absent), ' +
      'and its last line starting `cdk-failover:` says why:',
    bullets([
      '`cannot read this instance\'s metadata after 30 attempts: ...`: the node cannot reach CloudFormation\'s API (no route through the NAT gateway or endpoint), or its role lost `cloudformation:DescribeStackResource`.',
      '`cannot read secret ARN ... : An error occurred (AccessDeniedException)`: the node role lost `secretsmanager:GetSecretValue` on that secret (or its KMS key); ' +
        '`ResourceNotFoundException`: the secret was deleted; a connection error: the subnet has no route to Secrets Manager (NAT gateway or VPC endpoint).',
      '`data volume /dev/sdf (vol-...) not attached after 300s`: the volume attachment failed (look at the stack\'s events; the volume must be in the instance\'s availability zone).',
      '`failed after 5 attempts: install_packages`: the node cannot reach Debian\'s archive.',
      '`Patroni X raises timing values to its minimums ...`: the archive (a mirror, or an image with another Patroni) installed Patroni 3.2 or later, which would run the stack\'s timing ' +
        `(ttl ${f.timing.ttlSeconds}) as at least 20 / 1 / 3 s; \`cannot read the version of Patroni\`: \`patroni --version\` failed. Install Debian 12's \`patroni=3.0.2-1\`, or deploy a timing of at least 20 / 1 / 3 s.`,
    ]),
    shell([
      nodeIndexGuard(f),
      `${nodeShell(f, '$N')}   # then, on the node:`,
    ]),
    shell([
      "sudo grep 'cdk-failover:' /var/log/cloud-init-output.log | tail -n 3",
      'sudo journalctl -u cloud-final --no-pager | tail -n 20',
      '# after fixing the cause: the script is safe to run again (it keeps an existing file system and files it already wrote)',
      'sudo bash /var/lib/cloud/instance/scripts/part-001',
      `systemctl status ${f.units.patroni} --no-pager`,
    ]),
  );
}

function configurationChangeFailed(f: PatroniFacts): string {
  return blocks(
    'A changed stack (timing, PostgreSQL parameters, synchronous mode, lag limits, a library upgrade) reaches the nodes through their agents, one node at a time, the leader last ' +
      '(after a switchover when PostgreSQL must restart). The deploy waits on the wait condition `ConfigurationApplied<generation>`; a node that cannot apply the change signals FAILURE, ' +
      'the stack event says `WaitCondition received failed message: \'cdk-failover: NODE could not apply generation ...: WHY\'`, and CloudFormation rolls back. ' +
      'The rollback puts the previous configuration back in the metadata, and the agents apply it the same way: wait until every node runs it again before deploying a fix.',
    shell([
      nodeIndexGuard(f),
      `${nodeShell(f, '$N')}   # then, on the node:`,
    ]),
    shell([
      '# what the agent did, and the failing step',
      'sudo journalctl -u cdk-failover-agent.service --no-pager | grep cdk-failover | tail -n 20',
      '# the generation this node runs, and what every node recorded in etcd',
      'cat /var/lib/cdk-failover/applied-generation',
      `etcdctl --endpoints "$(sed -n 's/^advertise-client-urls: //p' ${f.files.etcd})" get --prefix /cdk-failover/`,
      '# after fixing the cause, apply now instead of waiting for the timer',
      'sudo systemctl start cdk-failover-agent.service',
      patronictl(f, 'list'),
    ]),
    'A leader that waits for the others says `leader NODE applies last: waiting for ...`: a replica that cannot apply holds the change back, and the leader is never restarted before the replicas.',
    '`PostgreSQL refuses the parameters (postgresParameters): ...` is PostgreSQL\'s own check of every parameter name and value (`postgres -C` over the node\'s data directory), made before the node changes anything: ' +
      'fix the name or value in `postgresParameters` and deploy again. It does not see names under an extension\'s prefix, preloaded libraries, values too large for the machine, or a value wrong only beside another (`superuser_reserved_connections` not below `max_connections`): such a value fails at PostgreSQL\'s restart, and the replica that does not come back fails the deploy.',
  );
}

function plannedMaintenance(f: PatroniFacts): string {
  const ctx = f.context;
  return blocks(
    'Before a node is rebooted (operating system patches), stopped, or its instance replaced, drain it: ' +
      `${inlineCode(`${NODE_AGENT_PATH} drain`)} takes the cluster's lock (it never runs beside a configuration change on another node), ` +
      'waits up to 300 s until every member runs and etcd is healthy (a node is never taken down while another is), switches over if the node leads ' +
      '(the one pause of writes, a few seconds), then stops Patroni and PostgreSQL with it. etcd keeps running until the node goes down, and the node comes back as a replica. ' +
      `It exits 0 once drained (run again, it says there is nothing to drain); otherwise its one line \`cdk-failover: NODE could not drain: WHY\` says why ` +
      '(after a failure before the stop, Patroni still runs; after a timeout or an interruption, check with `systemctl is-active`). ' +
      'One node at a time: drain the next only once the last one streams again. It signals nothing to CloudFormation. Do not deploy while a node is drained: its agent waits, and the deploy times out.',
    `A shutdown drains by itself too: once a node is ready, ${inlineCode(DRAIN_UNIT_NAME)} runs ${inlineCode(`${NODE_AGENT_PATH} drain-on-stop`)} as it shuts down ` +
      `(a reboot, a stop, AWS maintenance), with the same lock and switchover, within ${DRAIN_ON_STOP.otherBudgetSeconds} s in all (EC2 forces a reboot after a few minutes). It never refuses the shutdown: ` +
      'when it cannot drain (another member down), the leader goes down undrained and Patroni fails over. Drain by hand first to see the drain succeed. ' +
      `When CloudFormation stops every instance at once (an instance-type change), each node waits up to ${DRAIN_ON_STOP.rollingSeconds} s for the others to run again and the leader goes last, ` +
      'so the nodes go down one at a time with one switchover; its journal says so: ' +
      `${inlineCode(`journalctl -u ${DRAIN_UNIT_NAME} -b -1`)} on the node after its restart. ` +
      'A node that does not come back (no capacity for the new type in its zone) makes the next one go down undrained after that wait: etcd loses its quorum and writes stop until a node returns, ' +
      "then the deploy's rollback stops every node again. Check that the new type can be launched in every node's zone before you deploy it.",
    numbered([
      `The cluster is healthy (every member running or streaming): ${inlineCode(cli(f, ['status']))}.`,
      'Drain the node, from a shell on it (below), or with Run Command (needs `ssm:SendCommand` and `ssm:GetCommandInvocation` on the node, and `ec2:RebootInstances` for the reboot from your machine; the loop reboots only once the drain succeeded).',
      'Reboot it (or stop and start it). A new instance type goes through a deploy (the nodes stop and start one at a time), and so does a new image: ' +
        "each node's agent, in turn (the leader last, after a switchover), drains it and has EC2 replace its root volume from the image (the same instance, address and data volume); " +
        'the node boots again from its user data (its journal from before went with the old root volume; a failure\'s reason is in the deploy\'s events). ' +
        'A task EC2 refuses or fails (an image of another architecture) starts Patroni again and fails the deploy, which rolls back.',
      `Watch it rejoin: its instance status \`ok\`, then Patroni (the unit starts at boot) streaming again, in ${inlineCode(cli(f, ['status']))} or ${inlineCode(patronictl(f, 'list'))}. ` +
        `If it does not, ${ref('Bring the old primary back')}.`,
      `Drained and then not taken down after all: ${inlineCode(`sudo systemctl start ${f.units.patroni}`)} on it.`,
    ]),
    shell([
      nodeIndexGuard(f),
      `${nodeShell(f, '$N')}   # then, on the node:`,
    ]),
    shell([
      `# reboots only once drained; its last line: drained NODE: Patroni and PostgreSQL stopped, etcd still runs; ...`,
      `sudo ${NODE_AGENT_PATH} drain && sudo systemctl reboot`,
    ]),
    shell([
      '# or, with Run Command from your machine',
      nodeIndexGuard(f),
      `COMMAND_ID=$(aws ssm send-command --region ${ctx.regionArg} --instance-ids "\${NODE_ID[$N]}" --document-name AWS-RunShellScript \\`,
      `  --parameters 'commands=["${NODE_AGENT_PATH} drain"],executionTimeout=["3600"]' --query Command.CommandId --output text)`,
      '# the drain may wait for the lock and for the cluster: reboot only once it succeeded (at most an hour)',
      'for ((i = 0; i < 360; i++)); do',
      `  STATUS=$(aws ssm get-command-invocation --region ${ctx.regionArg} --command-id "$COMMAND_ID" --instance-id "\${NODE_ID[$N]}" --query Status --output text 2>/dev/null || echo Pending)`,
      '  case "$STATUS" in Pending|InProgress|Delayed) sleep 10 ;; *) break ;; esac',
      'done',
      `aws ssm get-command-invocation --region ${ctx.regionArg} --command-id "$COMMAND_ID" --instance-id "\${NODE_ID[$N]}" \\`,
      "  --query '[Status,StandardOutputContent,StandardErrorContent]' --output text",
      `[ "$STATUS" = Success ] && aws ec2 reboot-instances --region ${ctx.regionArg} --instance-ids "\${NODE_ID[$N]}"`,
    ]),
    shell([
      `aws ec2 describe-instance-status --region ${ctx.regionArg} --include-all-instances --instance-ids "\${NODE_ID[$N]}" \\`,
      "  --query 'InstanceStatuses[].[InstanceId,InstanceState.Name,InstanceStatus.Status]' --output table",
      cli(f, ['status']),
    ]),
  );
}

/** The cluster's primary repository bucket, as the runbook names it. */
function repositoryBucket(f: PatroniFacts): string {
  const id = f.backup?.bucketLogicalId;
  return id ? `the bucket of resource \`${id}\`` : 'the bucket passed as `backup.bucket`';
}

/** For a standby cluster: confirm, check readiness, promote, move DNS, verify, fail back. */
function regionalFailover(cluster: PatroniCluster, f: PatroniFacts, sub: (text: string) => string): string {
  const primary = cluster.primaryClusterName;
  if (primary === undefined) {
    return (
      `This cluster is a primary. To survive the loss of its region, a standby cluster in another region can follow it through its second repository ` +
      `(\`backup.secondaryRepository\`, and the database secrets replicated there with \`databaseSecretReplicaRegions\`); ` +
      "the standby's runbook then says how to promote it (docs/regional-recovery.md)."
    );
  }
  const regionArgs = `--stack ${f.context.stackName} --region ${f.context.regionArg} --construct ${f.path}`;
  const bucket = repositoryBucket(f);
  return blocks(
    `This cluster is a **standby** of ${inlineCode(primary)}: its standby leader replays what ${inlineCode(primary)} archives into this region's repository. ` +
      'It takes no writes and no backups until it is promoted. Promote it only when the primary region is lost (or its every node is stopped): ' +
      'two writable clusters would each take writes the other never sees.',
    sub('Confirm the outage and the standby'),
    numbered([
      `The primary region is lost: its own runbook's checks fail from outside (Route 53 health checks, \`DnsFailoverTriggered\`), or stop every node of ${inlineCode(primary)} yourself.`,
      `The standby kept up: its ${inlineCode('StandbyNotReady')} alarm was OK until the loss (after it, the primary commits nothing and the age grows: the alarm goes to ALARM). ` +
        'Read the time of the last commit it replayed (below: now minus the age): the writes the primary acknowledged after that time are what the promotion loses.',
    ]),
    shell([
      '# only the standby leader publishes them; StandbyReplayLagBytes only while it streams from the primary (standbyStreaming)',
      `for node in ${memberNames(f).join(' ')}; do for metric in StandbyReplayAgeSeconds StandbyReplayLagBytes; do`,
      `  aws cloudwatch get-metric-statistics --region ${f.context.regionArg} --namespace ${f.metricsNamespace} --metric-name "$metric" \\`,
      `    --dimensions Name=ClusterName,Value=${f.clusterName} Name=Node,Value="$node" --statistics Maximum --period 60 \\`,
      '    --start-time "$(date -u -d \'-15 min\' +%FT%TZ)" --end-time "$(date -u +%FT%TZ)"',
      'done; done',
    ]),
    sub('Promote with the CLI'),
    'From your machine, with Systems Manager in both regions: it looks at the primary through its stack (refused while it runs; `--force` stops it, or goes ahead when its region cannot be reached), ' +
      'writes the fence below from a node of this cluster, promotes the standby leader and takes the first full backup. The steps after it are by hand.',
    shell([
      '# PRIMARY_STACK, PRIMARY_REGION: the primary\'s stack and region. Add --force when that region is lost.',
      `npx failover promote ${regionArgs} --primary-stack "$PRIMARY_STACK" --primary-region "$PRIMARY_REGION"`,
    ]),
    sub('Fence the old primary'),
    `By hand instead, first, from your machine: the fence. ${inlineCode(primary)}'s nodes, if their version renders Patroni's \`pre_promote\` as \`backup.py fence-check\` (\`grep pre_promote /etc/cdk-failover/patroni.yml\`), ` +
      'refuse to promote while this object is in one of their repositories: the region, when it comes back, accepts no write. ' +
      `Write it into the bucket this cluster reads (${bucket}: ${inlineCode(primary)}'s second repository) before the promotion, and into its first repository too if that region still answers ` +
      '(a returning node that cannot read a repository in 5 s promotes anyway: the check fails open). Remove it only when that cluster is rebuilt (`aws s3 rm`, in every bucket):',
    shell([
      `echo '{"fenced":"${primary}","promoted":"${f.clusterName}","at":"'"$(date -u +%FT%TZ)"'"}' | \\`,
      `  aws s3 cp - s3://<bucket>/${primary}/fence.json --region ${f.context.regionArg}`,
    ]),
    sub('Promote'),
    'On any node of this cluster (the standby leader is the member `patronictl list` shows as `Standby Leader`):',
    shell([nodeIndexGuard(f), `${nodeShell(f, '$N')}   # then, on the node:`]),
    shell([
      patronictl(f, 'list'),
      '# the promotion: Patroni drops standby_cluster from its /config and promotes the standby leader',
      patronictl(f, 'edit-config --force -s standby_cluster=null'),
      patronictl(f, 'list   # expect a Leader, and replicas following it'),
    ]),
    'Then its first full backup, which makes its own stanza (WAL archiving fails until then, and catches up):',
    shell([`npx failover backup ${regionArgs} --type full`]),
    "The database secrets it reads are replicas of the lost region's, read-only: make each standalone so that they outlive the primary's stack and can be rotated:",
    shell([
      '# for each of the superuser, replication and rewind secrets this cluster reads (databaseSecrets)',
      `aws secretsmanager stop-replication-to-replica --region ${f.context.regionArg} --secret-id <secret name or ARN>`,
    ]),
    sub('Move the traffic and verify'),
    bullets([
      "DNS: the DnsFailover's health check moves the service to this region's endpoint once the primary's fails; nothing to do unless you move it by hand.",
      `Writes: through this cluster's writer endpoint, as in ${ref('Verify')}.`,
      'Remove `standbyOf` from this cluster and deploy: its alarms become a primary\'s (the node agent refuses this before the promotion).',
    ]),
    sub('Fail back'),
    `The old region never leads again as it was (its data went on past the promotion; its fence keeps it read-only). Rehearsed locally (\`failover local rejoin\`, \`failover promote --planned\`), not on AWS:`,
    numbered([
      `Give this cluster a second repository in the old region (\`backup.secondaryRepository\`) and its first full backup there.`,
      `Rebuild the old region as a new standby of this cluster: remove ${inlineCode(primary)}'s nodes, move its prefix aside in every bucket that holds it ` +
        `(\`aws s3 mv --recursive s3://<bucket>/${primary}/ s3://<bucket>/${primary}.fenced-<date>/\`), deploy it with \`standbyOf\` this cluster, and wait for its \`StandbyNotReady\` alarm to be OK.`,
      `In a planned window: \`systemctl stop ${SYSTEMD_UNIT_NAMES.haproxy}\` on every node of this cluster, and check \`systemctl is-active\` says inactive (no client reaches it through the endpoints; ` +
        'a client connected to a node\'s PostgreSQL port directly is not stopped by this). On its leader: `select pg_current_wal_lsn()` (the position), then `select pg_switch_wal()`, ' +
        "and wait until `select last_archived_wal >= pg_walfile_name('<position>') from pg_stat_archiver` is true.",
      "On the rebuilt standby's standby leader, wait until `select pg_last_wal_replay_lsn() >= '<position>'` is true: it holds every write this cluster acknowledged.",
      `Stop every instance of this cluster. Write its fence into the bucket the old region reads (its second repository, in this region): ` +
        `\`echo '{"fenced":"${f.clusterName}","promoted":"${primary}"}' | aws s3 cp - s3://<that bucket>/${f.clusterName}/fence.json --region ${f.context.regionArg}\`. Then promote the old region as above, from its own runbook.`,
    ]),
    'Until the promotion, this cluster has no `DbNoPrimary` or backup alarms: remove `standbyOf` soon after. docs/regional-recovery.md says what is built.',
  );
}

function backups(f: PatroniFacts, sub: (text: string) => string): string {
  const b = f.backup;
  if (!b) {
    return 'This cluster has no backups (the `backup` prop is not set): a dropped table, a bad migration or the loss of every node cannot be undone. Set `backup` and deploy (one rolling restart).';
  }
  const pgbr = (args: string) => `sudo -u postgres pgbackrest --config=${b.configFile} --stanza=${f.clusterName} ${args}`;
  const bucket = repositoryBucket(f);
  const code = (target: string) =>
    [
      '```ts',
      "new PatroniCluster(stack, 'Restored', {",
      '  vpc: vpc,',
      `  clusterName: '${f.clusterName}-restored',`,
      `  backup: { bucket: db.backupBucket, restoreFrom: { clusterName: '${f.clusterName}', target: ${target} } },`,
      '});',
      '```',
    ].join('\n');
  return blocks(
    `WAL is archived from whichever node leads into ${b.repositories === 1 ? 'the repository' : `each of ${b.repositories} repositories`} (${bucket}, under \`${f.clusterName}/\`), ` +
      `at least every ${seconds(b.archiveTimeoutSeconds)} while there are writes: the most the loss of every node can lose. ` +
      `Full backups run at \`${b.schedules.full}\`, differential ones at \`${b.schedules.diff}\` (systemd timers on every node; the leader's view names the node that backs up: the first streaming replica, the leader spared, else the leader; the others wait and take over if that changes).`,
    sub('Verify the repository'),
    shell([
      '# from your machine: the nodes run the runner through Run Command (the runner picks the node that backs up)',
      `npx failover backup list --stack ${f.context.stackName} --region ${f.context.regionArg} --construct ${f.path}`,
      `npx failover backup --stack ${f.context.stackName} --region ${f.context.regionArg} --construct ${f.path} --type full`,
    ]),
    'Or on a node, for the checks below:',
    shell([nodeIndexGuard(f), `${nodeShell(f, '$N')}   # then, on the node:`]),
    shell([
      '# backups, their times and sizes; the archived WAL range',
      pgbr('info'),
      '# archiving works end to end: forces a WAL switch and waits for that segment in the repository',
      pgbr('check'),
      '# every file of every backup is readable and matches its checksum',
      pgbr('verify'),
      '# the last scheduled runs and their outcome',
      'systemctl list-timers "cdk-failover-backup-*" --no-pager',
      'sudo journalctl -u "cdk-failover-backup@*" --no-pager | tail -n 20',
    ]),
    'Expect: `status: ok`, a full backup newer than the full schedule, and `check command end: completed successfully`. A failing `check` names the cause (credentials, the bucket policy, the network).',
    sub('Backups are failing'),
    'The alarms read what the leader publishes: `BackupAgeSeconds` (from `pgbackrest info` every 5 minutes; none at all until the first backup), ' +
      '`WalArchiveFailing` and `WalArchiveWaitSeconds` (from `pg_stat_archiver` and the WAL segments waiting). On the leader:',
    shell([
      '# which node backs up now (a replica, or the leader when none streams)',
      `sudo python3 -I ${b.runner} who`,
      '# a backup now, on that node (another node names it, and exits)',
      `sudo python3 -I ${b.runner} backup full --once`,
      "# on that node if it fails: pgBackRest's TLS server on the leader (port 8432)",
      'sudo systemctl status cdk-failover-pgbackrest-server --no-pager',
      '# archiving: failures and the last archived segment',
      `sudo -u postgres psql -Atc 'select archived_count, failed_count, last_archived_wal, last_failed_wal, last_failed_time from pg_stat_archiver'`,
      `sudo tail -n 20 ${f.paths.logDir}/pgbackrest/${f.clusterName}-archive-push-async.log`,
    ]),
    sub('Restore to a point in time'),
    'A restore makes a **new** cluster from the repository; this one keeps running untouched (nothing is ever restored over a running cluster). ' +
      'Add a second PatroniCluster to the app (`db` is this cluster), with the same bucket and the time (UTC, ISO-8601) just before the damage, and deploy:',
    code("RestoreTarget.time('2026-11-30T11:59:00Z')"),
    'pgBackRest picks the newest backup that finished before the target, and PostgreSQL replays WAL up to it and promotes. ' +
      'A target before the oldest backup fails the new cluster\'s bootstrap (`unable to find backup set with stop time less than ...` in its nodes\' Patroni log); ' +
      'a target after the newest archived WAL makes PostgreSQL stop (`recovery ended before configured recovery target was reached`). ' +
      'Check the data through the new writer endpoint, then point the clients at it, and remove the old cluster when nothing needs it. ' +
      `Take the new cluster's first full backup on the node \`sudo python3 -I ${b.runner} who\` names (\`sudo python3 -I ${b.runner} backup full --once\`): until then it has none, and its \`BackupTooOld\` fires (it carries the source's database age).`,
    sub('Recover from the loss of every node'),
    `With every node and its data volume gone (or etcd's data lost on all of them), the repository holds the data up to the last archived segment (at most ${seconds(b.archiveTimeoutSeconds)} old). Deploy a new cluster from it with every archived WAL segment:`,
    code('RestoreTarget.latest()'),
    'Then point the clients at its endpoints. Rehearse it locally: `failover local up --backup`, write, `failover local down`, `failover restore --local --to latest --into NEW`.',
  );
}

function replaceEtcdMember(f: PatroniFacts, sub: (text: string) => string): string {
  const options = { layout: f.etcdLayout, memberNames: memberNames(f) };
  return blocks(
    `Needed when a member's data is gone: its data volume was lost or replaced (etcd's data directory ${inlineCode(f.paths.etcdDataDir)} is on it), ` +
      'or its data directory was damaged. Such a member fails at every start ("member ... has already been bootstrapped"). ' +
      `The rendered ${inlineCode(f.files.etcd)} starts a member as \`initial-cluster-state: new\`; a member joining a running cluster must start empty as \`existing\`, ` +
      'after being removed and added back. Patroni needs no change: it talks to every member listed in patroni.yml and kept working through the others.',
    `Work in two shells: one on a healthy member, one on the member being replaced. In the first, set \`MEMBER\` to the member's name (${listOf(memberNames(f).map(inlineCode), 'or')}), e.g. \`MEMBER=${memberNames(f)[memberNames(f).length - 1]}\`. One member at a time.`,
    renderSteps(replaceMemberSteps(options)),
    sub('If etcd lost its quorum'),
    `With fewer than ${quorum(f)} of ${f.nodes.length} members running, Patroni cannot renew the leader key: the leader demotes itself after retry_timeout ` +
      `(${seconds(f.timing.retryTimeoutSeconds)}) and no node accepts writes until etcd has quorum again. First start every member that can start with its data ` +
      '(start the instances): etcd recovers by itself. Only when a majority lost their data for good, rebuild from the member with the most recent data ' +
      '(the highest RAFT INDEX in `endpoint status`):',
    renderSteps(rebuildFromSurvivorSteps(options)),
    'If no member kept its data, Patroni\'s keys (leader, configuration, history) are gone with it: that recovery is not covered here.',
  );
}
