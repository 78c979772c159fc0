import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { addExampleStacks } from '../../examples/all';
import { ALARM_CATALOGUE, AlarmKind } from '../../lib/monitoring/alarm-catalogue';
import { renderGrafanaDashboard } from '../../lib/monitoring/grafana-dashboard';
import { CLOUDWATCH_ONLY, PROMETHEUS_RULES, prometheusRules, renderPrometheusRuleFile } from '../../lib/monitoring/prometheus-rules';
import { writePrometheusFiles } from '../../lib/runbook';
import { testApp } from '../app';

const FACTS = { clusterName: 'shop', members: 3, replicaMaxLagBytes: 1048576, timing: { ttl: 7, loopWait: 1, retryTimeout: 3 }, runbook: 'Shop.runbook.md, database Shop/Db' };

describe('Prometheus rules from the alarm catalogue', () => {
  test('every alarm kind is a rule or says why it is CloudWatch only, never both', () => {
    for (const kind of Object.keys(ALARM_CATALOGUE) as AlarmKind[]) {
      expect([kind, kind in PROMETHEUS_RULES !== kind in CLOUDWATCH_ONLY]).toEqual([kind, true]);
    }
  });

  test('descriptions, thresholds and runbook sections come with each rule', () => {
    const lag = prometheusRules(FACTS).find((r) => r.alert === 'DbReplicationLagHigh')!;
    expect(lag).toEqual({
      alert: 'DbReplicationLagHigh',
      expr: expect.stringContaining('> 1048576'),
      for: '300s',
      labels: { severity: 'warning', cluster: 'shop', alarm: 'DbReplicationLagHigh' },
      annotations: {
        summary: `cluster shop: ${ALARM_CATALOGUE.DbReplicationLagHigh.description} (1048576 bytes)`,
        runbook: 'Shop.runbook.md, database Shop/Db: section 5 (Confirm the standby is ready)',
      },
    });
    expect(lag.expr).toContain('scope="shop"');
  });

  test('SlowerThanDeclared only where the declared timing is under the minimums a newer Patroni imposes (ttl 20, loop_wait 1, retry_timeout 3 s)', () => {
    expect(prometheusRules(FACTS).map((r) => r.alert)).toContain('SlowerThanDeclared');
    expect(prometheusRules({ ...FACTS, timing: { ttl: 20, loopWait: 1, retryTimeout: 3 } }).map((r) => r.alert)).not.toContain('SlowerThanDeclared');
    // retry_timeout is raised too (to 3 s), whatever the ttl.
    expect(prometheusRules({ ...FACTS, timing: { ttl: 30, loopWait: 10, retryTimeout: 2 } }).map((r) => r.alert)).toContain('SlowerThanDeclared');
  });

  test('a standby cluster has no primary until it is promoted: no rule that wants one (or measures lag from one); the rest stay, and its readiness rule comes in', () => {
    const wantPrimary = ['DbNoPrimary', 'FailoverDurationHigh', 'NoHealthyFailoverTargets', 'DbReplicationLagHigh'];
    const primary = prometheusRules(FACTS).map((r) => r.alert);
    const standby = prometheusRules({ ...FACTS, standby: true }).map((r) => r.alert);
    expect(primary).toEqual(expect.arrayContaining(wantPrimary));
    expect(primary).not.toContain('StandbyNotReady');
    expect(standby.filter((a) => a !== 'StandbyNotReady')).toEqual(primary.filter((a) => !wantPrimary.includes(a)));
    const ready = prometheusRules({ ...FACTS, standby: true }).find((r) => r.alert === 'StandbyNotReady')!;
    expect(ready).toMatchObject({ for: '180s', labels: { severity: 'warning', alarm: 'StandbyNotReady' } });
    expect(ready.expr).toContain('patroni_standby_leader{scope="shop"} == 1');
  });

  test('bad input: a cluster name that cannot go into a label matcher, two clusters of one name', () => {
    expect(() => prometheusRules({ ...FACTS, clusterName: 'a"b' })).toThrow(`Prometheus rules: cluster name 'a"b' must be letters, digits, '.', '_' or '-' (it goes into a label matcher)`);
    expect(() => renderPrometheusRuleFile([FACTS, FACTS])).toThrow(`Prometheus rules: two clusters are named 'shop'; their metrics (scope="shop") could not be told apart`);
  });

  test('written beside the templates for stacks with a PatroniCluster only', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prom-write-'));
    try {
      const app = testApp();
      addExampleStacks(app);
      const written = writePrometheusFiles(app, dir).map((f) => path.basename(f));
      expect(written).toEqual([
        'MultiRegionPrimary.grafana-dashboard.json',
        'MultiRegionPrimary.prometheus-rules.yml',
        'MultiRegionStandby.grafana-dashboard.json',
        'MultiRegionStandby.prometheus-rules.yml',
        'PatroniClusterExample.grafana-dashboard.json',
        'PatroniClusterExample.prometheus-rules.yml',
      ]);
      const file = parse(fs.readFileSync(path.join(dir, 'PatroniClusterExample.prometheus-rules.yml'), 'utf8'));
      expect(file.groups.map((g: { name: string }) => g.name)).toEqual(['cdk-failover-orders-db']);
      expect(file.groups[0].rules[0].annotations.runbook).toBe(
        'PatroniClusterExample.runbook.md, database PatroniClusterExample/Db: section 7 (Verify), section 10 (Bring the old primary back)',
      );
      const dashboard = JSON.parse(fs.readFileSync(path.join(dir, 'PatroniClusterExample.grafana-dashboard.json'), 'utf8'));
      // A readable start and a hash of the whole title: two long stack names with one prefix differ.
      expect(dashboard).toMatchObject({ title: 'PatroniClusterExample failover', uid: 'cdkfo-patroniclusterexample-fa-10307084', schemaVersion: 39 });
      expect(JSON.parse(renderGrafanaDashboard('PatroniClusterExample failover, again', [])).uid).not.toBe(dashboard.uid);
      expect(dashboard.panels.map((p: { title: string }) => p.title)).toEqual([
        'orders-db: primaries (1 healthy, 0 no writer, 2+ split brain)',
        'orders-db: healthy replicas and etcd members',
        'orders-db: max replication lag (bytes)',
        'orders-db: promotions and role changes',
      ]);
      expect(dashboard.panels.map((p: { gridPos: object }) => p.gridPos)).toEqual([
        { x: 0, y: 0, w: 12, h: 8 },
        { x: 12, y: 0, w: 12, h: 8 },
        { x: 0, y: 8, w: 12, h: 8 },
        { x: 12, y: 8, w: 12, h: 8 },
      ]);
      expect(dashboard.panels.map((p: { description?: string }) => p.description)).toEqual([undefined, undefined, undefined, 'Not here: role changes: the role-change callback publishes them to CloudWatch only.']);
      for (const panel of dashboard.panels) {
        expect(panel.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
        for (const target of panel.targets) expect(target.expr).toContain('scope="orders-db"');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
