import {
  renderEtcdUnit,
  renderHaproxyUnit,
  renderMetricsUnit,
  renderPatroniUnit,
  renderSystemdUnitFiles,
  SYSTEMD_UNIT_NAMES,
  unitsToMask,
} from '../../../lib/patroni/config';
import { ec2Spec } from './fixtures';

/** `Key=value` lines of one [Section] (repeated keys keep every value). */
function unitSection(unit: string, name: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let current = '';
  for (const line of unit.split('\n')) {
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1];
    else if (current === name && line.includes('=')) {
      const [key, ...rest] = line.split('=');
      (out[key] ??= []).push(rest.join('='));
    }
  }
  return out;
}

describe('systemd units', () => {
  const spec = ec2Spec();

  test('Patroni runs as postgres with our config, restarts on failure, kills only itself', () => {
    const service = unitSection(renderPatroniUnit(spec, 'pg-0'), 'Service');
    expect(service).toMatchObject({
      User: ['postgres'],
      ExecStart: ['/usr/bin/patroni /etc/cdk-failover/patroni.yml'],
      Restart: ['on-failure'],
      KillMode: ['process'],
      TimeoutSec: ['30'],
    });
  });

  test('etcd waits for the data volume, where its member data is (never an empty member on the root volume)', () => {
    const unit = unitSection(renderEtcdUnit(spec, 'pg-0'), 'Unit');
    expect(unit.RequiresMountsFor).toEqual(['/var/lib/postgresql/etcd']);
  });

  test('Patroni waits for etcd and for the data volume to be mounted', () => {
    const unit = unitSection(renderPatroniUnit(spec, 'pg-0'), 'Unit');
    expect(unit.After[0]).toContain(SYSTEMD_UNIT_NAMES.etcd);
    expect(unit.RequiresMountsFor).toEqual(['/var/lib/postgresql/15/patroni']);
  });

  test('etcd runs as etcd from the rendered config file', () => {
    const service = unitSection(renderEtcdUnit(spec, 'pg-1'), 'Service');
    expect(service).toMatchObject({
      Type: ['notify'],
      User: ['etcd'],
      ExecStart: ['/usr/bin/etcd --config-file /etc/cdk-failover/etcd.conf.yml'],
      Restart: ['on-failure'],
    });
  });

  test('HAProxy checks its config before starting and reloading', () => {
    const service = unitSection(renderHaproxyUnit(spec, 'pg-2'), 'Service');
    expect(service.ExecStartPre).toContain('/usr/sbin/haproxy -c -q -f /etc/cdk-failover/haproxy.cfg');
    expect(service.ExecStart).toEqual(['/usr/sbin/haproxy -Ws -f /etc/cdk-failover/haproxy.cfg']);
    expect(service.ExecReload).toEqual(['/usr/sbin/haproxy -c -q -f /etc/cdk-failover/haproxy.cfg', '/bin/kill -USR2 $MAINPID']);
  });

  test('the metrics publisher runs as postgres from the rendered script, always restarted, sandboxed', () => {
    const unit = renderMetricsUnit(spec, 'pg-1');
    expect(unitSection(unit, 'Unit').After).toEqual(['network-online.target cdk-failover-patroni.service']);
    expect(unitSection(unit, 'Service')).toMatchObject({
      User: ['postgres'],
      ExecStartPre: ['+/usr/bin/install -d -o postgres -g postgres -m 0755 /run/cdk-failover'],
      ExecStart: ['/usr/bin/python3 -I /etc/cdk-failover/metrics_publisher.py'],
      Restart: ['always'],
      NoNewPrivileges: ['yes'],
      PrivateTmp: ['yes'],
      ProtectSystem: ['full'],
    });
    expect(unitSection(unit, 'Install')).toEqual({ WantedBy: ['multi-user.target'] });
  });

  test('are the four units, named as SYSTEMD_UNIT_NAMES says', () => {
    expect(renderSystemdUnitFiles(spec, 'pg-0').map((f) => f.path)).toEqual(
      Object.values(SYSTEMD_UNIT_NAMES).map((name) => `/etc/systemd/system/${name}`),
    );
  });

  test('masks Debian\'s own units and the stock PostgreSQL cluster unit', () => {
    expect(unitsToMask(spec)).toEqual(['etcd.service', 'haproxy.service', 'patroni.service', 'postgresql@15-main.service']);
  });

  test('are deterministic', () => {
    expect(renderSystemdUnitFiles(ec2Spec(), 'pg-0')).toEqual(renderSystemdUnitFiles(spec, 'pg-0'));
  });

  test('refuse an unknown node', () => {
    expect(() => renderPatroniUnit(spec, 'db-0')).toThrow("nodeName 'db-0' is not a node of cluster 'orders-db'");
  });

});
