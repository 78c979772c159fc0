import { parse } from 'yaml';
import { BackupSpec, dynamicConfiguration, renderPatroniConfig } from '../../../lib/patroni/config';
import { ec2Spec } from './fixtures';

const BACKUP: BackupSpec = {
  repositories: [
    { bucket: 'repo-b', region: 'eu-central-1', endpoint: 's3.eu-central-1.amazonaws.com', path: '/orders-dr', uriStyle: 'host', retentionFull: 2 },
  ],
  archiveTimeoutSeconds: 60,
  schedules: { full: 'Sun *-*-* 01:00:00 UTC', diff: 'Mon..Sat *-*-* 01:00:00 UTC' },
};
const STANDBY: BackupSpec = { ...BACKUP, standbyOf: { stanza: 'orders-db', path: '/orders-db' } };
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const yml = (backup: BackupSpec): any => parse(renderPatroniConfig(ec2Spec({ clusterName: 'orders-dr', backup }), 'pg-1'), { version: '1.1' });
const fromPrimary =
  'pgbackrest --config=/etc/cdk-failover/pgbackrest.conf --stanza=orders-db --repo1-path=/orders-db --pg1-path=/var/lib/postgresql/15/patroni --repo=1';

describe('a standby cluster (Patroni standby_cluster fed from the primary repository)', () => {
  test('bootstrap.dcs follows the primary stanza through the repository; the standby leader is made from its newest backup', () => {
    const config = yml(STANDBY);
    expect(config.bootstrap.dcs.standby_cluster).toEqual({
      restore_command: `${fromPrimary} archive-get %f "%p"`,
      create_replica_methods: ['basebackup', 'pgbackrest_standby'],
    });
    expect(config.postgresql.pgbackrest_standby).toEqual({ command: `${fromPrimary} --delta restore`, keep_data: true, no_params: true, no_leader: true });
    // postgresql's own methods serve once it is promoted (Patroni uses standby_cluster's until then); its own stanza for after the promotion.
    expect(config.postgresql.create_replica_methods).toEqual(['basebackup', 'pgbackrest']);
    expect(config.postgresql.parameters.archive_command).toMatch(/--stanza=orders-dr archive-push/);
  });

  test('standby_cluster is never in what the node agent PATCHes: a deploy after the promotion does not undo it', () => {
    const spec = ec2Spec({ clusterName: 'orders-dr', backup: STANDBY });
    expect(dynamicConfiguration(spec)).not.toHaveProperty('standby_cluster');
    expect(Object.keys(yml(STANDBY).bootstrap.dcs)).toEqual([...Object.keys(dynamicConfiguration(spec)), 'standby_cluster']);
  });

  test('a primary has none of it', () => {
    const config = yml(BACKUP);
    expect(config.bootstrap.dcs.standby_cluster).toBeUndefined();
    expect(config.postgresql.pgbackrest_standby).toBeUndefined();
  });

  test.each([
    [{ ...STANDBY, standbyOf: { stanza: 'orders-dr', path: '/orders-dr' } }, "backup.standbyOf.stanza must name another cluster than 'orders-dr': a cluster cannot follow itself"],
    [{ ...STANDBY, standbyOf: { stanza: 'Orders DB', path: '/x' } }, "backup.standbyOf.stanza must be a cluster name (lowercase letters, digits, hyphens), got 'Orders DB'"],
    [{ ...STANDBY, standbyOf: { stanza: 'orders-db', path: 'orders db' } }, "backup.standbyOf.path must be an absolute path of letters, digits and . _ / -, got 'orders db'"],
    [
      { ...STANDBY, restoreFrom: { stanza: 'old-db', path: '/old-db', target: { type: 'latest' as const } } },
      'backup.standbyOf and backup.restoreFrom exclude each other: a standby cluster is made from its primary',
    ],
  ])('refuses %j', (backup, message) => {
    expect(() => renderPatroniConfig(ec2Spec({ clusterName: 'orders-dr', backup }), 'pg-1')).toThrow(message);
  });
});
