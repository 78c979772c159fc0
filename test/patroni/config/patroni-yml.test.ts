import { parse } from 'yaml';
import { debianNodePaths, renderPatroniConfig, synchronousModeSettings } from '../../../lib/patroni/config';
import { ec2Spec } from './fixtures';
import { DEFAULT_TIMING, FAST_TIMING, validateTiming, watchdogSafetyMargin } from '../../../lib/patroni/config/timing-profiles';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Yaml = any;

function parse11(text: string): Yaml {
  return parse(text, { version: '1.1' });
}

describe('renderPatroniConfig', () => {
  const spec = ec2Spec();
  const config = parse11(renderPatroniConfig(spec, 'pg-1'));

  test('names the cluster and the node', () => {
    expect(config.scope).toBe('orders-db');
    expect(config.name).toBe('pg-1');
  });

  test("lists every etcd member as a host of etcd's v2 API (compare-and-swap leader updates on Patroni 3.0.2)", () => {
    expect(config.etcd).toEqual({ hosts: ['10.0.1.10:2379', '10.0.2.10:2379', '10.0.3.10:2379'] });
    expect(config.etcd3).toBeUndefined();
  });

  test("with tls, reaches etcd over HTTPS with the node's certificate, checking etcd's against the cluster CA", () => {
    const tls = parse11(renderPatroniConfig(ec2Spec({ tls: true }), 'pg-1'));
    expect(tls.etcd).toEqual({
      hosts: ['10.0.1.10:2379', '10.0.2.10:2379', '10.0.3.10:2379'],
      protocol: 'https',
      cacert: '/etc/cdk-failover/tls/ca.crt',
      cert: '/etc/cdk-failover/tls/node.crt',
      key: '/etc/cdk-failover/tls/node.key',
    });
  });

  test('with tls, serves the REST API over HTTPS with the node certificate; writes only from the members and the operator CIDRs', () => {
    const tls = parse11(renderPatroniConfig(ec2Spec({ tls: true, operatorCidrs: ['10.9.0.0/24'] }), 'pg-1'));
    expect(tls.restapi).toMatchObject({
      certfile: '/etc/cdk-failover/tls/node.crt',
      keyfile: '/etc/cdk-failover/tls/node.key',
      cafile: '/etc/cdk-failover/tls/ca.crt',
      verify_client: 'optional',
      allowlist: ['10.9.0.0/24'],
      allowlist_include_members: true,
    });
    const membersOnly = parse11(renderPatroniConfig(ec2Spec({ tls: true }), 'pg-1'));
    expect(membersOnly.restapi.allowlist).toBeUndefined();
    expect(membersOnly.restapi.allowlist_include_members).toBe(true);
    expect(config.restapi.certfile).toBeUndefined();
    expect(() => renderPatroniConfig(ec2Spec({ tls: true, operatorCidrs: ['0.0.0.0/0'] }), 'pg-1')).toThrow(
      "operatorCidrs must not contain '0.0.0.0/0': anyone with a password could change Patroni's configuration",
    );
    for (const bad of ['10.9.0.0', '10.9.0.0/33', '10.9.0/24', 'ops-net/24', '10.9.0.0/24/1']) {
      expect(() => renderPatroniConfig(ec2Spec({ tls: true, operatorCidrs: [bad] }), 'pg-1')).toThrow(`operatorCidrs entries must be CIDRs like 10.0.9.0/24 or fd00::/64, got '${bad}'`);
    }
  });

  test('serves the REST API on the node address with basic auth', () => {
    expect(config.restapi).toEqual({
      listen: '10.0.2.10:8008',
      connect_address: '10.0.2.10:8008',
      authentication: { username: 'patroni', password: '__RESTAPI_PASSWORD__' },
    });
  });

  test('puts the timing, the lag limit and rewind/slots into bootstrap.dcs', () => {
    expect(config.bootstrap.dcs).toMatchObject({
      ttl: 30,
      loop_wait: 10,
      retry_timeout: 10,
      maximum_lag_on_failover: 1048576,
      postgresql: { use_pg_rewind: true, use_slots: true },
    });
  });

  test('sets the replication parameters and the spec parameters cluster-wide', () => {
    expect(config.bootstrap.dcs.postgresql.parameters).toEqual({
      hot_standby: 'on',
      jit: 'off',
      max_connections: 200,
      max_replication_slots: 10,
      max_wal_senders: 10,
      password_encryption: 'scram-sha-256',
      wal_keep_size: '1GB',
      wal_level: 'replica',
      wal_log_hints: 'on',
    });
  });

  test('initdb enables data checksums and UTF8', () => {
    expect(config.bootstrap.initdb).toEqual(['data-checksums', { encoding: 'UTF8' }, { locale: 'C.UTF-8' }]);
  });

  test('postgresql section: addresses, Debian paths, socket directory, callback', () => {
    expect(config.postgresql).toMatchObject({
      listen: '10.0.2.10:5432',
      connect_address: '10.0.2.10:5432',
      data_dir: '/var/lib/postgresql/15/patroni',
      bin_dir: '/usr/lib/postgresql/15/bin',
      pgpass: '/var/lib/postgresql/.pgpass_patroni',
      parameters: { unix_socket_directories: '/var/run/postgresql' },
      callbacks: { on_role_change: '/etc/cdk-failover/on_role_change.sh' },
    });
    expect(config.log.dir).toBe('/var/log/cdk-failover');
  });

  test('with tls: every accepting network line is hostssl, PostgreSQL serves the database certificate (TLS 1.2 or later), and replication and pg_rewind check the leader with verify-full', () => {
    const tls = parse11(renderPatroniConfig(ec2Spec({ tls: true }), 'pg-1'));
    const hba: string[] = tls.postgresql.pg_hba;
    const network = hba.filter((l) => l.startsWith('host'));
    expect(network.filter((l) => !l.endsWith(' reject')).every((l) => l.startsWith('hostssl '))).toBe(true);
    // The superuser's reject lines match without TLS too: refused, not merely unmatched.
    expect(network.filter((l) => l.endsWith(' reject')).map((l) => l.split(/\s+/)[0])).toEqual(['host', 'host']);
    expect(tls.postgresql.parameters).toMatchObject({
      ssl: 'on',
      ssl_cert_file: '/etc/cdk-failover/tls/database.crt',
      ssl_key_file: '/etc/cdk-failover/tls/database.key',
      ssl_min_protocol_version: 'TLSv1.2',
    });
    const verifyFull = { sslmode: 'verify-full', sslrootcert: '/etc/cdk-failover/tls/database-ca.crt' };
    expect(tls.postgresql.authentication.replication).toEqual({ username: 'replicator', password: '__REPLICATION_PASSWORD__', ...verifyFull });
    expect(tls.postgresql.authentication.rewind).toEqual({ username: 'rewind_user', password: '__REWIND_PASSWORD__', ...verifyFull });
    expect(config.postgresql.parameters).not.toHaveProperty('ssl');
  });

  test('has superuser, replication and a separate rewind user, with the placeholder passwords', () => {
    expect(config.postgresql.authentication).toEqual({
      superuser: { username: 'postgres', password: '__SUPERUSER_PASSWORD__' },
      replication: { username: 'replicator', password: '__REPLICATION_PASSWORD__' },
      rewind: { username: 'rewind_user', password: '__REWIND_PASSWORD__' },
    });
  });

  test('pg_hba: scram-sha-256 for every network line, only from the spec CIDRs; the superuser only from the nodes', () => {
    const hba: string[] = config.postgresql.pg_hba;
    expect(hba.join('\n')).not.toMatch(/md5|trust|password\b/);
    // Open to all only to reject.
    expect(hba.filter((l) => /0\.0\.0\.0\/0|::\/0/.test(l)).every((l) => l.endsWith(' reject'))).toBe(true);
    const hostLines = hba.filter((l) => l.startsWith('host'));
    expect(hostLines.map((l) => l.split(/\s+/))).toEqual([
      ['host', 'all', 'postgres', '10.0.1.10/32', 'scram-sha-256'],
      ['host', 'all', 'postgres', '10.0.2.10/32', 'scram-sha-256'],
      ['host', 'all', 'postgres', '10.0.3.10/32', 'scram-sha-256'],
      ['host', 'all', 'postgres', '0.0.0.0/0', 'reject'],
      ['host', 'all', 'postgres', '::/0', 'reject'],
      ['host', 'replication', 'replicator', '10.0.0.0/16', 'scram-sha-256'],
      ['host', 'all', 'all', '10.0.0.0/16', 'scram-sha-256'],
      ['host', 'all', 'all', '10.1.0.0/16', 'scram-sha-256'],
    ]);
    expect(hba[0].split(/\s+/)).toEqual(['local', 'all', 'postgres', 'peer']);
    // Patroni 3.0.2's validator insists on bootstrap.pg_hba; it must say the same.
    expect(config.bootstrap.pg_hba).toEqual(hba);
  });

  test("watchdog uses /dev/watchdog, with Patroni's 5 s safety margin on DEFAULT timing (it fires at 25 s)", () => {
    expect(config.watchdog).toEqual({ mode: 'required', device: '/dev/watchdog', safety_margin: 5 });
  });

  test('FAST timing: the watchdog fires at 5 s (ttl 7 - margin 2), after Patroni could have demoted itself (loop 1 + retry 3 + 1), not at 2 s', () => {
    const fast = parse11(renderPatroniConfig(ec2Spec({ timing: FAST_TIMING }), 'pg-0'));
    expect(fast.watchdog.safety_margin).toBe(2);
    expect(FAST_TIMING.ttlSeconds - fast.watchdog.safety_margin).toBe(FAST_TIMING.loopWaitSeconds + FAST_TIMING.retryTimeoutSeconds + 1);
    // With the watchdog off there is no margin to render.
    expect(parse11(renderPatroniConfig(ec2Spec({ timing: FAST_TIMING, watchdogMode: 'off' }), 'pg-0')).watchdog).toEqual({ mode: 'off', device: '/dev/watchdog' });
  });

  test.each([
    [{ ttlSeconds: 3, loopWaitSeconds: 1, retryTimeoutSeconds: 1 }, /1 \+ 1 \+ 2 = 4 > 3/],
    [{ ttlSeconds: 4, loopWaitSeconds: 2, retryTimeoutSeconds: 1 }, /2 \+ 1 \+ 2 = 5 > 4/],
  ])('a timing with no usable watchdog (%j) is refused unless the watchdog is off', (t, arithmetic) => {
    const timing = { ...FAST_TIMING, ...t, etcdElectionTimeoutMs: 500 };
    expect(() => validateTiming(timing)).not.toThrow();
    for (const watchdogMode of ['required', 'automatic'] as const) {
      expect(() => renderPatroniConfig(ec2Spec({ timing, watchdogMode }), 'pg-0')).toThrow(arithmetic);
    }
    expect(() => watchdogSafetyMargin(timing)).toThrow(/a watchdog needs ttl of at least loop_wait \+ retry_timeout \+ 2 s .*Use a longer ttl, or watchdog WatchdogMode.OFF/);
    expect(parse11(renderPatroniConfig(ec2Spec({ timing, watchdogMode: 'off' }), 'pg-0')).watchdog.mode).toBe('off');
  });

  test('the margin is the largest that fits, never more than 5 s, and never leaves the watchdog before Patroni\'s demotion', () => {
    for (let ttl = 2; ttl <= 40; ttl++) {
      for (let loop = 1; loop <= 10; loop++) {
        for (let retry = 1; retry <= 10; retry++) {
          const t = { ...DEFAULT_TIMING, ttlSeconds: ttl, loopWaitSeconds: loop, retryTimeoutSeconds: retry };
          let margin: number;
          try {
            margin = watchdogSafetyMargin(t);
          } catch {
            expect(ttl).toBeLessThan(loop + retry + 2);
            continue;
          }
          expect(margin).toBeGreaterThanOrEqual(1);
          expect(margin).toBeLessThanOrEqual(5);
          // Patroni's watchdog timeout: after the demotion, and at least a second before the key expires.
          expect(ttl - margin).toBeGreaterThanOrEqual(loop + retry + 1);
          expect(margin === 5 || ttl - margin === loop + retry + 1).toBe(true);
        }
      }
    }
  });

  test.each(['required', 'automatic', 'off'] as const)('watchdog mode %s stays a string under YAML 1.1', (mode) => {
    const text = renderPatroniConfig(ec2Spec({ watchdogMode: mode }), 'pg-0');
    expect(parse11(text).watchdog.mode).toBe(mode);
  });

  test.each([
    ['on', true, false],
    ['strict', true, true],
    ['off', false, false],
  ] as const)('synchronousMode %s renders synchronous_mode %s, strict %s', (mode, on, strict) => {
    const dcs = parse11(renderPatroniConfig(ec2Spec({ synchronousMode: mode }), 'pg-0')).bootstrap.dcs;
    expect(dcs.synchronous_mode).toBe(on);
    expect(dcs.synchronous_mode_strict).toBe(strict);
  });

  test('never renders synchronous_standby_names', () => {
    for (const mode of ['on', 'strict', 'off'] as const) {
      expect(renderPatroniConfig(ec2Spec({ synchronousMode: mode }), 'pg-2')).not.toContain('synchronous_standby_names');
    }
  });

  test('is deterministic: same input, same bytes, whatever the parameter order', () => {
    const a = renderPatroniConfig(ec2Spec({ postgresParameters: { max_connections: 200, jit: 'off' } }), 'pg-0');
    const b = renderPatroniConfig(ec2Spec({ postgresParameters: { jit: 'off', max_connections: 200 } }), 'pg-0');
    expect(b).toBe(a);
    expect(renderPatroniConfig(spec, 'pg-0')).toBe(a);
  });

});

describe('renderPatroniConfig refuses bad input', () => {
  test('an unknown node name, naming the value and the known names', () => {
    expect(() => renderPatroniConfig(ec2Spec(), 'pg-7')).toThrow(
      "nodeName 'pg-7' is not a node of cluster 'orders-db' (expected one of 'pg-0', 'pg-1', 'pg-2')",
    );
  });

  test('duplicate node names', () => {
    const spec = ec2Spec();
    const nodes = [spec.nodes[0], { name: 'pg-0', address: '10.0.9.9' }];
    expect(() => renderPatroniConfig({ ...spec, nodes }, 'pg-0')).toThrow("must have unique names, got 'pg-0' twice");
  });

  test('a pg_hba CIDR open to the world', () => {
    expect(() => renderPatroniConfig(ec2Spec({ clientCidrs: ['0.0.0.0/0'] }), 'pg-0')).toThrow(
      "clientCidrs must not contain '0.0.0.0/0'",
    );
  });

  test('a parameter the renderer owns', () => {
    expect(() =>
      renderPatroniConfig(ec2Spec({ postgresParameters: { synchronous_standby_names: '*' } }), 'pg-0'),
    ).toThrow("postgresParameters must not set 'synchronous_standby_names'");
  });

  test('a path systemd or the shell would read specially', () => {
    const spec = ec2Spec();
    const nodes = spec.nodes.map((n) => (n.name === 'pg-0' ? { ...n, paths: { ...debianNodePaths(15), dataDir: '/data/%i db' } } : n));
    expect(() => renderPatroniConfig({ ...spec, nodes }, 'pg-0')).toThrow(
      "nodes[pg-0].paths.dataDir must be an absolute path of letters, digits and . _ / -, got '/data/%i db'",
    );
  });

  test('an unknown watchdog mode or synchronous mode', () => {
    expect(() => renderPatroniConfig(ec2Spec({ watchdogMode: 'no' as never }), 'pg-0')).toThrow(
      "watchdogMode must be one of required, automatic, off, got 'no'",
    );
    expect(() => synchronousModeSettings('yes' as never)).toThrow("synchronousMode must be one of 'on', 'strict', 'off', got 'yes'");
  });
});
