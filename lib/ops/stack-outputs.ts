import { CloudFormationClient, DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import { OpsError, UsageError } from './errors';

/** What a DnsFailover publishes as stack outputs (Description `cdk-failover:DnsFailover:<path>:<key>`). */
export interface DnsFailoverOutputs {
  /** The construct path, e.g. 'Api/Dns'. */
  readonly path: string;
  readonly primaryHealthCheckId: string;
  readonly secondaryHealthCheckId?: string;
  readonly recordName: string;
  readonly hostedZoneId: string;
  readonly worstCaseFailoverSeconds?: number;
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
}

export interface StackOutputs {
  readonly stackName: string;
  readonly dnsFailovers: DnsFailoverOutputs[];
  readonly clusters: PatroniClusterOutputs[];
}

const PREFIX = 'cdk-failover:';
const DNS_REQUIRED = ['primaryHealthCheckId', 'recordName', 'hostedZoneId'] as const;
const CLUSTER_REQUIRED = [
  'clusterName',
  'writerEndpoint',
  'readerEndpoint',
  'superuserSecretArn',
  'restApiSecretArn',
  'metricsNamespace',
  'nodeInstanceIds',
  'nodeAddresses',
] as const;

/** Groups a stack's outputs by construct, from their descriptions; other outputs are ignored. */
export function parseStackOutputs(stackName: string, outputs: readonly Output[]): StackOutputs {
  const byConstruct = new Map<string, { kind: string; path: string; values: Record<string, string> }>();
  for (const o of outputs) {
    const d = o.Description;
    if (!d || !d.startsWith(PREFIX) || o.OutputValue === undefined) continue;
    const rest = d.slice(PREFIX.length);
    const kindEnd = rest.indexOf(':');
    const keyStart = rest.lastIndexOf(':');
    if (kindEnd <= 0 || keyStart <= kindEnd + 1) continue;
    const kind = rest.slice(0, kindEnd);
    const path = rest.slice(kindEnd + 1, keyStart);
    const key = rest.slice(keyStart + 1);
    const id = `${kind}:${path}`;
    const entry = byConstruct.get(id) ?? { kind, path, values: {} };
    entry.values[key] = o.OutputValue;
    byConstruct.set(id, entry);
  }
  const dnsFailovers: DnsFailoverOutputs[] = [];
  const clusters: PatroniClusterOutputs[] = [];
  for (const { kind, path, values } of byConstruct.values()) {
    if (kind === 'DnsFailover') {
      requireKeys(stackName, kind, path, values, DNS_REQUIRED);
      const worst = values.worstCaseFailoverSeconds === undefined ? undefined : Number(values.worstCaseFailoverSeconds);
      dnsFailovers.push({
        path,
        primaryHealthCheckId: values.primaryHealthCheckId!,
        secondaryHealthCheckId: values.secondaryHealthCheckId || undefined,
        recordName: values.recordName!,
        hostedZoneId: values.hostedZoneId!,
        worstCaseFailoverSeconds: worst !== undefined && Number.isFinite(worst) ? worst : undefined,
      });
    } else if (kind === 'PatroniCluster') {
      requireKeys(stackName, kind, path, values, CLUSTER_REQUIRED);
      clusters.push({
        path,
        clusterName: values.clusterName!,
        writerEndpoint: values.writerEndpoint!,
        readerEndpoint: values.readerEndpoint!,
        superuserSecretArn: values.superuserSecretArn!,
        restApiSecretArn: values.restApiSecretArn!,
        metricsNamespace: values.metricsNamespace!,
        nodeInstanceIds: splitList(values.nodeInstanceIds!),
        nodeAddresses: splitList(values.nodeAddresses!),
        ...(values.operatorTlsSecretArn ? { operatorTlsSecretArn: values.operatorTlsSecretArn } : {}),
        ...(/^\d+$/.test(values.replicaMaxLagBytes ?? '') ? { replicaMaxLagBytes: Number(values.replicaMaxLagBytes) } : {}),
      });
    }
  }
  const byPath = (a: { path: string }, b: { path: string }) => a.path.localeCompare(b.path);
  return { stackName, dnsFailovers: dnsFailovers.sort(byPath), clusters: clusters.sort(byPath) };
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
  if (items.length === 0) throw new OpsError(`stack ${stackName} has no ${what} outputs (outputs described 'cdk-failover:${what}:...')`);
  if (matches.length === 0) throw new UsageError(`no ${what} at '${pathFilter}' in stack ${stackName} (found: ${listed})`);
  throw new UsageError(`stack ${stackName} has ${matches.length} ${what}s (${matches.map((m) => m.path).join(', ')}): choose one with --construct <path>`);
}

export function filterByPath<T extends { path: string }>(items: readonly T[], pathFilter: string | undefined): T[] {
  if (!pathFilter) return [...items];
  return items.filter((i) => i.path === pathFilter || i.path.endsWith(`/${pathFilter}`));
}

function requireKeys(stackName: string, kind: string, path: string, values: Record<string, string>, keys: readonly string[]): void {
  const missing = keys.filter((k) => !values[k]);
  if (missing.length) {
    throw new OpsError(`stack ${stackName}: ${kind} ${path} lacks the output(s) ${missing.join(', ')} (deployed with an older cdk-failover?)`);
  }
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
