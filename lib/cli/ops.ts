import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { dbDrillCase } from '../ops/db-drill';
import { formatSummary, installInterruptHandlers, runDrills, writeReport, type DrillCase } from '../ops/drill-runner';
import { renderPrometheusRuleFile } from '../monitoring/prometheus-rules';
import { OpsError, UsageError } from '../ops/errors';
import { DEFAULT_MAX_LAG_BYTES, type HealthSummary } from '../ops/patroni-client';
import { createRoute53Client } from '../ops/route53-client';
import { describeObservation, dnsDrillCase, Route53Drill } from '../ops/route53-drill';
import { resolveTarget, type ResolvedTarget, type TargetOptions } from '../ops/targets';
import { act, EXIT_FAILED, EXIT_OK, EXIT_USAGE, usageExitCodes } from './exit';
import { standbyReadiness } from './standby-line';

export { EXIT_FAILED, EXIT_OK, EXIT_USAGE };

// The AWS SDK warns on every run that its releases after January 2027 will need Node 22; the
// versions this package pins run on Node 20, as package.json's engines say.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const DEFAULT_STATE_ROOT = '/var/tmp/cdk-failover-local';

const EXIT_CODES_HELP = `
Targets: --local [--cluster NAME] (the local rehearsal cluster), or --stack NAME [--region R]
(a deployed stack, found by its outputs), or --patroni-url / --health-check-id without a stack.

Credentials never go on the command line: Patroni's REST API user comes from PATRONI_REST_USERNAME
(default patroni) and PATRONI_REST_PASSWORD (the stack's restApiSecretArn output); the writer
endpoint's from PGUSER (default postgres), PGPASSWORD (superuserSecretArn), PGDATABASE. A cluster
with TLS (the default) needs --tls-secret-file: aws secretsmanager get-secret-value --secret-id
<operatorTlsSecretArn> --query SecretString --output text > operator-tls.json. AWS
credentials and region come from the usual AWS environment and profiles. --local needs root.

Exit codes: 0 ok, 1 failed (drill failed, cluster unhealthy, or an error), 2 usage.`;

interface CommonOptions extends TargetOptions {
  readonly json?: boolean;
  readonly maxLag: number;
}

/** The ops command groups: register each with `program.addCommand(...)`. */
export function opsCommands(): Command[] {
  return [statusCommand(), switchoverCommand(), drillCommand(), prometheusRulesCommand()];
}

/** The rule file of the target's cluster: its name and lag limit from the target, the timing it runs with from Patroni. */
export async function prometheusRulesOf(target: ResolvedTarget): Promise<string> {
  const cluster = target.clusterFacts();
  const config = await target.patroni().dynamicConfig();
  const { ttl, loop_wait: loopWait, retry_timeout: retryTimeout } = config;
  if (typeof ttl !== 'number' || typeof loopWait !== 'number' || typeof retryTimeout !== 'number') {
    throw new OpsError("Patroni's /config has no ttl, loop_wait and retry_timeout: is this Patroni?");
  }
  return renderPrometheusRuleFile([{ clusterName: cluster.name, members: cluster.members, replicaMaxLagBytes: cluster.replicaMaxLagBytes, timing: { ttl, loopWait, retryTimeout }, runbook: cluster.runbook, standby: !!config.standby_cluster }]);
}

function prometheusRulesCommand(): Command {
  return withTarget(new Command('prometheus-rules'))
    .description(
      "print the cluster's Prometheus alerting rules, as cdk synth writes them: the lag limit from the stack's outputs (or the local cluster), the ttl from Patroni's /config",
    )
    .action(
      act(async (opts: CommonOptions) => {
        process.stdout.write(await prometheusRulesOf(await resolveTarget(opts)));
        return EXIT_OK;
      }),
    );
}

function statusCommand(): Command {
  return withTarget(new Command('status'))
    .description('cluster health (leader, replicas, lag, timeline, issues) and, for a stack, Route 53 health per checker region and the current answer')
    .option('--json', 'print JSON')
    .action(
      act(async (opts: CommonOptions) => {
        const target = await resolveTarget(opts);
        const out: { environment: string; cluster?: HealthSummary; dns?: unknown[] } = { environment: target.environment };
        let healthy = true;
        if (!target.noDatabase) {
          out.cluster = await target.patroni().health({ maxLagBytes: opts.maxLag });
          healthy &&= out.cluster.healthy;
        }
        if (target.dnsFailovers.length) {
          out.dns = [];
          const route53 = createRoute53Client();
          for (const t of target.dnsFailovers) {
            const drill = new Route53Drill({ route53, target: t });
            const inspection = await drill.inspect();
            const primary = await drill.checkerStatus(t.primaryHealthCheckId);
            const secondary = t.secondaryHealthCheckId ? await drill.checkerStatus(t.secondaryHealthCheckId) : undefined;
            const answer = inspection.privateZone ? undefined : await drill.observe();
            const forced = inspection.primarySwitch.disabled && inspection.primarySwitch.inverted;
            healthy &&= primary.healthy && !forced && (!answer || answer.testDnsAnswer.side === 'primary');
            out.dns.push({ target: t, inspection, primary, secondary, answer, forced });
          }
        }
        if (opts.json) console.log(JSON.stringify(out, null, 2));
        else printStatus(out);
        return healthy ? EXIT_OK : EXIT_FAILED;
      }),
    );
}

function switchoverCommand(): Command {
  return withTarget(new Command('switchover'))
    .description('planned switchover through the Patroni REST API to --candidate or the best healthy replica; waits for the new leader and the old one to rejoin')
    .option('--candidate <member>', 'member to promote (default: the healthy replica with the least lag; a sync standby in synchronous mode)')
    .addOption(new Option('--timeout <seconds>', 'how long to wait for the new leader, and then for the old one to rejoin').argParser(positiveInt).default(120))
    .option('--dry-run', 'print the chosen candidate and change nothing')
    .action(
      act(async (opts: CommonOptions & { candidate?: string; timeout: number; dryRun?: boolean }) => {
        const target = await resolveTarget(opts);
        if (target.noDatabase) throw new UsageError(target.noDatabase);
        const patroni = target.patroni();
        const status = await patroni.clusterStatus();
        const leader = await patroni.leader(status);
        const candidate = await patroni.chooseCandidate({ candidate: opts.candidate, maxLagBytes: opts.maxLag, status });
        if (opts.dryRun) {
          console.log(`would POST /switchover {leader: ${leader?.name ?? 'none'}, candidate: ${candidate.name}} (${candidate.role}, lag ${candidate.lagBytes} bytes); nothing was changed`);
          return EXIT_OK;
        }
        const controller = new AbortController();
        const handlers = installInterruptHandlers(controller, { log: progress });
        try {
          const started = Date.now();
          progress(`switching over from ${leader?.name} to ${candidate.name}`);
          const outcome = await patroni.switchover({ candidate: candidate.name, maxLagBytes: opts.maxLag });
          progress(`Patroni: ${outcome.message}`);
          const newLeader = await patroni.waitForLeader({ notMember: leader?.name, timeoutMs: opts.timeout * 1000, signal: controller.signal, onProgress: (r) => progress(`  ${r}`) });
          console.log(`${newLeader.name} leads (timeline ${newLeader.timeline ?? '?'}) after ${secs(started)} s`);
          if (leader) {
            const rejoined = await patroni.waitForMember(leader.name, ['replica', 'sync_standby'], { timeoutMs: opts.timeout * 1000, signal: controller.signal, onProgress: (r) => progress(`  ${r}`) });
            console.log(`${rejoined.name} rejoined as ${rejoined.role} after ${secs(started)} s`);
          }
          return newLeader.name === candidate.name ? EXIT_OK : EXIT_FAILED;
        } finally {
          handlers.uninstall();
        }
      }),
    );
}

function drillCommand(): Command {
  return withTarget(new Command('drill'))
    .description('run failover drills as tests (setup, execute, verify, cleanup; cleanup always runs, also on Ctrl-C) and write a JSON report')
    .addArgument(new Argument('<kind>', 'dns: force the primary health check unhealthy and back; db: planned switchover with data check; all: both').choices(['dns', 'db', 'all']))
    .option('--report <file>', 'write the JSON report here')
    .option('--dry-run', 'print the plan (read-only look-ups only) and change nothing')
    .option('--candidate <member>', 'db: member to promote')
    .addOption(new Option('--rows <n>', 'db: rows written before the switchover and checked after').argParser(positiveInt).default(100))
    .addOption(new Option('--timeout <seconds>', 'dns: wait for each answer change; db: wait for the new leader and for the rejoin').argParser(positiveInt).default(300))
    .addOption(new Option('--poll-interval <seconds>', 'dns: between TestDNSAnswer looks').argParser(positiveInt).default(10))
    .option('--no-direct-dns', "dns: trust TestDNSAnswer alone (when UDP/TCP 53 to the zone's name servers is blocked)")
    .addOption(new Option('--requests-per-second <n>', 'dns: pace of Route 53 API calls (its limit is 5 per account)').argParser(positiveInt).default(4))
    .action(
      act(
        async (
          kind: 'dns' | 'db' | 'all',
          opts: CommonOptions & { report?: string; dryRun?: boolean; candidate?: string; rows: number; timeout: number; pollInterval: number; directDns: boolean; requestsPerSecond: number },
        ) => {
          if (opts.requestsPerSecond > 5) throw new UsageError(`--requests-per-second must be at most 5 (Route 53's limit), got ${opts.requestsPerSecond}`);
          const target = await resolveTarget(opts);
          const cases = drillCases(kind, target, opts);
          const controller = new AbortController();
          let current: DrillCase | undefined;
          const handlers = installInterruptHandlers(controller, { log: progress, abandonHint: () => current?.manualCleanupHint?.() });
          let report;
          try {
            report = await runDrills(cases, {
              environment: target.environment,
              dryRun: opts.dryRun,
              signal: controller.signal,
              log: (line) => progress(`[${new Date().toISOString().slice(11, 19)}] ${line}`),
              onCaseStart: (c) => {
                current = c;
              },
            });
          } finally {
            handlers.uninstall();
          }
          console.log(formatSummary(report));
          if (opts.report) {
            writeReport(opts.report, report);
            console.log(`report written to ${opts.report}`);
          }
          return report.failed > 0 || report.interrupted ? EXIT_FAILED : EXIT_OK;
        },
      ),
    );
}

function drillCases(kind: 'dns' | 'db' | 'all', target: ResolvedTarget, opts: { candidate?: string; rows: number; timeout: number; pollInterval: number; directDns: boolean; requestsPerSecond: number; maxLag: number }): DrillCase[] {
  const cases: DrillCase[] = [];
  if (kind === 'dns' || kind === 'all') {
    if (target.dnsFailovers.length === 0) {
      if (kind === 'dns') throw new UsageError(target.noDns ?? 'nothing to drill');
      cases.push(skippedCase('dns', target.noDns ?? 'no DnsFailover'));
    } else {
      const route53 = createRoute53Client({ requestsPerSecond: opts.requestsPerSecond });
      for (const t of target.dnsFailovers) {
        cases.push(dnsDrillCase({ route53, target: t, directQueries: opts.directDns, pollIntervalMs: opts.pollInterval * 1000, answerTimeoutMs: opts.timeout * 1000 }));
      }
    }
  }
  if (kind === 'db' || kind === 'all') {
    if (target.noDatabase) {
      if (kind === 'db') throw new UsageError(target.noDatabase);
      cases.push(skippedCase('db switchover', target.noDatabase));
    } else {
      cases.push(
        dbDrillCase({
          patroni: target.patroni(),
          sql: target.sql(),
          candidate: opts.candidate,
          rows: opts.rows,
          maxLagBytes: opts.maxLag,
          switchoverTimeoutMs: opts.timeout * 1000,
          rejoinTimeoutMs: opts.timeout * 1000,
          healthyTimeoutMs: opts.timeout * 1000,
        }),
      );
    }
  }
  return cases;
}

function skippedCase(name: string, reason: string): DrillCase {
  const nothing = async () => undefined;
  return { name, description: reason, skipReason: reason, plan: async () => [], setup: nothing, execute: nothing, verify: nothing, cleanup: nothing };
}

function withTarget(cmd: Command): Command {
  cmd
    .option('--local', 'the local rehearsal cluster (Linux, root)')
    .option('--cluster <name>', 'with --local: the local cluster name', 'local')
    .option('--state-root <dir>', 'with --local: where local clusters keep their files', DEFAULT_STATE_ROOT)
    .option('--stack <name>', 'a deployed stack: its cdk-failover outputs name the health checks, record, nodes and endpoints')
    .option('--region <region>', "the stack's region (default: AWS_REGION); Route 53 calls go to us-east-1")
    .option('--construct <path>', 'which DnsFailover / PatroniCluster of the stack, by construct path or its last part')
    .addOption(new Option('--patroni-url <urls>', 'Patroni REST API base URLs, comma-separated (e.g. through SSM port forwarding)').argParser(urlList))
    .option('--writer-uri <uri>', 'postgres:// URI of the writer endpoint (or FAILOVER_WRITER_URI)')
    .option('--tls-secret-file <file>', "the stack's operator TLS secret (operatorTlsSecretArn) saved as JSON: the CAs and client certificate for Patroni and PostgreSQL (or FAILOVER_TLS_SECRET_FILE)")
    .option('--health-check-id <id>', 'DNS without a stack: the primary health check')
    .option('--secondary-health-check-id <id>', "DNS without a stack: the secondary's health check")
    .option('--hosted-zone-id <id>', 'DNS without a stack: the hosted zone')
    .option('--record-name <name>', 'DNS without a stack: the failover record name')
    .addOption(new Option('--max-lag <bytes>', 'largest replication lag of a healthy replica').argParser(positiveInt).default(DEFAULT_MAX_LAG_BYTES))
    .addHelpText('after', EXIT_CODES_HELP);
  return usageExitCodes(cmd);
}

function printStatus(out: { environment: string; cluster?: HealthSummary; dns?: unknown[] }): void {
  console.log(`target     ${out.environment}`);
  const c = out.cluster;
  if (c) {
    console.log(`cluster    ${c.healthy ? 'healthy' : `${c.issues.length} issue(s)`}${c.source ? ` (from ${c.source})` : ''}${c.synchronousMode ? ', synchronous mode' : ''}`);
    const rows = [['MEMBER', 'ROLE', 'STATE', 'TL', 'LAG', 'STREAMING']];
    if (c.leader) rows.push([c.leader.name, c.standby ? 'standby_leader' : 'leader', c.leader.state, String(c.leader.timeline ?? '-'), '0', '-']);
    for (const r of c.replicas) {
      rows.push([r.name, r.role, r.state, String(r.timeline ?? '-'), r.lagBytes === null ? 'unknown' : String(r.lagBytes), r.streaming === undefined ? '?' : r.streaming ? 'yes' : 'no']);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) console.log(`  ${r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()}`);
    for (const issue of c.issues) console.log(`  issue: ${issue}`);
    if (c.standby) {
      const feed = c.standby.streamsFrom ? `its repository and streaming from ${c.standby.streamsFrom} (configured)` : 'its repository';
      console.log(`standby    a standby cluster (takes no writes until failover promote), fed by ${feed}: ${standbyReadiness(c.standby.leader, c.standby.replayAgeSeconds)}`);
    }
  }
  for (const d of (out.dns ?? []) as Array<{
    target: { path: string; recordName: string };
    inspection: { recordName: string; recordType: string };
    primary: { healthCheckId: string; healthy: boolean; observations: Array<{ region: string; status: string }> };
    secondary?: { healthCheckId: string; healthy: boolean; observations: Array<{ region: string; status: string }> };
    answer?: Parameters<typeof describeObservation>[0];
    forced: boolean;
  }>) {
    console.log(`dns        ${d.target.path || d.target.recordName}: ${d.inspection.recordName} ${d.inspection.recordType}`);
    for (const [label, s] of [['primary', d.primary], ['secondary', d.secondary]] as const) {
      if (!s) continue;
      console.log(`  ${label} ${s.healthCheckId}: ${s.healthy ? 'healthy' : 'UNHEALTHY'}${label === 'primary' && d.forced ? ' (FORCED unhealthy: Disabled + Inverted)' : ''}`);
      for (const o of s.observations) console.log(`    ${o.region.padEnd(15)} ${o.status}`);
    }
    console.log(`  answer: ${d.answer ? describeObservation(d.answer) : 'not testable (private zone)'}`);
  }
}

function progress(line: string): void {
  console.error(line);
}

function secs(started: number): string {
  return ((Date.now() - started) / 1000).toFixed(1);
}

function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new InvalidArgumentError('must be a positive whole number.');
  return Number(value);
}

function urlList(value: string): string[] {
  const urls = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const u of urls) {
    if (!/^https?:\/\/[^/]+\/?$/.test(u)) throw new InvalidArgumentError(`'${u}' is not a base URL like http://10.0.1.10:8008.`);
  }
  return urls;
}
