// The runbooks of the example stacks: snapshots, stability, and what every runbook must say.
import { PATRONI_CLUSTER_OUTPUTS } from '../../lib/util/output-contract';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, CfnOutput, Duration, Stack, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as route53 from 'aws-cdk-lib/aws-route53';
import { addExampleStacks } from '../../examples/all';
import { DnsFailover, FailoverEndpoint, HealthCheckProtocol } from '../../lib/dns';
import { FailoverAlarms } from '../../lib/monitoring';
import { ClusterTls, PatroniCluster, PatroniTiming, SynchronousMode } from '../../lib/patroni';
import { configFilePath, debianNodePaths, SYSTEMD_UNIT_NAMES } from '../../lib/patroni/config';
import {
  DNS_RUNBOOK_SECTIONS,
  findFailoverConstructs,
  PATRONI_RUNBOOK_SECTIONS,
  renderDnsFailoverRunbook,
  renderPatroniClusterRunbook,
  renderStackRunbook,
  runbookFileName,
  writeRunbooks,
} from '../../lib/runbook';
import * as cdkJson from '../../cdk.json';
import { testApp } from '../app';
import { headings, inlineCodes, sectionsAt, shellLines } from './markdown-support';

jest.setTimeout(60_000);

const ROOT = path.resolve(__dirname, '../..');

function exampleApp(): App {
  const app = testApp();
  addExampleStacks(app);
  return app;
}

function stacksOf(app: App): Stack[] {
  return app.node.children.filter((c): c is Stack => c instanceof Stack);
}

const app = exampleApp();
const stacks = stacksOf(app);
const runbooks = new Map(stacks.map((s) => [s.stackName, renderStackRunbook(s)]));
const runbookOf = (stack: Stack) => runbooks.get(stack.stackName)!;
// The examples make every construct they watch (none imports one): their full runbooks.
const dnsCases = stacks.flatMap((s) => findFailoverConstructs(s).dnsFailovers.filter((d): d is DnsFailover => d instanceof DnsFailover).map((d) => [d.node.path, s, d] as const));
const clusterCases = stacks.flatMap((s) => findFailoverConstructs(s).clusters.filter((c): c is PatroniCluster => c instanceof PatroniCluster).map((c) => [c.node.path, s, c] as const));

/** The stack outputs a construct declares, as the runbook must name them. */
function outputsOf(stack: Stack, scope: DnsFailover | PatroniCluster): { logicalId: string; key: string; token: boolean }[] {
  return scope.node
    .findAll()
    .filter((c): c is CfnOutput => c instanceof CfnOutput)
    .map((o) => ({ logicalId: stack.resolve(o.logicalId) as string, key: o.description!.split(':').pop()!, token: typeof stack.resolve(o.value) !== 'string' }));
}

describe('example stack runbooks', () => {
  test('every example stack has a runbook, and the examples hold DnsFailovers and PatroniClusters to test', () => {
    expect(stacks.map((s) => s.stackName).sort()).toEqual([
      'DnsFailoverAliasExample',
      'DnsFailoverExample',
      'MultiRegionPrimary',
      'MultiRegionSecondary',
      'MultiRegionStandby',
      'PatroniClusterExample',
    ]);
    expect(dnsCases.map(([p]) => p)).toEqual(['DnsFailoverExample/Api', 'DnsFailoverAliasExample/Api', 'MultiRegionPrimary/Api']);
    expect(clusterCases.map(([p]) => p)).toEqual(['PatroniClusterExample/Db', 'MultiRegionPrimary/Db', 'MultiRegionStandby/Db']);
  });

  test.each(stacks.map((s) => [s.stackName, s] as const))('%s matches its snapshot', (_name, stack) => {
    expect(runbookOf(stack)).toMatchSnapshot();
  });

  test('a second synth of the app renders the same bytes', () => {
    const again = stacksOf(exampleApp());
    expect(new Map(again.map((s) => [s.stackName, renderStackRunbook(s)]))).toEqual(runbooks);
  });

  test.each(stacks.map((s) => [s.stackName, s] as const))('%s has no unresolved token, object or undefined in it', (_name, stack) => {
    const text = runbookOf(stack);
    for (const bad of ['${Token[', 'Token[TOKEN', '[object Object]', 'undefined', 'NaN', '#{']) {
      expect(text).not.toContain(bad);
    }
    expect(Token.isUnresolved(text)).toBe(false);
  });

  test.each(stacks.map((s) => [s.stackName, s] as const))('%s holds no secret and never prints one', (_name, stack) => {
    const text = runbookOf(stack);
    expect(text).not.toMatch(/__[A-Z0-9_]+_PASSWORD__/); // the user-data placeholders
    expect(text).not.toMatch(/GenerateSecretString|SecretString"?:/);
    for (const line of shellLines(text).filter((l) => l.includes('get-secret-value'))) {
      // Passwords into an exported variable, never echoed, never on a command line; the operator
      // TLS secret (a key) into a file only its owner can read.
      expect(line).toMatch(
        /^(export [A-Z_]+="\$\(aws secretsmanager get-secret-value .* --query SecretString --output text \| jq -r \.password\)"|\(umask 077; aws secretsmanager get-secret-value .* --secret-id "\$OPERATOR_TLS_SECRET_ARN" --query SecretString --output text > operator-tls\.json\))$/,
      );
    }
    for (const line of shellLines(text)) {
      expect(line).not.toMatch(/\b(cat|less|more|head|tail)\b.*patroni\.yml/);
      expect(line).not.toMatch(/echo .*\$(PGPASSWORD|PATRONI_REST_PASSWORD)/);
    }
  });

  test('a stack with nothing to fail over says so and points to the runbooks that have something', () => {
    const text = runbooks.get('MultiRegionSecondary')!;
    expect(text).toContain('This stack declares no DnsFailover or PatroniCluster');
    expect(text).toContain('`MultiRegionPrimary.runbook.md`');
    expect(text).not.toContain('`MultiRegionSecondary.runbook.md`\n');
    expect(headings(text).filter((h) => h.level === 2)).toEqual([]);
  });

  test('cross-references name sections that exist, with their numbers', () => {
    for (const stack of stacks) {
      const text = runbookOf(stack);
      for (const part of [...sectionsAt(text, 2, 'DNS failover'), ...sectionsAt(text, 2, 'Database failover')]) {
        const titles = new Set(headings(part).filter((h) => h.level === 3).map((h) => h.text));
        for (const m of part.matchAll(/section (\d+) \(([^)]+)\)/g)) {
          expect(titles).toContain(`${m[1]}. ${m[2]}`);
        }
      }
    }
  });
});

describe.each(dnsCases)('DNS runbook of %s', (_path, stack, dns) => {
  const whole = runbookOf(stack);
  const [text] = sectionsAt(whole, 2, 'DNS failover').filter((s) => s.includes(`(\`${dns.node.path}\`)`));
  const region = stack.region;

  test('has every section, numbered, in order', () => {
    expect(text).toBeDefined();
    const titles = headings(text).filter((h) => h.level === 3).map((h) => h.text);
    expect(titles).toEqual(DNS_RUNBOOK_SECTIONS.map((s, i) => `${i + 1}. ${s}`));
    expect(headings(text).filter((h) => h.level === 4).map((h) => h.text)).toEqual([
      'Automatic failover: what to watch',
      'Manual failover: force the primary unhealthy',
    ]);
  });

  test('names the record, the checker regions and the health check settings in force', () => {
    expect(text).toContain(`\`${stack.resolve(dns.recordName)}\``);
    const o = dns.healthCheckOptions;
    for (const r of o.regions) expect(text).toContain(`\`${r}\``);
    expect(text).toContain(`every ${o.interval.toSeconds()} s; ${o.failureThreshold} consecutive failures`);
    if (o.path) expect(text).toContain(`path \`${o.path}\``);
    if (o.searchString) expect(text).toContain(`body must contain \`${o.searchString}\``);
  });

  test('gives the worst-case failover time with its breakdown', () => {
    const b = dns.failoverTimeBreakdown;
    expect(text).toContain(`**${dns.worstCaseFailoverTime.toSeconds()} s**`);
    expect(text).toContain(`| detection | ${b.detection.toSeconds()} s |`);
    expect(text).toContain(`| propagation allowance | ${b.propagation.toSeconds()} s |`);
    expect(text).toContain(`| TTL | ${b.ttl.toSeconds()} s |`);
  });

  test('names every output holding a deploy-time value by logical ID and key, with a describe-stacks line that reads it', () => {
    const outputs = outputsOf(stack, dns);
    expect(outputs.map((o) => o.key)).toEqual(expect.arrayContaining(['primaryHealthCheckId', 'hostedZoneId']));
    for (const o of outputs.filter((x) => x.token)) {
      expect(text).toContain(`stack output \`${o.logicalId}\` (description key \`${o.key}\`)`);
      expect(shellLines(text)).toContain(
        `${{ primaryHealthCheckId: 'PRIMARY_HC', secondaryHealthCheckId: 'SECONDARY_HC', hostedZoneId: 'ZONE_ID' }[o.key]}="$(aws cloudformation describe-stacks ` +
          `--stack-name ${stack.stackName} --region ${region} --query "Stacks[0].Outputs[?Description=='cdk-failover:DnsFailover:${dns.node.path}:${o.key}'].OutputValue" --output text)"`,
      );
    }
  });

  test('has the exact commands to inspect and to force the health check, and the CLI for this stack', () => {
    const lines = shellLines(text);
    expect(lines).toContain(`npx failover status --stack ${stack.stackName} --region ${region} --construct ${dns.node.path}`);
    expect(lines).toContain(`aws route53 get-health-check-status --health-check-id "$PRIMARY_HC" --query 'HealthCheckObservations[].[Region,StatusReport.Status]' --output table`);
    expect(lines).toContain('aws route53 update-health-check --health-check-id "$PRIMARY_HC" --health-check-version "$VERSION" --disabled --inverted');
    expect(lines).toContain('aws route53 update-health-check --health-check-id "$PRIMARY_HC" --health-check-version "$VERSION" --no-disabled --no-inverted');
    expect(lines.some((l) => l.startsWith('aws route53 test-dns-answer --hosted-zone-id "$ZONE_ID" --record-name '))).toBe(true);
    expect(inlineCodes(text)).toContain(`npx failover drill dns --stack ${stack.stackName} --region ${region} --construct ${dns.node.path} --dry-run`);
  });

  test('probes each checked endpoint the way its health check does', () => {
    const curls = shellLines(text).filter((l) => l.startsWith('curl ') || l.startsWith('nc '));
    expect(curls.length).toBeGreaterThanOrEqual(dns.secondaryHealthCheck ? 3 : 2);
    const timeout = dns.healthCheckOptions.protocol.checkTimeout(dns.healthCheckOptions.searchString !== undefined).toSeconds();
    for (const c of curls.filter((l) => l.includes('--max-time'))) expect(c).toContain(`--max-time ${timeout}`);
  });
});

describe.each(clusterCases)('database runbook of %s', (_path, stack, cluster) => {
  const whole = runbookOf(stack);
  const [text] = sectionsAt(whole, 2, 'Database failover').filter((s) => s.includes(`(\`${cluster.node.path}\`)`));
  const region = stack.region;
  const paths = debianNodePaths(15);
  const patroniYml = configFilePath(paths, 'patroni');
  const etcdYml = configFilePath(paths, 'etcd');

  test('has every section, numbered, in order', () => {
    expect(text).toBeDefined();
    const titles = headings(text).filter((h) => h.level === 3).map((h) => h.text);
    expect(titles).toEqual(PATRONI_RUNBOOK_SECTIONS.map((s, i) => `${i + 1}. ${s}`));
  });

  test('names the cluster, its nodes, its timing and its replication settings', () => {
    const t = cluster.timing.values;
    expect(text).toContain(`## Database failover: ${cluster.clusterName} `);
    for (const name of cluster.nodeNames) expect(text).toContain(`\`${name}\``);
    expect(text).toContain(`| ttl | ${t.ttlSeconds} s |`);
    expect(text).toContain(`| loop_wait | ${t.loopWaitSeconds} s |`);
    expect(text).toContain(`| retry_timeout | ${t.retryTimeoutSeconds} s |`);
    expect(text).toContain(`every ${t.haproxyCheckIntervalMs / 1000} s, fall ${t.haproxyFall}, rise ${t.haproxyRise}`);
    expect(text).toContain(`Timing profile \`${cluster.timing.name}\``);
    expect(text).toContain(`synchronous mode **${cluster.spec.synchronousMode}**`);
    expect(text).toContain(`quorum ${Math.floor(cluster.nodes.length / 2) + 1} of ${cluster.nodes.length}`);
  });

  test('names every output by logical ID and key; deploy-time ones with a describe-stacks line', () => {
    const outputs = outputsOf(stack, cluster);
    const backupOnly = ['maxBackupAgeSeconds', 'maxArchiveWaitSeconds'];
    expect(outputs.map((o) => o.key).sort()).toEqual(
      Object.keys(PATRONI_CLUSTER_OUTPUTS)
        .filter((key) => cluster.spec.backup || !backupOnly.includes(key))
        .filter((key) => cluster.primaryClusterName !== undefined || key !== 'primaryClusterName')
        .sort(),
    );
    for (const o of outputs) expect(text).toContain(`\`${o.logicalId}\``);
    for (const key of ['nodeInstanceIds', 'nodeAddresses', 'superuserSecretArn', 'restApiSecretArn']) {
      expect(shellLines(text).some((l) => l.includes(`Outputs[?Description=='cdk-failover:PatroniCluster:${cluster.node.path}:${key}'].OutputValue`))).toBe(true);
    }
  });

  test('has the node, Patroni and CLI commands for this stack, with the rendered config path', () => {
    const lines = shellLines(text);
    const urls = cluster.nodes.map((_, i) => `https://127.0.0.1:${18008 + i}`).join(',');
    const cli = `--stack ${stack.stackName} --region ${region} --construct ${cluster.node.path} --patroni-url ${urls} --tls-secret-file operator-tls.json`;
    expect(lines).toContain(`npx failover status ${cli}`);
    expect(lines).toContain(`npx failover switchover ${cli} --dry-run`);
    expect(lines).toContain(`aws ssm start-session --region ${region} --target "\${NODE_ID[$N]}"   # Session Manager opens sh: type bash`);
    expect(lines).toContain(`sudo -u postgres patronictl -c ${patroniYml} list`);
    expect(lines).toContain(`sudo -u postgres patronictl -c ${patroniYml} switchover --leader "$LEADER" --candidate "$CANDIDATE" --force ${cluster.clusterName}`);
    expect(lines).toContain(`sudo -u postgres patronictl -c ${patroniYml} failover --candidate "$CANDIDATE" --force ${cluster.clusterName}`);
    expect(lines).toContain(`sudo -u postgres patronictl -c ${patroniYml} reinit ${cluster.clusterName} "$MEMBER" --force --wait`);
    cluster.nodes.forEach((_, i) => {
      expect(lines).toContain(
        `aws ssm start-session --region ${region} --target "\${NODE_ID[${i}]}" --document-name AWS-StartPortForwardingSessionToRemoteHost ` +
          `--parameters "host=\${NODE_ADDR[${i}]},portNumber=8008,localPortNumber=${18008 + i}"`,
      );
    });
  });

  test('replaces an etcd member with the rendered etcd config path, data dir and unit, remove before add', () => {
    const [etcd] = sectionsAt(text, 3, '11. Replace an etcd member');
    const lines = shellLines(etcd);
    const remove = lines.indexOf('etcdctl --endpoints "$ETCD" member remove "$ID"');
    const add = lines.indexOf('etcdctl --endpoints "$ETCD" member add "$MEMBER" --peer-urls="$PEER"');
    expect(remove).toBeGreaterThan(0);
    expect(add).toBeGreaterThan(remove);
    expect(lines).toContain(`sudo rm -rf ${paths.etcdDataDir}/member`);
    expect(lines).toContain(`sudo sed -i 's/^initial-cluster-state: new$/initial-cluster-state: existing/' ${etcdYml}`);
    expect(lines).toContain(`sudo systemctl start ${SYSTEMD_UNIT_NAMES.etcd}`);
    expect(lines).toContain(`echo 'force-new-cluster: true' | sudo tee -a ${etcdYml}`);
    expect(lines).toContain(`sudo sed -i '/^force-new-cluster: true$/d' ${etcdYml}`);
  });

  test('lists the alarms watching the cluster, when there are any', () => {
    const alarms = stack.node.findAll().filter((c): c is FailoverAlarms => c instanceof FailoverAlarms);
    if (alarms.length === 0) {
      expect(text).toContain('No FailoverAlarms in this app watches this cluster');
      return;
    }
    // A standby has no primary until it is promoted: its readiness instead.
    const primaryOrStandby = cluster.primaryClusterName === undefined ? 'DbNoPrimary' : 'StandbyNotReady';
    for (const kind of [primaryOrStandby, 'DbFailoverOccurred', 'DbSplitBrain', 'EtcdQuorumAtRisk', 'NodeStatusCheckFailed']) {
      expect(text).toContain(`| \`${kind}\` |`);
    }
    expect(shellLines(text)).toContain(
      `aws cloudwatch describe-alarms --region ${region} --query "MetricAlarms[?starts_with(AlarmDescription, 'cluster ${cluster.clusterName}: ') || ` +
        `starts_with(AlarmDescription, 'cluster ${cluster.clusterName} node ')].[StateValue,AlarmName,AlarmDescription]" --output table`,
    );
  });
});

describe('renderers on their own', () => {
  function agnosticStack(tls?: ClusterTls) {
    const a = testApp();
    const stack = new Stack(a, 'Agnostic'); // no env: the region is a token
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 3, natGateways: 1 });
    const cluster = new PatroniCluster(stack, 'Db', {
      vpc,
      nodes: 5,
      synchronousMode: SynchronousMode.OFF,
      timing: PatroniTiming.custom({ ttl: Duration.seconds(20), loopWait: Duration.seconds(5), retryTimeout: Duration.seconds(7) }),
      tls,
    });
    const zone = new route53.PublicHostedZone(stack, 'Zone', { zoneName: 'example.org' });
    const dns = new DnsFailover(stack, 'Web', {
      zone,
      recordName: 'www',
      primary: FailoverEndpoint.domainName('primary.example.net'),
      secondary: FailoverEndpoint.domainName('backup.example.net'),
      healthCheck: { protocol: HealthCheckProtocol.TCP, port: 8443, regions: ['us-west-1', 'ap-southeast-1', 'sa-east-1'] },
    });
    return { stack, cluster, dns };
  }

  test('an environment-agnostic stack gets "$AWS_REGION" and no token', () => {
    const { stack } = agnosticStack();
    const text = renderStackRunbook(stack);
    expect(text).not.toContain('${Token[');
    expect(text).toContain('--region "$AWS_REGION"');
    expect(text).toContain('environment-agnostic');
  });

  test('renderDnsFailoverRunbook and renderPatroniClusterRunbook stand alone, with their own title', () => {
    const { cluster, dns } = agnosticStack();
    const dnsText = renderDnsFailoverRunbook(dns);
    expect(dnsText.startsWith('# DNS failover: www.example.org (`Agnostic/Web`)\n')).toBe(true);
    expect(headings(dnsText).filter((h) => h.level === 2).map((h) => h.text)).toEqual(DNS_RUNBOOK_SECTIONS.map((s, i) => `${i + 1}. ${s}`));
    expect(dnsText).toContain('nc -z -v -w 10 "primary.example.net" 8443');
    const dbText = renderPatroniClusterRunbook(cluster);
    expect(dbText.startsWith(`# Database failover: ${cluster.clusterName} (\`Agnostic/Db\`)\n`)).toBe(true);
    expect(dbText).toContain('| ttl | 20 s |');
    expect(dbText).toContain('quorum 3 of 5');
    expect(dbText).toContain('asynchronous replication (synchronous mode **off**)');
    const forwarded = (scheme: string) => [18008, 18009, 18010, 18011, 18012].map((port) => `${scheme}://127.0.0.1:${port}`).join(',');
    expect(shellLines(dbText).some((l) => l.includes(`--patroni-url ${forwarded('https')} --tls-secret-file operator-tls.json`))).toBe(true);
    expect(dbText).toContain('sslmode=verify-ca sslrootcert=database-ca.crt');

    // Without TLS: plain URLs, no operator secret, psql without a CA.
    const plain = renderPatroniClusterRunbook(agnosticStack(ClusterTls.OFF).cluster);
    expect(shellLines(plain).some((l) => l.includes(`--patroni-url ${forwarded('http')} `) || l.endsWith(`--patroni-url ${forwarded('http')}`))).toBe(true);
    expect(plain).not.toContain('--tls-secret-file');
    expect(plain).not.toContain('OPERATOR_TLS_SECRET_ARN');
    expect(plain).not.toContain('sslrootcert');
  });
});

describe('writing runbooks', () => {
  test('writeRunbooks writes one <stackName>.runbook.md per stack into an outdir, as rendered', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdkf-runbooks-'));
    try {
      const written = writeRunbooks(app, outdir);
      expect(written).toEqual(stacks.map((s) => path.join(outdir, runbookFileName(s))).sort());
      expect(fs.readdirSync(outdir).sort()).toEqual(stacks.map((s) => `${s.stackName}.runbook.md`).sort());
      for (const s of stacks) expect(fs.readFileSync(path.join(outdir, runbookFileName(s)), 'utf8')).toBe(runbookOf(s));
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });

  test('after app.synth(), writeRunbooks(app) puts each runbook beside its template, unchanged by the synth', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdkf-assembly-'));
    try {
      const synthApp = new App({ outdir, context: { ...cdkJson.context }, analyticsReporting: false });
      addExampleStacks(synthApp);
      const assembly = synthApp.synth();
      writeRunbooks(synthApp);
      for (const artifact of assembly.stacks) {
        const beside = path.join(path.dirname(artifact.templateFullPath), `${artifact.stackName}.runbook.md`);
        expect(fs.existsSync(beside)).toBe(true);
        expect(fs.readFileSync(beside, 'utf8')).toBe(runbooks.get(artifact.stackName));
      }
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });

  test('docs/runbooks holds exactly what renderStackRunbook renders now (run npm run runbooks after a change)', () => {
    const dir = path.join(ROOT, 'docs', 'runbooks');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.runbook.md')).sort();
    expect(files).toEqual(stacks.map((s) => runbookFileName(s)).sort());
    for (const s of stacks) {
      expect({ file: runbookFileName(s), content: fs.readFileSync(path.join(dir, runbookFileName(s)), 'utf8') }).toEqual({
        file: runbookFileName(s),
        content: runbookOf(s),
      });
    }
  });
});
