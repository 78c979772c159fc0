// etcd 3.4 member configuration, for `etcd --config-file`.
import { findNode } from './nodes';
import { nodePaths } from './paths';
import { ClusterNode, ClusterSpec } from './spec';
import { tlsFilePath } from './tls';
import { toYaml11 } from './yaml11';

/** The scheme etcd's client and peer URLs use. */
export function etcdScheme(spec: ClusterSpec): 'https' | 'http' {
  return spec.tls ? 'https' : 'http';
}

/** The URL of etcd's /health on `node`: with TLS, the metrics listener, which needs no client certificate. */
export function etcdHealthUrl(spec: ClusterSpec, node: ClusterNode): string {
  return spec.tls ? `http://${node.address}:${spec.ports.etcdMetrics}/health` : `http://${node.address}:${spec.ports.etcdClient}/health`;
}

/** etcd.conf.yml for `nodeName`: a static initial cluster of every node, Raft timings from the spec. */
export function renderEtcdConfig(spec: ClusterSpec, nodeName: string): string {
  const node = findNode(spec, nodeName);
  const paths = nodePaths(spec, node);
  const { etcdClient, etcdPeer } = spec.ports;
  const { etcdHeartbeatMs, etcdElectionTimeoutMs } = spec.timing;
  if (!(etcdElectionTimeoutMs >= 5 * etcdHeartbeatMs)) {
    // etcd itself refuses less than 5x at startup; say so at render time instead.
    throw new Error(
      `timing.etcdElectionTimeoutMs must be at least 5 x timing.etcdHeartbeatMs (etcd refuses less), got ${etcdElectionTimeoutMs} and ${etcdHeartbeatMs}`,
    );
  }
  const scheme = etcdScheme(spec);
  const clientUrl = `${scheme}://${node.address}:${etcdClient}`;
  const peerUrl = `${scheme}://${node.address}:${etcdPeer}`;
  // Client and peer alike must show a certificate from the cluster CA: without one, nothing (the v2
  // and v3 APIs, the gRPC gateway) answers.
  const security = {
    'cert-file': tlsFilePath(paths, 'nodeCert'),
    'key-file': tlsFilePath(paths, 'etcdKey'),
    'trusted-ca-file': tlsFilePath(paths, 'caCert'),
    'client-cert-auth': true,
  };

  const config = {
    name: node.name,
    'data-dir': paths.etcdDataDir,
    'listen-client-urls': clientUrl,
    'advertise-client-urls': clientUrl,
    'listen-peer-urls': peerUrl,
    'initial-advertise-peer-urls': peerUrl,
    'initial-cluster': spec.nodes.map((n) => `${n.name}=${scheme}://${n.address}:${etcdPeer}`).join(','),
    'initial-cluster-state': 'new',
    'initial-cluster-token': spec.clusterName,
    'heartbeat-interval': etcdHeartbeatMs,
    'election-timeout': etcdElectionTimeoutMs,
    // A member rejoining after a partition must not depose a healthy leader by bumping the term.
    'pre-vote': true,
    // Patroni rewrites its keys every loop_wait: without compaction etcd's history fills its quota,
    // and at NOSPACE the DCS goes read-only and so does the database.
    'auto-compaction-mode': 'periodic',
    'auto-compaction-retention': '1h',
    // Patroni 3.0.2 uses the v2 API (see patroni-yml.ts). The gRPC gateway stays on for v3 HTTP
    // clients: read from a config file, etcd 3.4 leaves it off unless told.
    'enable-v2': true,
    'enable-grpc-gateway': true,
    ...(spec.tls
      ? {
          'client-transport-security': security,
          'peer-transport-security': security,
          // /health and /metrics only, for health checks that hold no key.
          'listen-metrics-urls': `http://${node.address}:${spec.ports.etcdMetrics}`,
        }
      : {}),
    logger: 'zap',
    'log-outputs': ['stderr'],
  };
  return toYaml11(config, `etcd 3.4 member ${node.name} of cluster ${spec.clusterName}. Rendered by cdk-failover: edits are overwritten.`);
}
