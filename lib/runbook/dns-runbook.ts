// The runbook of one DnsFailover: Route 53 health checks and a PRIMARY/SECONDARY record pair.
import { Stack } from 'aws-cdk-lib';
import { DnsFailover, IDnsFailover } from '../dns';
import { PatroniCluster, PatroniClusterBase } from '../patroni';
import { renderImportedDnsSections } from './imported-runbook';
import { findAlarmSets, renderAlarmSets } from './alarms';
import { failoverCli } from './cli';
import { DnsFacts, dnsFacts, EndpointFacts, ProbeFacts } from './dns-facts';
import { blocks, bullets, checklist, heading, inlineCode, listOf, numbered, seconds, shell, shellWord, table } from './markdown';
import { DNS_RUNBOOK_SECTIONS, sectionHeading, sectionRef } from './sections';

const ref = (title: (typeof DNS_RUNBOOK_SECTIONS)[number]) => sectionRef(DNS_RUNBOOK_SECTIONS, title);

/** The Markdown runbook of `dns`, as a document of its own. */
export function renderDnsFailoverRunbook(dns: IDnsFailover): string {
  return `${renderDnsSections(dns, 1)}\n`;
}

/**
 * The runbook of `dns` with its title at heading `level` and its sections one below: the whole
 * runbook for a DnsFailover of this app, what its attributes give for an import.
 */
export function renderDnsSections(dns: IDnsFailover, level: number): string {
  if (!(dns instanceof DnsFailover)) return renderImportedDnsSections(dns, level);
  const f = dnsFacts(dns);
  const h = (title: (typeof DNS_RUNBOOK_SECTIONS)[number]) => sectionHeading(DNS_RUNBOOK_SECTIONS, title, level + 1);
  const sub = (text: string) => heading(level + 2, text);
  return blocks(
    heading(level, `DNS failover: ${f.recordName ?? 'record name known at deploy time'} (${inlineCode(f.path)})`),
    h('Overview'),
    overview(f),
    h('Prerequisites'),
    prerequisites(f),
    h('Trigger conditions'),
    triggers(dns, f),
    h('Verify the outage'),
    verifyOutage(f),
    h('Confirm the standby is ready'),
    standbyReady(dns, f),
    h('Execute'),
    sub('Automatic failover: what to watch'),
    executeAutomatic(f),
    sub('Manual failover: force the primary unhealthy'),
    executeManual(f),
    h('Verify'),
    verify(f),
    h('Rollback'),
    rollback(f),
    h('Post-failover checklist'),
    postFailover(f),
    h('Bring the old primary back'),
    bringBack(f),
  );
}

// ---- the record and its values -----------------------------------------------------------------

/** The record name as a shell word: the name, or `"$RECORD"` when it is only known at deploy time. */
function recordArg(f: DnsFacts): string {
  return f.recordName ? shellWord(f.recordName) : '"$RECORD"';
}

function recordText(f: DnsFacts): string {
  return f.recordName ? inlineCode(f.recordName) : `the record named by ${f.outputs.recordName ? f.context.outputPhrase(f.outputs.recordName) : 'its output'}`;
}

function hasSecondaryCheck(f: DnsFacts): boolean {
  return f.secondary.healthCheck !== undefined;
}

/** The shell lines that read this DnsFailover's deploy-time values from the stack's outputs. */
function setupLines(f: DnsFacts): string[] {
  const { context, outputs } = f;
  const lines = [`# Deploy-time values of ${context.stackName}/${f.path.split('/').slice(1).join('/')}, from the stack's outputs`];
  if (outputs.primaryHealthCheckId) lines.push(context.outputFetch(outputs.primaryHealthCheckId, 'PRIMARY_HC'));
  if (outputs.secondaryHealthCheckId) lines.push(context.outputFetch(outputs.secondaryHealthCheckId, 'SECONDARY_HC'));
  if (outputs.hostedZoneId) lines.push(context.outputFetch(outputs.hostedZoneId, 'ZONE_ID'));
  if (!f.recordName && outputs.recordName) lines.push(context.outputFetch(outputs.recordName, 'RECORD'));
  return lines;
}

function protocolText(probe: ProbeFacts): string {
  const kind = probe.type.replace('_STR_MATCH', '');
  return probe.searchString !== undefined ? `${kind} with string match` : kind;
}

function probeTarget(probe: ProbeFacts): string {
  const ip = probe.byIp ? (probe.ipAddress ? inlineCode(probe.ipAddress) : 'an IP address known at deploy time') : undefined;
  const fqdn = probe.hasFqdn ? (probe.fqdn ? inlineCode(probe.fqdn) : 'a host name known at deploy time') : undefined;
  if (ip && fqdn) return `${ip} with Host header and SNI ${fqdn}`;
  return ip ?? fqdn ?? 'its endpoint';
}

function healthCheckRow(f: DnsFacts, e: EndpointFacts): string[] {
  const hc = e.healthCheck;
  if (!hc) return [e.role, e.summary, 'none: Route 53 evaluates the alias target\'s health itself', '-'];
  const probe = hc.probe;
  const what = `${protocolText(probe)} to ${probeTarget(probe)} port ${probe.port}` +
    (probe.path ? ` path ${inlineCode(probe.path)}` : '') +
    (probe.searchString !== undefined ? `, body must contain ${inlineCode(probe.searchString)} in its first 5,120 bytes` : '');
  return [e.role, e.summary, what, hc.output ? f.context.outputPhrase(hc.output) : 'no output'];
}

// ---- sections ------------------------------------------------------------------------------------

function overview(f: DnsFacts): string {
  const o = f.options;
  const b = f.breakdown;
  const perCheck = o.protocol.checkTimeout(o.searchString !== undefined).toSeconds();
  const worstOutput = f.outputs.worstCaseFailoverSeconds;
  return blocks(
    `Route 53 answers ${recordText(f)} (${f.recordType}) in ${f.zoneName ? `zone ${inlineCode(f.zoneName)}` : 'its hosted zone'} ` +
      `(hosted zone ID: ${f.outputs.hostedZoneId ? f.context.outputPhrase(f.outputs.hostedZoneId) : 'see the zone'}) with the PRIMARY record while ` +
      'its health check is healthy, and with the SECONDARY record when it is not. It fails over, and back, by itself: nothing here needs a ' +
      'control-plane call unless you want to force it. When both records are unhealthy, Route 53 answers with the primary.',
    `Declared in ${f.context.describe}.`,
    table(['record', 'answers with', 'health check (what Route 53 probes)', 'health check ID'], [healthCheckRow(f, f.primary), healthCheckRow(f, f.secondary)]),
    bullets([
      `Checker regions: ${listOf(o.regions.map(inlineCode))}. An endpoint is healthy while more than 18% of the checkers see it healthy.`,
      `Every checker probes every ${seconds(o.interval.toSeconds())}; ${o.failureThreshold} consecutive failures (or successes) change the status. ` +
        `A single check may take up to ${seconds(perCheck)} (${o.protocol.name}${o.searchString !== undefined ? ' with string match' : ''}).`,
      `Latency metrics per checker region: ${o.measureLatency ? 'on (ConnectionTime, TimeToFirstByte' + (o.protocol.name === 'HTTPS' ? ', SSLHandshakeTime' : '') + ')' : 'off'}.`,
      ...(f.primary.isAlias && f.primary.evaluateTargetHealth
        ? ['The PRIMARY record also evaluates its alias target\'s health: it is unhealthy when its health check fails or when the target reports no healthy backend.']
        : []),
      f.ttlSeconds !== undefined
        ? `TTL of the records: ${seconds(f.ttlSeconds)}.`
        : 'TTL: alias records carry their target\'s (60 s for load balancers and CloudFront).',
    ]),
    `Worst case from the primary failing to resolvers answering with the secondary: **${seconds(b.total.toSeconds())}**` +
      (worstOutput ? ` (also in ${f.context.outputPhrase(worstOutput)})` : '') +
      ':',
    table(
      ['part', 'time', 'from'],
      [
        ['detection', seconds(b.detection.toSeconds()), `${o.failureThreshold} failures x (${seconds(o.interval.toSeconds())} interval + ${seconds(perCheck)} per check)`],
        ['propagation allowance', seconds(b.propagation.toSeconds()), 'status change reaching Route 53\'s name servers (a margin: Route 53 publishes no bound)'],
        ['TTL', seconds(b.ttl.toSeconds()), f.primary.isAlias ? 'alias record: the target\'s TTL' : 'resolvers keep the old answer this long'],
        ['total', seconds(b.total.toSeconds()), 'clients that cache DNS themselves (JVMs, pools) can take longer'],
      ],
    ),
    `A forced failover (${ref('Execute')}) skips detection: about ${seconds(b.propagation.toSeconds() + b.ttl.toSeconds())}.`,
  );
}

function prerequisites(f: DnsFacts): string {
  return blocks(
    checklist([
      'AWS CLI v2 with credentials for the account, allowed `cloudformation:DescribeStacks`, `route53:GetHealthCheck`, ' +
        '`route53:GetHealthCheckStatus`, `route53:GetHealthCheckLastFailureReason`, `route53:UpdateHealthCheck`, `route53:GetHostedZone`, ' +
        '`route53:ListResourceRecordSets`, `route53:TestDNSAnswer`, `cloudwatch:DescribeAlarms` and `cloudwatch:GetMetricStatistics`.',
      '`curl`, `dig` (Debian: bind9-dnsutils) and `nc` (netcat-openbsd) on your machine; GNU `date`.',
      'Node.js 20 and this project (`npm ci`) for `npx failover`.',
      'The shell variables below, set in every shell you work in:',
    ]),
    shell(setupLines(f)),
    'Route 53\'s API is global (its control plane is in us-east-1): the `aws route53` commands need no `--region`.',
  );
}

function triggers(dns: DnsFailover, f: DnsFacts): string {
  const sets = findAlarmSets(dns, [`${f.path}: `]);
  const alarms = sets.length
    ? renderAlarmSets(sets, [`${f.path}: `], 'this DnsFailover')
    : `No FailoverAlarms in this app watches ${inlineCode(f.path)}. Add one in a us-east-1 stack ` +
      `(\`new FailoverAlarms(stack, 'Alarms', { dnsFailovers: [dns] })\`); until then, watch the primary's \`HealthCheckStatus\` (${ref('Verify the outage')}).`;
  return blocks(
    'Route 53 fails over by itself. Act when:',
    numbered([
      `\`DnsFailoverTriggered\` is in ALARM (the primary's health check is unhealthy): confirm the outage (${ref('Verify the outage')}) and watch the automatic failover (${ref('Execute')}).`,
      '`DnsSecondaryUnhealthy` is in ALARM: there is no healthy target to fail over to. Fix the secondary first; forcing a failover now changes nothing.',
      `The primary passes its health check but serves errors, wrong data or is too slow, or it must be drained for maintenance: force the failover (${ref('Execute')}, manual).`,
      'The incident commander decides to move traffic off the primary.',
    ]),
    'Do not act when the primary is healthy and only a single checker region reports failures: one region alone never fails a check over (18% rule).',
    alarms,
  );
}

function verifyOutage(f: DnsFacts): string {
  const timeout = f.options.protocol.checkTimeout(f.options.searchString !== undefined).toSeconds();
  return blocks(
    'What Route 53 and the CLI see:',
    shell([
      failoverCli(f.context, f.path, ['status']),
      'aws route53 get-health-check-status --health-check-id "$PRIMARY_HC" \\',
      "  --query 'HealthCheckObservations[].[Region,StatusReport.Status]' --output table",
      'aws route53 get-health-check-last-failure-reason --health-check-id "$PRIMARY_HC" \\',
      "  --query 'HealthCheckObservations[].[Region,StatusReport.CheckedTime,StatusReport.Status]' --output table",
    ]),
    'The status over the last 30 minutes (1 healthy, 0 unhealthy; the metric lives in us-east-1 only):',
    shell([
      'aws cloudwatch get-metric-statistics --region us-east-1 --namespace AWS/Route53 --metric-name HealthCheckStatus \\',
      '  --dimensions Name=HealthCheckId,Value="$PRIMARY_HC" --statistics Minimum --period 60 \\',
      '  --start-time "$(date -u -d \'-30 min\' +%Y-%m-%dT%H:%M:%SZ)" --end-time "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \\',
      "  --query 'sort_by(Datapoints,&Timestamp)[].[Timestamp,Minimum]' --output text",
    ]),
    f.primary.healthCheck
      ? blocks(
          `Probe the primary yourself, as the checkers do (${seconds(timeout)} limit` +
            (f.primary.healthCheck.probe.type.startsWith('HTTPS') ? '; Route 53 does not validate certificates, hence `-k`' : '') +
            '):',
          shell(probeLines(f.primary, 'PRIMARY_HC', 'PRIMARY', timeout)),
        )
      : undefined,
    'Compare with a probe from another network (a phone, a machine in another region) before concluding the primary is down for everyone.',
  );
}

function standbyReady(dns: DnsFailover, f: DnsFacts): string {
  const timeout = f.options.protocol.checkTimeout(f.options.searchString !== undefined).toSeconds();
  const clusters = Stack.of(dns).node.findAll().filter((c): c is PatroniClusterBase => c instanceof PatroniClusterBase && Stack.of(c) === Stack.of(dns));
  const secondaryCheck = hasSecondaryCheck(f)
    ? blocks(
        'The secondary\'s health check must be healthy in most checker regions:',
        shell([
          'aws route53 get-health-check-status --health-check-id "$SECONDARY_HC" \\',
          "  --query 'HealthCheckObservations[].[Region,StatusReport.Status]' --output table",
        ]),
        'Probe it yourself:',
        shell(probeLines(f.secondary, 'SECONDARY_HC', 'SECONDARY', timeout)),
      )
    : blocks(
        'The secondary has no health check of its own: Route 53 evaluates its alias target\'s health. Check the target directly ' +
          '(for a load balancer: its target groups\' health in the console, or `aws elbv2 describe-target-health`), and what the record points to:',
        shell([`aws route53 list-resource-record-sets --hosted-zone-id "$ZONE_ID" --query "ResourceRecordSets[?Name=='${f.recordName ? `${f.recordName}.` : '$RECORD.'}']"`]),
      );
  const name = (c: PatroniClusterBase) => {
    const known = f.context.concrete(c.clusterName);
    return `${known === undefined ? 'a cluster named at deploy time' : inlineCode(known)}${c instanceof PatroniCluster ? '' : ' (imported)'}`;
  };
  const data = clusters.length
    ? `This stack also has the database ${listOf(clusters.map(name))} (its own section below). A DNS failover does not move it: ` +
      'make sure what the secondary serves from is reachable and current before traffic moves.'
    : 'This stack declares no database. If the secondary serves data replicated from the primary\'s side, check that replication\'s lag before moving traffic: ' +
      'a failover to a secondary that is behind serves stale data.';
  return blocks(secondaryCheck, data);
}

function executeAutomatic(f: DnsFacts): string {
  return blocks(
    `Route 53 moves the answer to the secondary by itself within ${seconds(f.breakdown.total.toSeconds())} of the failure (${ref('Overview')}). ` +
      'Do not edit the records: CloudFormation owns them. Watch:',
    shell([
      `watch -n 10 ${shellWord(failoverCli(f.context, f.path, ['status']))}`,
      `aws route53 test-dns-answer --hosted-zone-id "$ZONE_ID" --record-name ${recordArg(f)} --record-type ${f.recordType} \\`,
      "  --query '[ResponseCode,RecordData]' --output text",
    ]),
    bullets([
      (f.primary.isAlias
        ? 'For alias records TestDNSAnswer returns the target\'s addresses: compare them with `dig +short` of each target\'s DNS name.'
        : `TestDNSAnswer returns the secondary's value (${f.secondary.values ? f.secondary.values.map(inlineCode).join(', ') : `see ${ref('Overview')}`}) once Route 53 has failed over.`) +
        ' It answers for public zones only.',
      `The alarms of ${ref('Trigger conditions')} go to ALARM, and back to OK when the primary recovers.`,
      `Route 53 fails back by itself as soon as the primary passes ${f.options.failureThreshold} consecutive checks again. To keep traffic on the secondary while the primary is repaired, force the primary unhealthy (below).`,
    ]),
  );
}

function executeManual(f: DnsFacts): string {
  return blocks(
    `Check first that the secondary is healthy (${ref('Confirm the standby is ready')}): with both unhealthy Route 53 keeps answering with the primary. ` +
      'Then force the primary\'s health check unhealthy: **Disabled and Inverted together**. Disabled alone makes Route 53 treat the check as healthy ' +
      '(traffic stays on the primary). Every update must carry the check\'s current version. The ops CLI has no command that leaves a failover in place ' +
      '(its DNS drill always restores the check): use the AWS CLI.',
    shell([
      'aws route53 get-health-check --health-check-id "$PRIMARY_HC" \\',
      "  --query 'HealthCheck.[HealthCheckVersion,HealthCheckConfig.Disabled,HealthCheckConfig.Inverted]' --output text",
      'VERSION="$(aws route53 get-health-check --health-check-id "$PRIMARY_HC" --query HealthCheck.HealthCheckVersion --output text)"',
      'aws route53 update-health-check --health-check-id "$PRIMARY_HC" --health-check-version "$VERSION" --disabled --inverted',
    ]),
    bullets([
      'A `HealthCheckVersionMismatch` error means someone else changed the check in between: read the version again and repeat.',
      `Clients follow after the propagation allowance and the TTL: about ${seconds(f.breakdown.propagation.toSeconds() + f.breakdown.ttl.toSeconds())}.`,
      'Do not deploy this stack while the switch is set: the template sets `Inverted: false`, and an update of the health check may leave it Disabled but not Inverted, which Route 53 reads as healthy (traffic returns to the primary).',
      `Rehearse this outside incidents with the DNS drill, which sets the same switch, waits for the answer to move, and always restores it: ${inlineCode(failoverCli(f.context, f.path, ['drill', 'dns'], ['--dry-run']))}, then without \`--dry-run\` and with \`--report dns-drill.json\`.`,
    ]),
  );
}

function verify(f: DnsFacts): string {
  return blocks(
    'Route 53 answers with the secondary, its own name servers serve it, and the service works through the name:',
    shell([
      failoverCli(f.context, f.path, ['status']),
      `aws route53 test-dns-answer --hosted-zone-id "$ZONE_ID" --record-name ${recordArg(f)} --record-type ${f.recordType} \\`,
      "  --query '[ResponseCode,RecordData]' --output text",
      'NS="$(aws route53 get-hosted-zone --id "$ZONE_ID" --query \'DelegationSet.NameServers[0]\' --output text)"',
      `dig +short ${f.recordType} ${recordArg(f)} @"$NS"`,
      `dig +short ${f.recordType} ${recordArg(f)}`,
      ...serviceProbe(f),
    ]),
    bullets([
      'The first `dig` asks Route 53 directly (public zones); the second your resolver, which may keep the old answer for up to the TTL.',
      'The error rate and latency of the service are back to normal on its dashboards.',
    ]),
  );
}

function rollback(f: DnsFacts): string {
  return blocks(
    `After a forced failover, return traffic to the primary by clearing both switches (only once the primary is healthy: ${ref('Bring the old primary back')}):`,
    shell([
      'VERSION="$(aws route53 get-health-check --health-check-id "$PRIMARY_HC" --query HealthCheck.HealthCheckVersion --output text)"',
      'aws route53 update-health-check --health-check-id "$PRIMARY_HC" --health-check-version "$VERSION" --no-disabled --no-inverted',
      'aws route53 get-health-check --health-check-id "$PRIMARY_HC" \\',
      "  --query 'HealthCheck.HealthCheckConfig.[Disabled,Inverted]' --output text",
    ]),
    bullets([
      'The last command must print `False False`. Never leave the check Disabled: a disabled check is always healthy, so Route 53 would never fail over again.',
      `The checkers need ${f.options.failureThreshold} consecutive successes (up to ${seconds(f.options.failureThreshold * f.options.interval.toSeconds())}) before the primary is healthy, then the propagation allowance and the TTL.`,
      'An automatic failover has nothing to roll back: Route 53 fails back when the primary is healthy again.',
    ]),
  );
}

function postFailover(f: DnsFacts): string {
  return checklist([
    'Status page updated and stakeholders told which side serves traffic.',
    `${inlineCode(failoverCli(f.context, f.path, ['status']))} shows the answer you expect, and the secondary healthy in every checker region.`,
    'The secondary has the capacity for all traffic (scaling, quotas, rate limits).',
    `The alarms of ${ref('Trigger conditions')} are in the state you expect; none was silenced and forgotten.`,
    `The time from the failure to the answer moving is recorded and compared with the model (${seconds(f.breakdown.total.toSeconds())}).`,
    'Clients that cache DNS beyond the TTL were found and restarted; list them in the incident.',
    `Drift: ${inlineCode(`aws cloudformation detect-stack-drift --stack-name ${f.context.stackName} --region ${f.context.regionArg}`)}; the health check's Disabled/Inverted switches are the only expected difference while forced.`,
    'Incident ticket with the timeline, and a post-mortem scheduled.',
  ]);
}

function bringBack(f: DnsFacts): string {
  const timeout = f.options.protocol.checkTimeout(f.options.searchString !== undefined).toSeconds();
  return blocks(
    numbered([
      `Keep traffic on the secondary while the primary is repaired: force the primary unhealthy (${ref('Execute')}) if it is not already, so that a half-repaired primary passing a few checks does not take traffic back.`,
      'Repair the primary, then probe it directly until it answers as the health check expects (below).',
      `Clear the switches (${ref('Rollback')}). Route 53 answers with the primary again once enough checkers agree.`,
      `Watch the answer move back (${ref('Verify')}) and the alarms return to OK.`,
    ]),
    f.primary.healthCheck ? shell(probeLines(f.primary, 'PRIMARY_HC', 'PRIMARY', timeout)) : undefined,
  );
}

// ---- probes ----------------------------------------------------------------------------------------

function dq(text: string): string {
  return text.replace(/[\\"$`]/g, (c) => `\\${c}`);
}

/** The shell lines that probe an endpoint the way its Route 53 health check does. */
function probeLines(e: EndpointFacts, healthCheckVariable: string, prefix: string, timeoutSeconds: number): string[] {
  const probe = e.healthCheck?.probe;
  if (!probe) return [];
  const lines: string[] = [];
  let ip = probe.ipAddress === undefined ? undefined : dq(probe.ipAddress);
  let host = probe.fqdn === undefined ? undefined : dq(probe.fqdn);
  if (probe.byIp && ip === undefined) {
    lines.push(`${prefix}_IP="$(aws route53 get-health-check --health-check-id "$${healthCheckVariable}" --query HealthCheck.HealthCheckConfig.IPAddress --output text)"`);
    ip = `$${prefix}_IP`;
  }
  if (probe.hasFqdn && host === undefined) {
    lines.push(
      `${prefix}_HOST="$(aws route53 get-health-check --health-check-id "$${healthCheckVariable}" --query HealthCheck.HealthCheckConfig.FullyQualifiedDomainName --output text)"`,
    );
    host = `$${prefix}_HOST`;
  }
  const bracketed = ip !== undefined && ip.includes(':') ? `[${ip}]` : ip;
  if (probe.type === 'TCP') {
    lines.push(`nc -z -v -w ${timeoutSeconds} "${ip ?? host}" ${probe.port}`);
    return lines;
  }
  const https = probe.type.startsWith('HTTPS');
  const defaultPort = https ? 443 : 80;
  const url = `${https ? 'https' : 'http'}://${host ?? bracketed}${probe.port === defaultPort ? '' : `:${probe.port}`}${dq(probe.path ?? '/')}`;
  const resolve = ip !== undefined && host !== undefined ? ` --resolve "${host}:${probe.port}:${bracketed}"` : '';
  const curl = `curl -sS${https ? ' -k' : ''} --max-time ${timeoutSeconds}${resolve}`;
  if (probe.searchString !== undefined) {
    lines.push(`${curl} "${url}" | head -c 5120 | grep -c -F -- ${shellWord(probe.searchString)}   # 1 or more: the string is there`);
  } else {
    lines.push(`${curl} -o /dev/null -w '%{http_code} in %{time_total} s\\n' "${url}"   # 2xx or 3xx within ${timeoutSeconds} s is healthy`);
  }
  return lines;
}

/** A request through the record name itself, when the health check is HTTP(S). */
function serviceProbe(f: DnsFacts): string[] {
  const probe = f.primary.healthCheck?.probe;
  if (!probe || probe.type === 'TCP' || !f.recordName) return [];
  const https = probe.type.startsWith('HTTPS');
  return [`curl -sS -o /dev/null -w '%{http_code} from %{remote_ip}\\n' "${https ? 'https' : 'http'}://${dq(f.recordName)}${dq(probe.path ?? '/')}"`];
}
