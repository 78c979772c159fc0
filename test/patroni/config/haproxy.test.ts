import { HAPROXY_HEALTH_PATHS, renderHaproxyConfig } from '../../../lib/patroni/config';
import { STOCK_BASELINE_TIMING } from '../../../lib/patroni/config/timing-profiles';
import { ec2Spec } from './fixtures';

/** The lines of one section (`listen primary`, `frontend health`), trimmed. */
function section(cfg: string, header: string): string[] {
  const lines = cfg.split('\n');
  const start = lines.indexOf(header);
  if (start < 0) throw new Error(`no section '${header}'`);
  const end = lines.findIndex((l, i) => i > start && l.trim() === '');
  return lines.slice(start + 1, end < 0 ? undefined : end).map((l) => l.trim());
}

describe('renderHaproxyConfig', () => {
  const spec = ec2Spec();
  const cfg = renderHaproxyConfig(spec, 'pg-0');

  test('primary listener on 5000 checks OPTIONS /primary on the REST port of every node', () => {
    expect(section(cfg, 'listen primary')).toEqual([
      'bind 10.0.1.10:5000',
      'option tcplog',
      'option httpchk OPTIONS /primary',
      'http-check expect status 200',
      'option redispatch 1',
      'default-server inter 2000ms fall 3 rise 2 downinter 200ms fastinter 200ms observe layer4 error-limit 1 on-error sudden-death on-marked-down shutdown-sessions',
      'server pg-0 10.0.1.10:5432 check port 8008',
      'server pg-1 10.0.2.10:5432 check port 8008',
      'server pg-2 10.0.3.10:5432 check port 8008',
    ]);
  });

  test("with tls, the checks reach Patroni over HTTPS and require a certificate from the cluster CA; the traffic stays PostgreSQL's own TLS", () => {
    const tls = renderHaproxyConfig(ec2Spec({ tls: true }), 'pg-0');
    const servers = section(tls, 'listen primary').filter((l) => l.startsWith('server '));
    expect(servers).toEqual([
      'server pg-0 10.0.1.10:5432 check port 8008 check-ssl verify required ca-file /etc/cdk-failover/tls/ca.crt',
      'server pg-1 10.0.2.10:5432 check port 8008 check-ssl verify required ca-file /etc/cdk-failover/tls/ca.crt',
      'server pg-2 10.0.3.10:5432 check port 8008 check-ssl verify required ca-file /etc/cdk-failover/tls/ca.crt',
    ]);
    expect(cfg).not.toContain('check-ssl');
    // An HTTPS check gets at least 2 s to answer (the connect still times out at min(inter, 4 s)).
    for (const listener of ['listen primary', 'listen replicas']) expect(section(tls, listener)).toContain('timeout check 2000ms');
    expect(cfg).not.toContain('timeout check');
    const slow = { ...ec2Spec({ tls: true }).timing, haproxyCheckIntervalMs: 3000 };
    expect(renderHaproxyConfig(ec2Spec({ tls: true, timing: slow }), 'pg-0')).toContain('timeout check 3000ms');
  });

  test('the writer listener checks a server that is down or changing state every 200 ms, or every inter when that is shorter', () => {
    const fast = { ...ec2Spec().timing, haproxyCheckIntervalMs: 100 };
    expect(section(renderHaproxyConfig(ec2Spec({ timing: fast }), 'pg-0'), 'listen primary')).toContain(
      'default-server inter 100ms fall 3 rise 2 downinter 100ms fastinter 100ms observe layer4 error-limit 1 on-error sudden-death on-marked-down shutdown-sessions',
    );
    // The benchmark's stock baseline keeps HAProxy's own behaviour.
    const stock = section(renderHaproxyConfig(ec2Spec({ timing: STOCK_BASELINE_TIMING }), 'pg-0'), 'listen primary').join('\n');
    expect(stock).toContain('default-server inter 3000ms fall 3 rise 2 on-marked-down shutdown-sessions');
    expect(stock).not.toMatch(/downinter|fastinter|redispatch|observe/);
    // The readers' listener is as before: a refused connection there is not a switchover.
    expect(section(cfg, 'listen replicas').join('\n')).not.toMatch(/downinter|fastinter|redispatch|observe/);
  });

  test('replica listener on 5001 checks /replica with the lag limit', () => {
    const replicas = section(cfg, 'listen replicas');
    expect(replicas[0]).toBe('bind 10.0.1.10:5001');
    expect(replicas).toContain('option httpchk OPTIONS /replica?lag=16777216');
    expect(replicas).toContain('default-server inter 2000ms fall 3 rise 2 on-marked-down shutdown-sessions');
    expect(replicas.filter((l) => l.startsWith('server '))).toHaveLength(3);
  });

  test('tcp mode with database-length client/server timeouts and a 4 s connect timeout', () => {
    expect(section(cfg, 'defaults')).toEqual(
      expect.arrayContaining(['mode tcp', 'timeout connect 4s', 'timeout client 1800s', 'timeout server 1800s']),
    );
  });

  test('stats socket and pid file live in the node runDir', () => {
    const global = section(cfg, 'global');
    expect(global).toContain('pidfile /run/cdk-failover/haproxy.pid');
    expect(global).toContain('stats socket /run/cdk-failover/haproxy.sock mode 600 level admin');
  });

  test('health frontend on the haproxyHealth port', () => {
    const health = section(cfg, 'frontend health');
    expect(health.slice(0, 2)).toEqual(['mode http', 'bind 10.0.1.10:8404']);
    expect(health).toContain(`http-request return status 200 content-type text/plain string ok if { path ${HAPROXY_HEALTH_PATHS.alive} }`);
  });

  test('without a node it binds every address', () => {
    const any = renderHaproxyConfig(spec);
    expect(section(any, 'listen primary')[0]).toBe('bind :5000');
    expect(section(any, 'frontend health')[1]).toBe('bind :8404');
  });

  test('is deterministic', () => {
    expect(renderHaproxyConfig(ec2Spec(), 'pg-0')).toBe(cfg);
  });

  test('refuses an unknown node, naming the known ones', () => {
    expect(() => renderHaproxyConfig(spec, 'pg-3')).toThrow("nodeName 'pg-3' is not a node of cluster 'orders-db' (expected one of 'pg-0', 'pg-1', 'pg-2')");
  });

});
