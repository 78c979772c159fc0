// Writing the generated files to disk: into the cloud assembly beside the templates, or any
// directory. Runbooks for every stack; Prometheus rules and a Grafana dashboard for stacks with a PatroniCluster.
import * as fs from 'fs';
import * as path from 'path';
import { Stack, Stage } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { renderGrafanaDashboard } from '../monitoring/grafana-dashboard';
import { renderPrometheusRuleFile, type PrometheusClusterFacts } from '../monitoring/prometheus-rules';
import { PatroniCluster } from '../patroni/patroni-cluster';
import { renderStackRunbook, runbookFileName } from './stack-runbook';

/**
 * Writes `<stackName>.runbook.md` for every stack under `scope` (an App or a Stage) and returns
 * the paths written, sorted. With `outdir`, every runbook goes there; without, each goes beside
 * its stack's template, in the cloud assembly directory of the stack's stage (call this after
 * `app.synth()`).
 */
export function writeRunbooks(scope: IConstruct, outdir?: string): string[] {
  return writePerStack(scope, outdir, runbookFileName, renderStackRunbook);
}

/**
 * Writes `<stackName>.prometheus-rules.yml` and `<stackName>.grafana-dashboard.json` for every
 * stack under `scope` with a PatroniCluster (docs/prometheus.md), as `writeRunbooks` writes
 * runbooks, and returns the paths written, sorted.
 */
export function writePrometheusFiles(scope: IConstruct, outdir?: string): string[] {
  return [
    ...writePerStack(scope, outdir, (stack) => `${stack.stackName}.prometheus-rules.yml`, (stack) => {
      const facts = prometheusFacts(stack);
      return facts.length ? renderPrometheusRuleFile(facts) : undefined;
    }),
    ...writePerStack(scope, outdir, (stack) => `${stack.stackName}.grafana-dashboard.json`, (stack) => {
      const facts = prometheusFacts(stack);
      return facts.length ? renderGrafanaDashboard(`${stack.stackName} failover`, facts) : undefined;
    }),
  ].sort();
}

/** What the Prometheus files need of each PatroniCluster defined in `stack`. */
function prometheusFacts(stack: Stack): PrometheusClusterFacts[] {
  return stack.node
    .findAll()
    .filter((c): c is PatroniCluster => c instanceof PatroniCluster && Stack.of(c) === stack)
    .map((c) => ({
      clusterName: c.clusterName,
      replicaMaxLagBytes: c.replicaMaxLag.toBytes(),
      members: c.nodeNames.length,
      timing: { ttl: c.timing.ttl.toSeconds(), loopWait: c.timing.loopWait.toSeconds(), retryTimeout: c.timing.retryTimeout.toSeconds() },
      runbook: `${runbookFileName(stack)}, database ${c.node.path}`,
      standby: c.primaryClusterName !== undefined,
    }));
}

/** One file per stack (`render` undefined: none for that stack), each name written once. */
function writePerStack(scope: IConstruct, outdir: string | undefined, fileName: (stack: Stack) => string, render: (stack: Stack) => string | undefined): string[] {
  const written: string[] = [];
  const stacks = scope.node.findAll().filter((c): c is Stack => Stack.isStack(c) && !c.nested);
  for (const stack of stacks) {
    const dir = outdir ?? Stage.of(stack)?.outdir;
    if (!dir) throw new Error(`${stack.node.path}: no output directory (the stack is not in an App or Stage)`);
    const content = render(stack);
    if (content === undefined) continue;
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, fileName(stack));
    if (written.includes(file)) {
      throw new Error(`two stacks would write ${file}: stack names must be unique where their files go`);
    }
    fs.writeFileSync(file, content);
    written.push(file);
  }
  return written.sort();
}
