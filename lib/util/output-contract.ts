// The stack outputs the constructs publish and the CLI, the runbooks and imports read: their one
// definition. Each output's description is `cdk-failover:<kind>:<construct path>:<key>`, so that
// they are found by what they are, whatever their logical IDs.

/** The start of every output description of this library. */
export const OUTPUT_DESCRIPTION_PREFIX = 'cdk-failover:';

/** What publishes outputs. */
export type OutputKind = 'DnsFailover' | 'PatroniCluster';

/** One output: its construct ID (and so its logical ID's stem) and whether the CLI needs it. */
export interface OutputSpec {
  readonly id: string;
  /** The CLI refuses a construct without it; optional ones are absent by configuration or from older versions. */
  readonly required: boolean;
}

/**
 * A DnsFailover's outputs: every `DnsFailoverAttributes` value, and the worst-case failover time.
 * Construct IDs are public API (they make the logical IDs): never rename one.
 */
export const DNS_FAILOVER_OUTPUTS = {
  primaryHealthCheckId: { id: 'PrimaryHealthCheckIdOutput', required: true },
  secondaryHealthCheckId: { id: 'SecondaryHealthCheckIdOutput', required: false },
  recordName: { id: 'RecordNameOutput', required: true },
  hostedZoneId: { id: 'HostedZoneIdOutput', required: true },
  worstCaseFailoverSeconds: { id: 'WorstCaseFailoverSecondsOutput', required: false },
  /** Comma-separated; only when latency is measured. */
  latencyRegions: { id: 'LatencyRegionsOutput', required: false },
  /** `true` or `false`. */
  https: { id: 'HttpsOutput', required: false },
} as const satisfies Record<string, OutputSpec>;

/**
 * A PatroniCluster's outputs: every `PatroniClusterAttributes` value, and what operators need
 * (secret ARNs, node addresses). Construct IDs are public API: never rename one.
 */
export const PATRONI_CLUSTER_OUTPUTS = {
  clusterName: { id: 'ClusterNameOutput', required: true },
  /** host:port of the writer listener. */
  writerEndpoint: { id: 'WriterEndpointOutput', required: true },
  readerEndpoint: { id: 'ReaderEndpointOutput', required: true },
  superuserSecretArn: { id: 'SuperuserSecretArnOutput', required: true },
  restApiSecretArn: { id: 'RestApiSecretArnOutput', required: true },
  metricsNamespace: { id: 'MetricsNamespaceOutput', required: true },
  replicaMaxLagBytes: { id: 'ReplicaMaxLagBytesOutput', required: false },
  /** Absent without TLS. */
  operatorTlsSecretArn: { id: 'OperatorTlsSecretArnOutput', required: false },
  /** Comma-separated, in node order. */
  nodeInstanceIds: { id: 'NodeInstanceIdsOutput', required: true },
  /** Comma-separated, in node order. */
  nodeAddresses: { id: 'NodeAddressesOutput', required: true },
  /** The clients' security group (the load balancer's). */
  securityGroupId: { id: 'SecurityGroupIdOutput', required: false },
  loadBalancerFullName: { id: 'LoadBalancerFullNameOutput', required: false },
  writerTargetGroupFullName: { id: 'WriterTargetGroupFullNameOutput', required: false },
  /** Only with backups. */
  maxBackupAgeSeconds: { id: 'MaxBackupAgeSecondsOutput', required: false },
  /** Only with backups. */
  maxArchiveWaitSeconds: { id: 'MaxArchiveWaitSecondsOutput', required: false },
  /** Only for a standby cluster: the primary it was made a standby of. */
  primaryClusterName: { id: 'PrimaryClusterNameOutput', required: false },
  /** Only with TLS: how long its certificates are valid, seconds (the CertificatesExpiring alarm's scale). */
  certificateValiditySeconds: { id: 'CertificateValiditySecondsOutput', required: false },
} as const satisfies Record<string, OutputSpec>;

export type DnsFailoverOutputKey = keyof typeof DNS_FAILOVER_OUTPUTS;
export type PatroniClusterOutputKey = keyof typeof PATRONI_CLUSTER_OUTPUTS;

/** The outputs of each kind. */
export const OUTPUTS_OF: { readonly [K in OutputKind]: Readonly<Record<string, OutputSpec>> } = {
  DnsFailover: DNS_FAILOVER_OUTPUTS,
  PatroniCluster: PATRONI_CLUSTER_OUTPUTS,
};

/** How list values (instance IDs, addresses, regions) are joined in one output. */
export const OUTPUT_LIST_SEPARATOR = ',';

/** `cdk-failover:<kind>:<path>:<key>`. */
export function outputDescription(kind: OutputKind, path: string, key: string): string {
  return `${OUTPUT_DESCRIPTION_PREFIX}${kind}:${path}:${key}`;
}

/** The kind, construct path and key of a description of this library; undefined for anything else. */
export function parseOutputDescription(description: string | undefined): { kind: OutputKind; path: string; key: string } | undefined {
  if (!description?.startsWith(OUTPUT_DESCRIPTION_PREFIX)) return undefined;
  const rest = description.slice(OUTPUT_DESCRIPTION_PREFIX.length);
  const kindEnd = rest.indexOf(':');
  const keyStart = rest.lastIndexOf(':');
  if (kindEnd <= 0 || keyStart <= kindEnd + 1) return undefined;
  const kind = rest.slice(0, kindEnd);
  if (!(kind in OUTPUTS_OF)) return undefined;
  return { kind: kind as OutputKind, path: rest.slice(kindEnd + 1, keyStart), key: rest.slice(keyStart + 1) };
}

/** A list output's items. */
export function splitOutputList(value: string): string[] {
  return value
    .split(OUTPUT_LIST_SEPARATOR)
    .map((s) => s.trim())
    .filter(Boolean);
}
