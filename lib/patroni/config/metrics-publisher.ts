// The node metrics publisher: what each node tells CloudWatch about itself (node-metrics.ts names
// the metrics), and the "last healthy primary seen" mark the role-change callback turns into the
// failover duration.
import { etcdHealthUrl } from './etcd';
import { METRICS_PUBLISHER_BODY } from './metrics-publisher-py';
import { NODE_GAUGES, NODE_METRIC_DIMENSIONS } from './node-metrics';
import { findNode } from './nodes';
import { nodePaths } from './paths';
import { checkedBackup, pgBackRestConfigPath } from './pgbackrest';
import { renderPythonProgram } from './python-program';
import { restApiCaFile, restApiUrl } from './rest-api';
import { ClusterSpec } from './spec';
import { checkedStandby } from './standby';
import { tlsFilePath } from './tls';

/** File the publisher keeps in the node's runDir: `<epoch seconds> <member name>\n`. */
export const METRICS_PUBLISHER_FILES = { lastHealthyPrimary: 'last-healthy-primary' } as const;

/** The publisher's cadence and bounds, in seconds. */
export const METRICS_PUBLISHER_TIMING = {
  /** One put-metric-data per interval (the alarms use 1-minute periods). */
  intervalSeconds: 10,
  /** How often the REST API is read and the mark refreshed: the failover duration's resolution. */
  sampleSeconds: 2,
  /** Per HTTP request (Patroni, the leader's Patroni, etcd). */
  httpTimeoutSeconds: 2,
  /** A put-metric-data call is killed after this long. */
  awsTimeoutSeconds: 20,
} as const;

const UNITS: Record<string, string> = {
  [NODE_GAUGES.replicationLagBytes]: 'Bytes',
  [NODE_GAUGES.dcsLastSeenAgeSeconds]: 'Seconds',
  [NODE_GAUGES.backupAgeSeconds]: 'Seconds',
  [NODE_GAUGES.backupRepositorySizeBytes]: 'Bytes',
  [NODE_GAUGES.walArchiveWaitSeconds]: 'Seconds',
  [NODE_GAUGES.standbyReplayAgeSeconds]: 'Seconds',
  [NODE_GAUGES.standbyReplayLagBytes]: 'Bytes',
  [NODE_GAUGES.certificateExpirySeconds]: 'Seconds',
};

/** How often the primary asks the repository for its newest backup, and how long it waits. */
export const BACKUP_PROBE_TIMING = { probeSeconds: 300, infoTimeoutSeconds: 120 } as const;

/**
 * metrics_publisher.py for `nodeName`: a long-running Python 3 program (standard library only),
 * `--once` for one sample. Gauges with the ClusterName and Node dimensions, to
 * `spec.metricsNamespace` (and `spec.awsRegion` when set).
 */
export function renderMetricsPublisher(spec: ClusterSpec, nodeName: string): string {
  const node = findNode(spec, nodeName);
  const paths = nodePaths(spec, node);
  const config = {
    node: node.name,
    namespace: spec.metricsNamespace,
    region: spec.awsRegion ?? null,
    dimensions: [
      [NODE_METRIC_DIMENSIONS.cluster, spec.clusterName],
      [NODE_METRIC_DIMENSIONS.node, node.name],
    ],
    gauges: NODE_GAUGES,
    units: UNITS,
    replicaMaxLagBytes: spec.replicaMaxLagBytes,
    // What the running Patroni's version is checked against (TimingAdjusted).
    timing: { ttl: spec.timing.ttlSeconds, loop_wait: spec.timing.loopWaitSeconds, retry_timeout: spec.timing.retryTimeoutSeconds },
    restApi: Object.fromEntries(spec.nodes.map((n) => [n.name, restApiUrl(spec, n)])),
    caFile: restApiCaFile(spec, node.name),
    // Public files (mode 0644): what CertificateExpirySeconds watches.
    certificates: spec.tls ? (['caCert', 'databaseCaCert', 'nodeCert', 'databaseCert'] as const).map((f) => tlsFilePath(paths, f)) : [],
    etcdHealthUrl: etcdHealthUrl(spec, node),
    markFile: `${paths.runDir}/${METRICS_PUBLISHER_FILES.lastHealthyPrimary}`,
    // A standby that streams: its standby leader asks PostgreSQL how far its replay is behind.
    standbyStreams: checkedStandby(spec)?.host !== undefined,
    backup: checkedBackup(spec)
      ? {
          stanza: spec.clusterName,
          config: pgBackRestConfigPath(paths),
          socketDir: paths.socketDir,
          port: spec.ports.postgres,
          user: spec.credentials.superuser.username,
          ...BACKUP_PROBE_TIMING,
        }
      : null,
    ...METRICS_PUBLISHER_TIMING,
  };
  return renderPythonProgram(
    [
      `Node metrics publisher for node ${node.name} of cluster ${spec.clusterName} (rendered by cdk-failover:`,
      'edits are overwritten). Usage: metrics_publisher.py [--once]',
    ],
    config,
    METRICS_PUBLISHER_BODY,
  );
}
