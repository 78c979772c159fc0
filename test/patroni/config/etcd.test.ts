import { parse } from 'yaml';
import { renderEtcdConfig } from '../../../lib/patroni/config';
import { etcdHealthUrl } from '../../../lib/patroni/config/etcd';
import { ec2Spec } from './fixtures';

describe('renderEtcdConfig', () => {
  const spec = ec2Spec();
  const text = renderEtcdConfig(spec, 'pg-2');
  const config = parse(text, { version: '1.1' });

  test('is the member config of the node, with a static initial cluster of all nodes', () => {
    expect(config).toEqual({
      name: 'pg-2',
      'data-dir': '/var/lib/postgresql/etcd',
      'listen-client-urls': 'http://10.0.3.10:2379',
      'advertise-client-urls': 'http://10.0.3.10:2379',
      'listen-peer-urls': 'http://10.0.3.10:2380',
      'initial-advertise-peer-urls': 'http://10.0.3.10:2380',
      'initial-cluster': 'pg-0=http://10.0.1.10:2380,pg-1=http://10.0.2.10:2380,pg-2=http://10.0.3.10:2380',
      'initial-cluster-state': 'new',
      'initial-cluster-token': 'orders-db',
      'heartbeat-interval': 100,
      'election-timeout': 1000,
      'pre-vote': true,
      'auto-compaction-mode': 'periodic',
      'auto-compaction-retention': '1h',
      'enable-v2': true,
      'enable-grpc-gateway': true,
      logger: 'zap',
      'log-outputs': ['stderr'],
    });
  });

  test('with tls, every client and peer shows a certificate from the cluster CA, and only /health and /metrics are served without one', () => {
    const tls = parse(renderEtcdConfig(ec2Spec({ tls: true }), 'pg-2'), { version: '1.1' });
    const security = {
      'cert-file': '/etc/cdk-failover/tls/node.crt',
      'key-file': '/etc/cdk-failover/tls/etcd.key',
      'trusted-ca-file': '/etc/cdk-failover/tls/ca.crt',
      'client-cert-auth': true,
    };
    expect(tls).toMatchObject({
      'listen-client-urls': 'https://10.0.3.10:2379',
      'advertise-client-urls': 'https://10.0.3.10:2379',
      'listen-peer-urls': 'https://10.0.3.10:2380',
      'initial-advertise-peer-urls': 'https://10.0.3.10:2380',
      'initial-cluster': 'pg-0=https://10.0.1.10:2380,pg-1=https://10.0.2.10:2380,pg-2=https://10.0.3.10:2380',
      'client-transport-security': security,
      'peer-transport-security': security,
      'listen-metrics-urls': 'http://10.0.3.10:2381',
    });
    expect(config).not.toHaveProperty('client-transport-security');
    expect(config).not.toHaveProperty('listen-metrics-urls');
  });

  test('the health URL is the metrics listener with tls (no certificate needed), the client port without', () => {
    const node = ec2Spec().nodes[1]!;
    expect(etcdHealthUrl(ec2Spec({ tls: true }), node)).toBe('http://10.0.2.10:2381/health');
    expect(etcdHealthUrl(ec2Spec(), node)).toBe('http://10.0.2.10:2379/health');
  });

  test('takes the Raft timings from the spec', () => {
    const fast = renderEtcdConfig(ec2Spec({ timing: { ...spec.timing, etcdHeartbeatMs: 50, etcdElectionTimeoutMs: 500 } }), 'pg-0');
    expect(parse(fast, { version: '1.1' })).toMatchObject({ 'heartbeat-interval': 50, 'election-timeout': 500 });
  });

  test('is deterministic', () => {
    expect(renderEtcdConfig(ec2Spec(), 'pg-2')).toBe(text);
  });

  test('refuses an election timeout under 5 heartbeats, as etcd would at startup', () => {
    const bad = ec2Spec({ timing: { ...spec.timing, etcdHeartbeatMs: 300, etcdElectionTimeoutMs: 1000 } });
    expect(() => renderEtcdConfig(bad, 'pg-0')).toThrow(
      'timing.etcdElectionTimeoutMs must be at least 5 x timing.etcdHeartbeatMs (etcd refuses less), got 1000 and 300',
    );
  });

  test('refuses an unknown node, naming the known ones', () => {
    expect(() => renderEtcdConfig(spec, 'etcd-0')).toThrow("nodeName 'etcd-0' is not a node of cluster 'orders-db' (expected one of 'pg-0', 'pg-1', 'pg-2')");
  });
});
