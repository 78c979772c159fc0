// What the DNS runbook says about a DnsFailover, read from the construct and from its records and
// health checks as the template will have them.
import { CfnResource, Stack } from 'aws-cdk-lib';
import * as route53 from 'aws-cdk-lib/aws-route53';
import { IConstruct } from 'constructs';
import { DnsFailover, FailoverTimeBreakdown, ResolvedHealthCheckOptions } from '../dns';
import { OutputRef, RunbookContext } from './stack-context';

/** What Route 53 probes for one endpoint. */
export interface ProbeFacts {
  /** Route 53's type: HTTPS, HTTP_STR_MATCH, TCP... */
  readonly type: string;
  /** The IP address probed, when the check is by IP (known at synth, else undefined with `byIp`). */
  readonly ipAddress?: string;
  /** True when the check probes an IP address. */
  readonly byIp: boolean;
  /** The host name: probed (no IP), or sent as Host header and SNI (with an IP). Undefined when known only at deploy time. */
  readonly fqdn?: string;
  /** True when the check has a host name. */
  readonly hasFqdn: boolean;
  readonly port: number;
  readonly path?: string;
  readonly searchString?: string;
}

/** One of the two records and its health check. */
export interface EndpointFacts {
  readonly role: 'primary' | 'secondary';
  /** "A 203.0.113.10", "alias to dualstack.x (evaluates target health)", ... */
  readonly summary: string;
  readonly isAlias: boolean;
  readonly evaluateTargetHealth: boolean;
  /** The record's values or alias DNS name, when known at synth. */
  readonly values?: readonly string[];
  readonly healthCheck?: { readonly output?: OutputRef; readonly probe: ProbeFacts };
}

export interface DnsFacts {
  readonly context: RunbookContext;
  readonly path: string;
  /** Fully qualified record name without trailing dot, when known at synth. */
  readonly recordName?: string;
  readonly recordType: string;
  readonly zoneName?: string;
  /** TTL of the non-alias records, seconds. */
  readonly ttlSeconds?: number;
  readonly primary: EndpointFacts;
  readonly secondary: EndpointFacts;
  readonly options: ResolvedHealthCheckOptions;
  readonly breakdown: FailoverTimeBreakdown;
  readonly outputs: {
    readonly primaryHealthCheckId?: OutputRef;
    readonly secondaryHealthCheckId?: OutputRef;
    readonly hostedZoneId?: OutputRef;
    readonly recordName?: OutputRef;
    readonly worstCaseFailoverSeconds?: OutputRef;
  };
}

/** Reads everything the DNS runbook says about `dns`. */
export function dnsFacts(dns: DnsFailover): DnsFacts {
  const context = RunbookContext.of(dns);
  const outputs = context.outputsOf(dns, 'DnsFailover');
  const primaryRecord = recordProperties(context, dns.primaryRecord);
  const secondaryRecord = recordProperties(context, dns.secondaryRecord);
  const recordName = context.concrete(dns.recordName)?.replace(/\.$/, '');
  const ttl = context.concrete(primaryRecord.TTL) ?? context.concrete(secondaryRecord.TTL);
  return {
    context,
    path: dns.node.path,
    recordName,
    recordType: context.concrete(primaryRecord.Type) ?? 'A',
    zoneName: zoneNameOf(context, primaryRecord.HostedZoneId),
    ttlSeconds: ttl === undefined ? undefined : Number(ttl),
    primary: endpointFacts(context, 'primary', primaryRecord, dns.primaryHealthCheck, outputs.get('primaryHealthCheckId')),
    secondary: endpointFacts(context, 'secondary', secondaryRecord, dns.secondaryHealthCheck, outputs.get('secondaryHealthCheckId')),
    options: dns.healthCheckOptions,
    breakdown: dns.failoverTimeBreakdown,
    outputs: {
      primaryHealthCheckId: outputs.get('primaryHealthCheckId'),
      secondaryHealthCheckId: outputs.get('secondaryHealthCheckId'),
      hostedZoneId: outputs.get('hostedZoneId'),
      recordName: outputs.get('recordName'),
      worstCaseFailoverSeconds: outputs.get('worstCaseFailoverSeconds'),
    },
  };
}

function recordProperties(context: RunbookContext, record: route53.RecordSet): Record<string, unknown> {
  return context.properties(record.node.defaultChild as route53.CfnRecordSet);
}

function endpointFacts(
  context: RunbookContext,
  role: 'primary' | 'secondary',
  record: Record<string, unknown>,
  healthCheck: route53.IHealthCheck | undefined,
  output: OutputRef | undefined,
): EndpointFacts {
  const type = context.concrete(record.Type) ?? 'A';
  const alias = record.AliasTarget as Record<string, unknown> | undefined;
  let summary: string;
  let values: string[] | undefined;
  let evaluateTargetHealth = false;
  if (alias) {
    const dnsName = context.concrete(alias.DNSName);
    evaluateTargetHealth = context.concrete(alias.EvaluateTargetHealth) === 'true';
    values = dnsName === undefined ? undefined : [dnsName];
    summary =
      `alias ${type} to ${dnsName ?? 'a target whose DNS name is known at deploy time'}` +
      (evaluateTargetHealth ? ', evaluating the target\'s health' : ', not evaluating the target\'s health');
  } else {
    values = context.concreteList(record.ResourceRecords);
    summary = `${type} ${values ? values.join(', ') : '(values known at deploy time)'}`;
  }
  const healthCheckResource = healthCheck?.node.defaultChild;
  const probe = healthCheckResource instanceof CfnResource ? probeFacts(context, healthCheckResource) : undefined;
  return {
    role,
    summary,
    isAlias: alias !== undefined,
    evaluateTargetHealth,
    values,
    healthCheck: probe ? { output, probe } : undefined,
  };
}

function probeFacts(context: RunbookContext, healthCheck: CfnResource): ProbeFacts {
  const config = (context.properties(healthCheck).HealthCheckConfig ?? {}) as Record<string, unknown>;
  const type = context.concrete(config.Type) ?? 'HTTPS';
  const defaultPort = type.startsWith('HTTPS') ? 443 : type.startsWith('HTTP') ? 80 : 0;
  const port = Number(context.concrete(config.Port) ?? defaultPort);
  return {
    type,
    byIp: config.IPAddress !== undefined,
    ipAddress: context.concrete(config.IPAddress),
    hasFqdn: config.FullyQualifiedDomainName !== undefined,
    fqdn: context.concrete(config.FullyQualifiedDomainName),
    port,
    path: context.concrete(config.ResourcePath),
    searchString: context.concrete(config.SearchString),
  };
}

/** The zone's name, when the record's zone is a hosted zone of the same stack with a name known at synth. */
function zoneNameOf(context: RunbookContext, hostedZoneId: unknown): string | undefined {
  const ref = (hostedZoneId as { Ref?: unknown } | undefined)?.Ref;
  if (typeof ref !== 'string') return undefined;
  const zone = context.stack.node
    .findAll()
    .find((c: IConstruct): c is route53.CfnHostedZone => c instanceof route53.CfnHostedZone && Stack.of(c) === context.stack && context.logicalId(c) === ref);
  return zone ? context.concrete(zone.name)?.replace(/\.$/, '') : undefined;
}
