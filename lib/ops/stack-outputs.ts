import { CloudFormationClient, DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import { OpsError, UsageError } from './errors';
import {
  DNS_FAILOVER_OUTPUTS,
  OUTPUT_DESCRIPTION_PREFIX,
  OutputKind,
  OutputSpec,
  parseOutputDescription,
  PATRONI_CLUSTER_OUTPUTS,
  splitOutputList,
} from '../util/output-contract';

/** What a DnsFailover publishes as stack outputs (Description `cdk-failover:DnsFailover:<path>:<key>`). */
export interface DnsFailoverOutputs {
  /** The construct path, e.g. 'Api/Dns'. */
  readonly path: string;
  readonly primaryHealthCheckId: string;
  readonly secondaryHealthCheckId?: string;
  readonly recordName: string;
  readonly hostedZoneId: string;
  readonly worstCaseFailoverSeconds?: number;
  /** The checker regions, when latency is measured; absent from stacks deployed before the output. */
  readonly latencyRegions?: string[];
  /** Whether the health checks are HTTPS; absent from stacks deployed before the output. */
  readonly https?: boolean;
}

/** What a PatroniCluster publishes as stack outputs. */
export interface PatroniClusterOutputs {
  readonly path: string;
  readonly clusterName: string;
  /** host:port of the writer listener. */
  readonly writerEndpoint: string;
  readonly readerEndpoint: string;
  readonly superuserSecretArn: string;
  readonly restApiSecretArn: string;
  readonly metricsNamespace: string;
  readonly nodeInstanceIds: string[];
  readonly nodeAddresses: string[];
  /** The cluster's `replicaMaxLag` in bytes; absent from stacks deployed before the output. */
  readonly replicaMaxLagBytes?: number;
  /** The operators' TLS secret; absent for a cluster without TLS (ClusterTls.OFF) or from before TLS. */
  readonly operatorTlsSecretArn?: string;
  /** The clients' security group; this and the rest are absent from stacks deployed before the output. */
  readonly securityGroupId?: string;
  readonly loadBalancerFullName?: string;
  readonly writerTargetGroupFullName?: string;
  /** With backups: the backup alarms' limits, seconds. */
  readonly maxBackupAgeSeconds?: number;
  readonly maxArchiveWaitSeconds?: number;
  /** A standby cluster's primary (its `standbyOf`). */
  readonly primaryClusterName?: string;
  /** With TLS: how long its certificates are valid, seconds. */
  readonly certificateValiditySeconds?: number;
}

export interface StackOutputs {
  readonly stackName: string;
  readonly dnsFailovers: DnsFailoverOutputs[];
  readonly clusters: PatroniClusterOutputs[];
}

/** Groups a stack's outputs by construct, from their descriptions; other outputs are ignored. */
export function parseStackOutputs(stackName: string, outputs: readonly Output[]): StackOutputs {
  const byConstruct = new Map<string, { kind: OutputKind; path: string; values: Record<string, string> }>();
  for (const o of outputs) {
    const parsed = parseOutputDescription(o.Description);
    if (!parsed || o.OutputValue === undefined) continue;
    const { kind, path, key } = parsed;
    const id = `${kind}:${path}`;
    const entry = byConstruct.get(id) ?? { kind, path, values: {} };
    entry.values[key] = o.OutputValue;
    byConstruct.set(id, entry);
  }
  const dnsFailovers: DnsFailoverOutputs[] = [];
  const clusters: PatroniClusterOutputs[] = [];
  for (const { kind, path, values } of byConstruct.values()) {
    const text = (key: string) => values[key] || undefined;
    if (kind === 'DnsFailover') {
      requireKeys(stackName, kind, path, values, DNS_FAILOVER_OUTPUTS);
      dnsFailovers.push({
        path,
        primaryHealthCheckId: values.primaryHealthCheckId!,
        secondaryHealthCheckId: text('secondaryHealthCheckId'),
        recordName: values.recordName!,
        hostedZoneId: values.hostedZoneId!,
        ...optional('worstCaseFailoverSeconds', finiteNumber(values.worstCaseFailoverSeconds)),
        ...optional('latencyRegions', values.latencyRegions === undefined ? undefined : splitOutputList(values.latencyRegions)),
        ...optional('https', values.https === 'true' ? true : values.https === 'false' ? false : undefined),
      });
    } else if (kind === 'PatroniCluster') {
      requireKeys(stackName, kind, path, values, PATRONI_CLUSTER_OUTPUTS);
      clusters.push({
        path,
        clusterName: values.clusterName!,
        writerEndpoint: values.writerEndpoint!,
        readerEndpoint: values.readerEndpoint!,
        superuserSecretArn: values.superuserSecretArn!,
        restApiSecretArn: values.restApiSecretArn!,
        metricsNamespace: values.metricsNamespace!,
        nodeInstanceIds: splitOutputList(values.nodeInstanceIds!),
        nodeAddresses: splitOutputList(values.nodeAddresses!),
        ...optional('operatorTlsSecretArn', text('operatorTlsSecretArn')),
        ...optional('replicaMaxLagBytes', wholeNumber(values.replicaMaxLagBytes)),
        ...optional('securityGroupId', text('securityGroupId')),
        // Pairs, as fromClusterAttributes takes them: half of one is left out.
        ...pair(['loadBalancerFullName', text('loadBalancerFullName')], ['writerTargetGroupFullName', text('writerTargetGroupFullName')]),
        ...pair(['maxBackupAgeSeconds', wholeNumber(values.maxBackupAgeSeconds)], ['maxArchiveWaitSeconds', wholeNumber(values.maxArchiveWaitSeconds)]),
        ...optional('primaryClusterName', text('primaryClusterName')),
        ...optional('certificateValiditySeconds', wholeNumber(values.certificateValiditySeconds)),
      });
    }
  }
  const byPath = (a: { path: string }, b: { path: string }) => a.path.localeCompare(b.path);
  return { stackName, dnsFailovers: dnsFailovers.sort(byPath), clusters: clusters.sort(byPath) };
}

/** `{ key: value }`, or nothing when the value is absent (so that absent keys stay absent). */
function optional<K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [k in K]?: V };
}

/** Both values, or neither when either is absent. */
function pair<A extends string, B extends string, V>(a: [A, V | undefined], b: [B, V | undefined]): { [k in A | B]?: V } {
  return (a[1] === undefined || b[1] === undefined ? {} : { [a[0]]: a[1], [b[0]]: b[1] }) as { [k in A | B]?: V };
}

function finiteNumber(value: string | undefined): number | undefined {
  const n = value === undefined || value === '' ? NaN : Number(value);
  return Number.isFinite(n) ? n : undefined;
}

function wholeNumber(value: string | undefined): number | undefined {
  return /^\d+$/.test(value ?? '') ? Number(value) : undefined;
}

/** The region a `--stack` command works in: `--region`, else the AWS environment's. */
export function stackRegion(region: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  return region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
}

/** The stack's outputs, read in `region` (with `factory`'s client when given: the tests' mock). */
export function readStackOutputsIn(
  region: string | undefined,
  stackName: string,
  factory?: (region: string | undefined) => CloudFormationClient,
  signal?: AbortSignal,
): Promise<StackOutputs> {
  const cfn = factory ? factory(region) : new CloudFormationClient({ region, maxAttempts: 5 });
  return readStackOutputs(cfn, stackName, signal);
}

/** DescribeStacks, then `parseStackOutputs`. */
export async function readStackOutputs(cfn: CloudFormationClient, stackName: string, signal?: AbortSignal): Promise<StackOutputs> {
  let outputs: Output[];
  try {
    const answer = await cfn.send(new DescribeStacksCommand({ StackName: stackName }), { abortSignal: signal });
    const stack = answer.Stacks?.[0];
    if (!stack) throw new OpsError(`stack ${stackName} not found`);
    if (/_IN_PROGRESS$/.test(stack.StackStatus ?? '') && !stack.Outputs?.length) {
      throw new OpsError(`stack ${stackName} is ${stack.StackStatus} and has no outputs yet`);
    }
    outputs = stack.Outputs ?? [];
  } catch (err) {
    if (err instanceof OpsError) throw err;
    const e = err as Error;
    if (e.name === 'ValidationError' && /does not exist/.test(e.message)) throw new OpsError(`stack ${stackName} does not exist in this region`);
    throw err;
  }
  return parseStackOutputs(stackName, outputs);
}

/**
 * The one construct of a kind a command acts on: the only one, or the one whose path is (or ends
 * with) `pathFilter`.
 */
export function selectConstruct<T extends { path: string }>(items: readonly T[], pathFilter: string | undefined, what: string, stackName: string): T {
  const matches = pathFilter ? filterByPath(items, pathFilter) : [...items];
  if (matches.length === 1) return matches[0]!;
  const listed = items.map((i) => i.path).join(', ');
  if (items.length === 0) throw new OpsError(`stack ${stackName} has no ${what} outputs (outputs described '${OUTPUT_DESCRIPTION_PREFIX}${what}:...')`);
  if (matches.length === 0) throw new UsageError(`no ${what} at '${pathFilter}' in stack ${stackName} (found: ${listed})`);
  throw new UsageError(`stack ${stackName} has ${matches.length} ${what}s (${matches.map((m) => m.path).join(', ')}): choose one with --construct <path>`);
}

export function filterByPath<T extends { path: string }>(items: readonly T[], pathFilter: string | undefined): T[] {
  if (!pathFilter) return [...items];
  return items.filter((i) => i.path === pathFilter || i.path.endsWith(`/${pathFilter}`));
}

function requireKeys(stackName: string, kind: string, path: string, values: Record<string, string>, specs: Readonly<Record<string, OutputSpec>>): void {
  const missing = Object.keys(specs).filter((k) => specs[k]!.required && !values[k]);
  if (missing.length) {
    throw new OpsError(`stack ${stackName}: ${kind} ${path} lacks the output(s) ${missing.join(', ')} (deployed with an older cdk-failover?)`);
  }
}
