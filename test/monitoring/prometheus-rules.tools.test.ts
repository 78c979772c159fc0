// The rendered Prometheus rules handed to Debian's promtool (Prometheus 2.42): `check rules`, then
// `test rules` with input series shaped as Patroni 3.0.2's /metrics (scope label, one instance per
// node), each alert seen firing and, on a healthy cluster, not firing.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { run } from '../../lib/util/command';
import { renderGrafanaDashboard } from '../../lib/monitoring/grafana-dashboard';
import { prometheusRules, renderPrometheusRuleFile, type PrometheusClusterFacts } from '../../lib/monitoring/prometheus-rules';

const FACTS: PrometheusClusterFacts = { clusterName: 'shop', members: 3, replicaMaxLagBytes: 1048576, timing: { ttl: 7, loopWait: 1, retryTimeout: 3 }, runbook: 'Shop.runbook.md, database Shop/Db' };
const RULES = prometheusRules(FACTS);
const MINUTES = 12;

/**
 * promtool's series notation: one value a minute for MINUTES minutes, by minute ranges. '_' is a
 * node gone: a staleness marker first (as Prometheus writes when a target disappears), then nothing.
 */
function values(...ranges: [fromMinute: number, value: number | '_'][]): string {
  const out: string[] = [];
  for (let m = 0; m <= MINUTES; m++) {
    const current = [...ranges].reverse().find(([from]) => from <= m)![1];
    out.push(current === '_' ? (out.length && out[out.length - 1] !== '_' && out[out.length - 1] !== 'stale' ? 'stale' : '_') : String(current));
  }
  return out.join(' ');
}

type NodeSeries = Partial<Record<'primary' | 'replica' | 'running' | 'timeline' | 'location' | 'replayed' | 'version' | 'etcd', [number, number | '_'][]>>;

/** Input series for each node: what its /metrics would say, minute by minute. */
function cluster(nodes: Record<string, NodeSeries>) {
  const series: { series: string; values: string }[] = [];
  for (const [name, s] of Object.entries(nodes)) {
    const metric = (metricName: string, ranges: [number, number | '_'][]) => series.push({ series: `${metricName}{scope="shop",instance="${name}"}`, values: values(...ranges) });
    metric('patroni_primary', s.primary ?? [[0, 0]]);
    metric('patroni_replica', s.replica ?? [[0, s.primary ? 0 : 1]]);
    metric('patroni_postgres_running', s.running ?? [[0, 1]]);
    metric('patroni_postgres_timeline', s.timeline ?? [[0, 1]]);
    // The primary's replay and a replica's own location are not read: both at the same position.
    metric('patroni_xlog_location', s.location ?? [[0, 50_000_000]]);
    metric('patroni_xlog_replayed_location', s.replayed ?? [[0, 50_000_000]]);
    metric('patroni_version', s.version ?? [[0, 30002]]);
    // etcd's own /metrics on the node, labelled with the cluster's scope by the scrape job.
    metric('etcd_server_has_leader', s.etcd ?? [[0, 1]]);
  }
  return series;
}

const healthy = (): Record<string, NodeSeries> => ({ 'pg-0': { primary: [[0, 1]] }, 'pg-1': {}, 'pg-2': {} });

function expected(alert: string, extraLabels: Record<string, string> = {}) {
  const rule = RULES.find((r) => r.alert === alert)!;
  return { exp_labels: { ...rule.labels, ...extraLabels }, exp_annotations: rule.annotations };
}

describe('Prometheus rules in promtool (Debian prometheus 2.42)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prom-rules-'));
  const rulesFile = path.join(dir, 'rules.yml');
  fs.writeFileSync(rulesFile, renderPrometheusRuleFile([FACTS]));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const promtool = (...args: string[]) => run('promtool', args, { allowFailure: true, timeoutMs: 30_000 });

  test('promtool check rules accepts the file', async () => {
    const r = await promtool('check', 'rules', rulesFile);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`SUCCESS: ${RULES.length} rules found`);
    expect(RULES.map((r) => r.alert)).toEqual([
      'DatabaseFailoverOccurred',
      'FailoverDurationHigh',
      'DbNoPrimary',
      'DbSplitBrain',
      'NoHealthyFailoverTargets',
      'DbReplicationLagHigh',
      'EtcdMemberUnhealthy',
      'EtcdQuorumAtRisk',
      'SlowerThanDeclared',
    ]);
  });

  test('promtool check rules refuses a broken file (the check can fail)', async () => {
    const broken = path.join(dir, 'broken.yml');
    const good = renderPrometheusRuleFile([FACTS]);
    const bad = good.replace('count(patroni_primary', 'countt(patroni_primary');
    expect(bad).not.toBe(good);
    fs.writeFileSync(broken, bad);
    const r = await promtool('check', 'rules', broken);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('unknown function with name "countt"');
  });

  test("every Grafana panel's query is PromQL that promtool accepts (checked as recording rules)", async () => {
    const dashboard = JSON.parse(renderGrafanaDashboard('Shop failover', [FACTS])) as { panels: { targets: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
    expect(exprs.length).toBeGreaterThanOrEqual(4);
    const file = path.join(dir, 'panels.yml');
    fs.writeFileSync(file, stringify({ groups: [{ name: 'panels', rules: exprs.map((expr, i) => ({ record: `cdkfo_panel_${i}`, expr })) }] }, { lineWidth: 0 }));
    const r = await promtool('check', 'rules', file);
    expect(r.stdout + r.stderr).toContain(`SUCCESS: ${exprs.length} rules found`);
    expect(r.code).toBe(0);
  });

  const none = (at: number) => RULES.map((r) => ({ eval_time: `${at}m`, alertname: r.alert, exp_alerts: [] }));
  const firingOnly = (at: number, firing: Record<string, ReturnType<typeof expected>[]>) =>
    RULES.map((r) => ({ eval_time: `${at}m`, alertname: r.alert, exp_alerts: firing[r.alert] ?? [] }));

  const cases: { name: string; nodes: Record<string, NodeSeries>; alerts: object[] }[] = [
    { name: 'a healthy cluster fires nothing', nodes: healthy(), alerts: [...none(6), ...none(MINUTES)] },
    {
      name: 'a failover: pg-0 gone at 4 min, pg-1 promoted on timeline 2 at 5 min',
      nodes: {
        'pg-0': { primary: [[0, 1], [4, '_']], replica: [[0, 0], [4, '_']], running: [[0, 1], [4, '_']], timeline: [[0, 1], [4, '_']], location: [[0, 50_000_000], [4, '_']], replayed: [[0, 50_000_000], [4, '_']], version: [[0, 30002], [4, '_']], etcd: [[0, 1], [4, '_']] },
        'pg-1': { primary: [[0, 0], [5, 1]], replica: [[0, 1], [5, 0]], timeline: [[0, 1], [5, 2]] },
        'pg-2': { timeline: [[0, 1], [6, 2]] },
      },
      alerts: [
        // The node's etcd member went with it: 2 of 3 left is the quorum.
        ...firingOnly(6, { DatabaseFailoverOccurred: [expected('DatabaseFailoverOccurred')], EtcdQuorumAtRisk: [expected('EtcdQuorumAtRisk')] }),
        // 5 minutes after the promotion, no node was on the old timeline: only etcd is still short.
        ...firingOnly(MINUTES, { EtcdMemberUnhealthy: [expected('EtcdMemberUnhealthy')], EtcdQuorumAtRisk: [expected('EtcdQuorumAtRisk')] }),
      ],
    },
    {
      name: 'no primary for 3 minutes: too slow after 1, no primary after 2, no failover target after 3',
      nodes: { 'pg-0': { primary: [[0, 1], [3, 0], [7, 1]] }, 'pg-1': {}, 'pg-2': {} },
      alerts: [
        ...firingOnly(4, { FailoverDurationHigh: [expected('FailoverDurationHigh')] }),
        ...firingOnly(5, { FailoverDurationHigh: [expected('FailoverDurationHigh')], DbNoPrimary: [expected('DbNoPrimary')] }),
        ...firingOnly(6, { FailoverDurationHigh: [expected('FailoverDurationHigh')], DbNoPrimary: [expected('DbNoPrimary')], NoHealthyFailoverTargets: [expected('NoHealthyFailoverTargets')] }),
        ...none(MINUTES),
      ],
    },
    {
      name: 'two primaries for a minute: split brain',
      nodes: { 'pg-0': { primary: [[0, 1]] }, 'pg-1': { primary: [[0, 0], [3, 1], [6, 0]], replica: [[0, 1], [3, 0], [6, 1]] }, 'pg-2': {} },
      alerts: [...firingOnly(3, {}), ...firingOnly(5, { DbSplitBrain: [expected('DbSplitBrain')] }), ...none(MINUTES)],
    },
    {
      name: 'pg-2 replays 2 MiB behind for 6 minutes: lag high on pg-2 alone; pg-1 is still a target',
      nodes: { ...healthy(), 'pg-2': { replayed: [[0, 50_000_000], [2, 50_000_000 - 2 * 1048576], [9, 50_000_000]] } },
      alerts: [...firingOnly(6, {}), ...firingOnly(8, { DbReplicationLagHigh: [expected('DbReplicationLagHigh', { scope: 'shop', instance: 'pg-2' })] }), ...none(MINUTES)],
    },
    {
      name: 'both replicas behind the limit for 3 minutes: no failover target',
      nodes: { ...healthy(), 'pg-1': { replayed: [[0, 50_000_000], [2, 40_000_000], [7, 50_000_000]] }, 'pg-2': { running: [[0, 1], [2, 0], [7, 1]] } },
      alerts: [...firingOnly(4, {}), ...firingOnly(6, { NoHealthyFailoverTargets: [expected('NoHealthyFailoverTargets')] }), ...none(MINUTES)],
    },
    {
      name: "the leader's PostgreSQL down from 3 min (Patroni still says primary): no primary, no failover target",
      nodes: { 'pg-0': { primary: [[0, 1]], running: [[0, 1], [3, 0]], location: [[0, 50_000_000], [3, 0]] }, 'pg-1': {}, 'pg-2': {} },
      alerts: [
        ...firingOnly(4, { FailoverDurationHigh: [expected('FailoverDurationHigh')] }),
        ...firingOnly(6, { FailoverDurationHigh: [expected('FailoverDurationHigh')], DbNoPrimary: [expected('DbNoPrimary')], NoHealthyFailoverTargets: [expected('NoHealthyFailoverTargets')] }),
      ],
    },
    {
      name: 'every etcd member without a leader (quorum lost) from 2 min: both etcd alerts',
      nodes: { 'pg-0': { primary: [[0, 1]], etcd: [[0, 1], [2, 0]] }, 'pg-1': { etcd: [[0, 1], [2, 0]] }, 'pg-2': { etcd: [[0, 1], [2, 0]] } },
      alerts: [...firingOnly(5, { EtcdQuorumAtRisk: [expected('EtcdQuorumAtRisk')], EtcdMemberUnhealthy: [expected('EtcdMemberUnhealthy')] })],
    },
    {
      name: "pg-2's etcd member without a leader from 2 min to 8 min: quorum at risk after 2 min, a member unhealthy after 3",
      nodes: { ...healthy(), 'pg-2': { etcd: [[0, 1], [2, 0], [8, 1]] } },
      alerts: [
        ...firingOnly(3, {}),
        ...firingOnly(4, { EtcdQuorumAtRisk: [expected('EtcdQuorumAtRisk')] }),
        ...firingOnly(5, { EtcdQuorumAtRisk: [expected('EtcdQuorumAtRisk')], EtcdMemberUnhealthy: [expected('EtcdMemberUnhealthy')] }),
        ...none(MINUTES),
      ],
    },
    {
      name: 'a node upgraded to Patroni 3.2 under a 7 s ttl: slower than declared',
      nodes: { ...healthy(), 'pg-1': { version: [[0, 30002], [2, 30200]] } },
      alerts: [...firingOnly(4, {}), ...firingOnly(6, { SlowerThanDeclared: [expected('SlowerThanDeclared')] })],
    },
  ];

  test.each(cases.map((c) => [c.name, c] as const))('promtool test rules: %s', async (_name, c) => {
    const testFile = path.join(dir, `${c.name.replace(/[^a-z0-9]+/gi, '-')}.test.yml`);
    const spec = { rule_files: [rulesFile], evaluation_interval: '1m', tests: [{ interval: '1m', input_series: cluster(c.nodes), alert_rule_test: c.alerts }] };
    fs.writeFileSync(testFile, stringify(spec, { lineWidth: 0 }));
    const r = await promtool('test', 'rules', testFile);
    if (r.code !== 0) throw new Error(`promtool test rules failed:\n${r.stdout}${r.stderr}`);
    expect(r.stdout).toContain('SUCCESS');
  });

  describe('a standby cluster: its readiness (StandbyNotReady), over 30 minutes', () => {
    const standbyFacts: PrometheusClusterFacts = { ...FACTS, standby: true };
    const standbyRules = path.join(dir, 'standby-rules.yml');
    const ready = prometheusRules(standbyFacts).find((r) => r.alert === 'StandbyNotReady')!;
    const firing = [{ exp_labels: ready.labels, exp_annotations: ready.annotations }];
    /** pg-0 the standby leader; `replayed`: its replayed-commit timestamps (promtool's clock starts at 0), `leader`: its standby_leader gauge. */
    const standby = (replayed: string, leader = '1x30') =>
      ['pg-0', 'pg-1', 'pg-2'].flatMap((n) => [
        { series: `patroni_standby_leader{scope="shop",instance="${n}"}`, values: n === 'pg-0' ? leader : '0x30' },
        { series: `patroni_postgres_running{scope="shop",instance="${n}"}`, values: '1x30' },
        { series: `patroni_xlog_replayed_timestamp{scope="shop",instance="${n}"}`, values: replayed },
      ]);
    const runTest = async (name: string, series: { series: string; values: string }[], at: Record<string, boolean>) => {
      fs.writeFileSync(standbyRules, renderPrometheusRuleFile([standbyFacts]));
      const alerts = Object.entries(at).map(([minute, fires]) => ({ eval_time: minute, alertname: 'StandbyNotReady', exp_alerts: fires ? firing : [] }));
      const testFile = path.join(dir, `standby-${name}.test.yml`);
      fs.writeFileSync(testFile, stringify({ rule_files: [standbyRules], evaluation_interval: '1m', tests: [{ interval: '1m', input_series: series, alert_rule_test: alerts }] }, { lineWidth: 0 }));
      const r = await promtool('test', 'rules', testFile);
      if (r.code !== 0) throw new Error(`promtool test rules failed:\n${r.stdout}${r.stderr}`);
      expect(r.stdout).toContain('SUCCESS');
    };

    test('promtool check rules accepts the standby\'s file', async () => {
      fs.writeFileSync(standbyRules, renderPrometheusRuleFile([standbyFacts]));
      const r = await promtool('check', 'rules', standbyRules);
      expect(r.stdout).toContain(`SUCCESS: ${prometheusRules(standbyFacts).length} rules found`);
      expect(r.code).toBe(0);
    });

    test('a feed that stops at 10 min: quiet at 20 and 24 min, firing at 29 (the last commit 900 s old at 25 min, then 3 minutes)', () =>
      runTest('stalled', standby('0+60x10 600x20'), { '20m': false, '24m': false, '29m': true }));

    test('a standby leader that keeps up fires nothing', () => runTest('live', standby('0+60x30'), { '10m': false, '30m': false }));

    test('no standby leader from 5 min (none runs): not ready after 3 minutes', () =>
      runTest('no-leader', standby('0+60x30', '1x5 0x25'), { '6m': false, '9m': true }));
  });

  test('a healthy-cluster expectation that an alert fires fails in promtool (the tests can fail)', async () => {
    const testFile = path.join(dir, 'wrong.test.yml');
    const spec = {
      rule_files: [rulesFile],
      evaluation_interval: '1m',
      tests: [{ interval: '1m', input_series: cluster(healthy()), alert_rule_test: [{ eval_time: '6m', alertname: 'DbNoPrimary', exp_alerts: [expected('DbNoPrimary')] }] }],
    };
    fs.writeFileSync(testFile, stringify(spec, { lineWidth: 0 }));
    const r = await promtool('test', 'rules', testFile);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('alertname: DbNoPrimary');
  });
});
