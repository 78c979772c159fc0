import { Stack } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { IDnsFailover } from '../dns/dns-failover-base';
import { IPatroniCluster } from '../patroni/patroni-cluster-base';
import { renderDnsFailoverRunbook } from './dns-runbook';
import { renderPatroniClusterRunbook } from './patroni-runbook';
import { renderStackRunbook, runbookFileName } from './stack-runbook';
import { writePrometheusFiles, writeRunbooks } from './write';

/** The runbook functions as static methods: what jsii languages (Python, Java...) can call. */
export class Runbooks {
  /** The runbook of one DnsFailover, as Markdown; for an import, what its attributes give. */
  public static forDnsFailover(dns: IDnsFailover): string {
    return renderDnsFailoverRunbook(dns);
  }

  /** The runbook of one PatroniCluster, as Markdown; for an import, what its attributes give. */
  public static forPatroniCluster(cluster: IPatroniCluster): string {
    return renderPatroniClusterRunbook(cluster);
  }

  /** The runbook of every DnsFailover and PatroniCluster of a stack, as Markdown. */
  public static forStack(stack: Stack): string {
    return renderStackRunbook(stack);
  }

  /** `<stackName>.runbook.md`. */
  public static fileName(stack: Stack): string {
    return runbookFileName(stack);
  }

  /**
   * Writes each stack's runbook beside its template (after `app.synth()`), or into `outdir`.
   * @returns the files written
   */
  public static write(scope: IConstruct, outdir?: string): string[] {
    return writeRunbooks(scope, outdir);
  }

  /**
   * Writes `<stackName>.prometheus-rules.yml` (the alarm catalogue as Prometheus rules over
   * Patroni's /metrics) and `<stackName>.grafana-dashboard.json` for each stack with a
   * PatroniCluster, beside its template (after `app.synth()`) or into `outdir`.
   * @returns the files written
   */
  public static writePrometheusFiles(scope: IConstruct, outdir?: string): string[] {
    return writePrometheusFiles(scope, outdir);
  }

  private constructor() {}
}
