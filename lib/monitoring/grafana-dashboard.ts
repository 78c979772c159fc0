// A Grafana dashboard over the same Prometheus data as the rules: the cluster panels of
// cluster-panels.ts that Prometheus has a source for, per cluster, with the data source chosen on
// import (a `datasource` variable).
import { createHash } from 'node:crypto';
import { CLUSTER_PANEL_ROWS } from './cluster-panels';
import type { PrometheusClusterFacts } from './prometheus-rules';

const WIDTH = 12;
const HEIGHT = 8;
/** Grafana's limit for a dashboard uid. */
const MAX_UID_LENGTH = 40;

/** The dashboard JSON model (schema 39, Grafana 10/11) for `clusters`, titled `title`. */
export function renderGrafanaDashboard(title: string, clusters: readonly PrometheusClusterFacts[]): string {
  const panels: object[] = [];
  let y = 0;
  let id = 1;
  for (const facts of clusters) {
    const scope = `scope="${facts.clusterName}"`;
    for (const row of CLUSTER_PANEL_ROWS) {
      const drawn = row.filter((p) => p.prometheus);
      drawn.forEach((panel, i) => {
        panels.push({
          id: id++,
          type: 'timeseries',
          title: `${facts.clusterName}: ${panel.title}`,
          ...(panel.cloudWatchOnly ? { description: `Not here: ${panel.cloudWatchOnly}.` } : {}),
          datasource: { type: 'prometheus', uid: '${datasource}' },
          gridPos: { x: i * WIDTH, y, w: WIDTH, h: HEIGHT },
          fieldConfig: { defaults: { unit: panel.unit, min: 0 }, overrides: [] },
          targets: panel.prometheus!(scope, facts).map((s, k) => ({ refId: String.fromCharCode(65 + k), expr: s.expr, legendFormat: s.legend })),
        });
      });
      if (drawn.length) y += HEIGHT;
    }
  }
  // Grafana's uid is at most 40 characters: a readable start and a hash of the whole title.
  const slug = title.toLowerCase().replace(/[^a-z0-9-]+/g, '-').slice(0, 24);
  const hash = createHash('sha256').update(title).digest('hex').slice(0, 8);
  const dashboard = {
    title,
    uid: `cdkfo-${slug}-${hash}`.slice(0, MAX_UID_LENGTH),
    schemaVersion: 39,
    editable: true,
    time: { from: 'now-3h', to: 'now' },
    refresh: '30s',
    tags: ['cdk-failover', 'patroni'],
    templating: { list: [{ name: 'datasource', label: 'Prometheus', type: 'datasource', query: 'prometheus' }] },
    panels,
  };
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}
