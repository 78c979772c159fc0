// etcd 3.4 member configuration, for `etcd --config-file`.
import { findNode } from './nodes';
import { nodePaths } from './paths';
import { ClusterSpec } from './spec';
import { toYaml11 } from './yaml11';

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
  const clientUrl = `http://${node.address}:${etcdClient}`;
  const peerUrl = `http://${node.address}:${etcdPeer}`;

  const config = {
    name: node.name,
    'data-dir': paths.etcdDataDir,
    'listen-client-urls': clientUrl,
    'advertise-client-urls': clientUrl,
    'listen-peer-urls': peerUrl,
    'initial-advertise-peer-urls': peerUrl,
    'initial-cluster': spec.nodes.map((n) => `${n.name}=http://${n.address}:${etcdPeer}`).join(','),
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
    logger: 'zap',
    'log-outputs': ['stderr'],
  };
  return toYaml11(config, `etcd 3.4 member ${node.name} of cluster ${spec.clusterName}. Rendered by cdk-failover: edits are overwritten.`);
}
