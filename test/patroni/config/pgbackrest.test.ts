import { parse } from 'yaml';
import {
  BACKUP_UNIT_NAMES,
  BackupSpec,
  postgresTime,
  renderBackupRunner,
  renderBackupServerUnit,
  renderBackupTimer,
  renderNodeBundle,
  renderNodeConfigFiles,
  renderPatroniConfig,
  renderPgBackRestConfig,
  renderSystemdUnitFiles,
} from '../../../lib/patroni/config';
import { ec2Spec } from './fixtures';

const BACKUP: BackupSpec = {
  repositories: [
    { bucket: 'repo-a', region: 'eu-west-1', endpoint: 's3.eu-west-1.amazonaws.com', path: '/orders-db', uriStyle: 'host', retentionFull: 2 },
  ],
  archiveTimeoutSeconds: 60,
  schedules: { full: 'Sun *-*-* 01:00:00 UTC', diff: 'Mon..Sat *-*-* 01:00:00 UTC' },
};

function conf(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let section = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.trim()) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) {
      section = head[1]!;
      out[section] = {};
      continue;
    }
    const [key, ...rest] = line.split('=');
    out[section]![key!] = rest.join('=');
  }
  return out;
}

describe('pgBackRest configuration', () => {
  test('an S3 repository with the instance role, asynchronous archiving, and the node as pg1', () => {
    const c = conf(renderPgBackRestConfig(ec2Spec({ backup: BACKUP }), 'pg-1'));
    expect(c.global).toMatchObject({
      'repo1-type': 's3',
      'repo1-s3-bucket': 'repo-a',
      'repo1-s3-region': 'eu-west-1',
      'repo1-s3-endpoint': 's3.eu-west-1.amazonaws.com',
      'repo1-path': '/orders-db',
      'repo1-s3-key-type': 'auto',
      'repo1-retention-full': '2',
      'archive-async': 'y',
      'archive-push-queue-max': '4GiB',
      'spool-path': '/var/lib/postgresql/15/pgbackrest-spool',
    });
    expect(c.global!['repo1-s3-key']).toBeUndefined();
    expect(c['orders-db']).toEqual({
      'pg1-path': '/var/lib/postgresql/15/patroni',
      'pg1-port': '5432',
      'pg1-socket-path': '/var/run/postgresql',
      'pg1-user': 'postgres',
    });
    // Without TLS, no TLS server: backups are taken on the leader.
    expect(Object.keys(c.global!).filter((k) => k.startsWith('tls-'))).toEqual([]);
  });

  test("with TLS, pgBackRest's TLS server on the node's address, node certificates, only the other nodes authorized", () => {
    const text = renderPgBackRestConfig(ec2Spec({ backup: BACKUP, tls: true }), 'pg-1');
    expect(conf(text).global).toMatchObject({
      'tls-server-address': '10.0.2.10',
      'tls-server-port': '8432',
      'tls-server-cert-file': '/etc/cdk-failover/tls/node.crt',
      'tls-server-key-file': '/etc/cdk-failover/tls/node.key',
      'tls-server-ca-file': '/etc/cdk-failover/tls/ca.crt',
    });
    // Repeated keys: the node certificates' common names, this node's and the operator's not among them.
    expect(text.split('\n').filter((l) => l.startsWith('tls-server-auth='))).toEqual([
      'tls-server-auth=orders-db pg-0=orders-db',
      'tls-server-auth=orders-db pg-2=orders-db',
    ]);
  });

  test('a second repository, and shared keys, a storage host and a CA only when given', () => {
    const second = { ...BACKUP.repositories[0]!, bucket: 'repo-b', region: 'us-east-1', endpoint: 's3.local', uriStyle: 'path' as const };
    const local = { ...second, sharedKey: { accessKeyId: 'AK', secretAccessKey: 'SK' }, storageHost: '10.0.0.5', storagePort: 9443, caFile: '/ca.crt' };
    const c = conf(renderPgBackRestConfig(ec2Spec({ backup: { ...BACKUP, repositories: [BACKUP.repositories[0]!, local] } }), 'pg-0'));
    expect(c.global).toMatchObject({
      'repo2-s3-bucket': 'repo-b',
      'repo2-s3-uri-style': 'path',
      'repo2-s3-key-type': 'shared',
      'repo2-s3-key': 'AK',
      'repo2-s3-key-secret': 'SK',
      'repo2-storage-host': '10.0.0.5',
      'repo2-storage-port': '9443',
      'repo2-storage-ca-file': '/ca.crt',
    });
    expect(c.global!['repo1-storage-host']).toBeUndefined();
  });

  test.each([
    [{ repositories: [] }, /backup.repositories must hold 1 or 2 repositories, got 0/],
    [{ archiveTimeoutSeconds: 0 }, /archiveTimeoutSeconds must be a positive whole number, got 0/],
    [{ repositories: [{ ...BACKUP.repositories[0]!, retentionFull: 0 }] }, /repositories\[0\].retentionFull must be a whole number from 1, got 0/],
    [{ repositories: [{ ...BACKUP.repositories[0]!, path: 'rel/x' }] }, /repositories\[0\].path must be an absolute path .* got 'rel\/x'/],
  ])('refuses %j', (change, message) => {
    expect(() => renderPgBackRestConfig(ec2Spec({ backup: { ...BACKUP, ...change } }), 'pg-0')).toThrow(message);
  });
});

describe('patroni.yml with backups', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const yml = (backup?: BackupSpec): any => parse(renderPatroniConfig(ec2Spec({ backup }), 'pg-2'), { version: '1.1' });
  const cmd = 'pgbackrest --config=/etc/cdk-failover/pgbackrest.conf --stanza=orders-db';

  test('archives from whichever node leads (node parameters), with the RPO as archive_timeout', () => {
    expect(yml(BACKUP).postgresql.parameters).toMatchObject({
      archive_mode: 'on',
      archive_command: `${cmd} archive-push "%p"`,
      archive_timeout: 60,
    });
  });

  test("Patroni's pre_promote is the fence check (backup.py fence-check, a file only root writes); none without backups", () => {
    expect(yml(BACKUP).postgresql.pre_promote).toBe('/etc/cdk-failover/backup.py fence-check');
    expect(yml(undefined).postgresql.pre_promote).toBeUndefined();
  });

  test('makes replicas by pg_basebackup first, from the repository second; running replicas stream only (no archive replay past a fork)', () => {
    const pg = yml(BACKUP).postgresql;
    expect(pg.create_replica_methods).toEqual(['basebackup', 'pgbackrest']);
    expect(pg.pgbackrest).toEqual({ command: `${cmd} --delta restore`, keep_data: true, no_params: true });
    expect(pg.recovery_conf).toBeUndefined();
  });

  test('creates the stanza after initdb, and keeps initdb without restoreFrom', () => {
    const bootstrap = yml(BACKUP).bootstrap;
    expect(bootstrap.post_init).toBe('/etc/cdk-failover/backup.py stanza-create');
    expect(bootstrap.method).toBeUndefined();
  });

  test('without backups: no archive, no replica methods, no post_init', () => {
    const config = yml();
    expect(config.postgresql.parameters.archive_mode).toBeUndefined();
    expect(config.postgresql.create_replica_methods).toBeUndefined();
    expect(config.bootstrap.post_init).toBeUndefined();
  });

  test('restoreFrom a time: the source stanza and path, the backup before the target, promotion at the target', () => {
    const restore = { stanza: 'old-db', path: '/old-db', target: { type: 'time' as const, time: '2026-11-30T12:00:01.250Z' } };
    const bootstrap = yml({ ...BACKUP, restoreFrom: restore }).bootstrap;
    const src = 'pgbackrest --config=/etc/cdk-failover/pgbackrest.conf --stanza=old-db --repo1-path=/old-db --pg1-path=/var/lib/postgresql/15/patroni --repo=1';
    expect(bootstrap.method).toBe('pgbackrest_restore');
    expect(bootstrap.pgbackrest_restore).toEqual({
      command: `${src} --delta restore --type=time "--target=2026-11-30 12:00:01.250+00" --target-action=promote`,
      no_params: true,
      recovery_conf: {
        restore_command: `${src} archive-get %f "%p"`,
        recovery_target_action: 'promote',
        recovery_target_timeline: 'latest',
        recovery_target_time: '2026-11-30 12:00:01.250+00',
      },
    });
  });

  test('restoreFrom latest and a restore point', () => {
    const latest = yml({ ...BACKUP, restoreFrom: { stanza: 'old-db', path: '/old-db', target: { type: 'latest' } } }).bootstrap.pgbackrest_restore;
    expect(latest.command).not.toMatch(/--type=|--target-action/);
    expect(latest.recovery_conf.recovery_target_time).toBeUndefined();
    const named = yml({ ...BACKUP, restoreFrom: { stanza: 'old-db', path: '/old-db', target: { type: 'name', name: 'before-migration' } } }).bootstrap
      .pgbackrest_restore;
    expect(named.command).toMatch(/--type=name --target=before-migration/);
    expect(named.recovery_conf.recovery_target_name).toBe('before-migration');
  });

  test.each([
    [{ stanza: 'orders-db', path: '/orders-db', target: { type: 'latest' } }, /must name another cluster than 'orders-db'/],
    [{ stanza: 'Old DB', path: '/x', target: { type: 'latest' } }, /restoreFrom.stanza must be a cluster name \(lowercase letters, digits, hyphens\), got 'Old DB'/],
    [{ stanza: 'old-db', path: 'old db', target: { type: 'latest' } }, /restoreFrom.path must be an absolute path of letters, digits and . _ \/ -, got 'old db'/],
    [{ stanza: 'old-db', path: '/old-db', target: { type: 'time', time: 'yesterday' } }, /target.time must be an ISO-8601 time with a zone .* got 'yesterday'/],
    [{ stanza: 'old-db', path: '/old-db', target: { type: 'time', time: '2026-11-30T12:00:00' } }, /with a zone/],
    [{ stanza: 'old-db', path: '/old-db', target: { type: 'name', name: "x'; drop" } }, /target.name must be 1-63 letters/],
  ])('refuses restoreFrom %j', (restoreFrom, message) => {
    expect(() => renderPatroniConfig(ec2Spec({ backup: { ...BACKUP, restoreFrom: restoreFrom as BackupSpec['restoreFrom'] } }), 'pg-0')).toThrow(message);
  });

  test('postgresTime normalizes offsets to UTC', () => {
    expect(postgresTime('2026-11-30T13:00:00+01:00')).toBe('2026-11-30 12:00:00.000+00');
  });
});

describe('backup files and units', () => {
  const spec = ec2Spec({ backup: BACKUP });

  test('the node gets pgbackrest.conf (postgres only) and backup.py; none without backups', () => {
    const files = renderNodeConfigFiles(spec, 'pg-0');
    expect(files.find((f) => f.path === '/etc/cdk-failover/pgbackrest.conf')).toMatchObject({ mode: '0600', owner: 'postgres' });
    expect(files.find((f) => f.path === '/etc/cdk-failover/backup.py')).toMatchObject({ mode: '0755', owner: 'root' });
    expect(renderNodeConfigFiles(ec2Spec(), 'pg-0').some((f) => /pgbackrest|backup/.test(f.path))).toBe(false);
  });

  test('timers at the schedules, not persistent, starting the backup service with their type', () => {
    const timer = renderBackupTimer(spec, 'pg-0', 'diff');
    expect(timer).toContain('OnCalendar=Mon..Sat *-*-* 01:00:00 UTC');
    expect(timer).not.toContain('Persistent=true');
    expect(timer).toContain('Unit=cdk-failover-backup@diff.service');
    const names = (s: typeof spec) => renderSystemdUnitFiles(s, 'pg-0').map((f) => f.path.replace('/etc/systemd/system/', '')).filter((n) => /backup|pgbackrest/.test(n));
    expect(names(spec)).toEqual([BACKUP_UNIT_NAMES.service, BACKUP_UNIT_NAMES.full, BACKUP_UNIT_NAMES.diff]);
    expect(names(ec2Spec({ backup: BACKUP, tls: true }))).toEqual([BACKUP_UNIT_NAMES.service, BACKUP_UNIT_NAMES.full, BACKUP_UNIT_NAMES.diff, BACKUP_UNIT_NAMES.server]);
  });

  test("the TLS server's unit runs pgBackRest's server as postgres with the node's configuration, restarted whatever happens", () => {
    const unit = renderBackupServerUnit(ec2Spec({ backup: BACKUP, tls: true }), 'pg-0');
    expect(unit).toContain('ExecStart=/usr/bin/pgbackrest --config=/etc/cdk-failover/pgbackrest.conf server');
    expect(unit).toContain('User=postgres');
    expect(unit).toContain('Restart=always');
    expect(unit).toContain('WantedBy=multi-user.target');
  });

  test("the runner asks the leader's view of the cluster; with TLS it knows every member's directories for pg2", () => {
    const runner = renderBackupRunner(spec, 'pg-2');
    expect(runner).toContain('"pg-2":"http://10.0.3.10:8008/cluster"');
    expect(runner).toContain('"pg-0":"http://10.0.1.10:8008/cluster"');
    expect(runner).toContain('"repositories": [1]');
    expect(runner).toContain('"standby": null');
    const tls = renderBackupRunner(ec2Spec({ backup: BACKUP, tls: true }), 'pg-2');
    expect(tls).toContain('"pg-2":"https://10.0.3.10:8008/cluster"');
    expect(tls).toContain('"certFile":"/etc/cdk-failover/tls/node.crt"');
    expect(tls).toContain('"port":8432');
  });

  test('the agent re-enables the timers when they change, and prepares a node and the stanza when pgbackrest.conf changes', () => {
    const bundle = renderNodeBundle(spec, 'pg-0', {
      secretIds: { superuser: 'a', replication: 'b', rewind: 'c', restApi: 'd' },
      dataVolume: { device: '/dev/sdf' },
    });
    const onChange = (p: string) => bundle.files.find((f) => f.path === p)!.onChange;
    expect(onChange(`/etc/systemd/system/${BACKUP_UNIT_NAMES.full}`)).toEqual(['daemon-reload', 'restart-backup-timers']);
    // A node from before backups gets the package and directories; the leader (last) creates the stanza.
    expect(onChange('/etc/cdk-failover/pgbackrest.conf')).toEqual(['prepare-backup', 'restart-backup-timers', 'stanza-create']);
    expect(bundle.units.backupTimers).toEqual([BACKUP_UNIT_NAMES.full, BACKUP_UNIT_NAMES.diff]);
    expect(bundle.units.backupServer).toBeUndefined();
    expect(bundle.backup).toEqual({
      dirs: ['/var/lib/postgresql/15/pgbackrest-spool', '/var/lib/postgresql/15/pgbackrest-lock', '/var/log/cdk-failover/pgbackrest'],
      runner: '/etc/cdk-failover/backup.py',
    });
    expect(bundle.bootstrap).toContain(BACKUP_UNIT_NAMES.full);
    expect(bundle.bootstrap).toContain("install -d -o postgres -g postgres -m 0750 '/var/lib/postgresql/15/pgbackrest-spool'");
  });

  test('with TLS the agent enables, restarts (new configuration or unit) and, after new certificates, restarts the TLS server', () => {
    const bundle = renderNodeBundle(ec2Spec({ backup: BACKUP, tls: true }), 'pg-0', {
      secretIds: { superuser: 'a', replication: 'b', rewind: 'c', restApi: 'd' },
      dataVolume: { device: '/dev/sdf' },
      tlsSecret: { secretId: 'tls', versionId: 'v1' },
    });
    expect(bundle.units.backupTimers).toEqual([BACKUP_UNIT_NAMES.full, BACKUP_UNIT_NAMES.diff, BACKUP_UNIT_NAMES.server]);
    expect(bundle.units.backupServer).toBe(BACKUP_UNIT_NAMES.server);
    expect(bundle.files.find((f) => f.path === `/etc/systemd/system/${BACKUP_UNIT_NAMES.server}`)!.onChange).toEqual(['daemon-reload', 'restart-backup-timers']);
    expect(bundle.bootstrap).toContain(`${BACKUP_UNIT_NAMES.diff} ${BACKUP_UNIT_NAMES.server}`);
  });
});
