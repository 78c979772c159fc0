// takeBackup against a stand-in cluster: it asks the leader's runner which node backs up, runs the
// backup there, and turns a failure into one line with pgBackRest's reason.
import { parsePlan, takeBackup, type BackupHost } from '../../lib/local/backup/operations';
import type { RunResult } from '../../lib/util/command';
import { BACKUP_SPEC, ec2Spec } from '../patroni/config/fixtures';

const ok = (stdout: string, stderr = ''): RunResult => ({ code: 0, stdout, stderr });
const failed = (stderr: string, code = 1): RunResult => ({ code, stdout: '', stderr });

/** A cluster whose leader is pg-0, with scripted answers to `who` and to the backup run; records where each ran. */
function host(who: RunResult, backup: RunResult, leader: string | null = 'pg-0') {
  const calls: { node: string; argv: readonly string[] }[] = [];
  const h: BackupHost = {
    spec: ec2Spec({ backup: BACKUP_SPEC }),
    nodeNames: ['pg-0', 'pg-1', 'pg-2'],
    leader: async () => leader ?? undefined,
    runOnNode: async (node, argv) => {
      calls.push({ node, argv });
      return argv.includes('who') ? who : backup;
    },
  };
  return { h, calls };
}

const DONE = 'cdk-failover backup pg-1: full backup into repository 1 from this replica (the leader pg-0 spared)\ncdk-failover backup pg-1: full backup done in every repository\n';

describe('takeBackup', () => {
  test('asks the leader who backs up, and runs the backup on that node once', async () => {
    const { h, calls } = host(ok('{"node": "pg-1", "leader": "pg-0"}\n'), ok('', DONE));
    const result = await takeBackup(h, 'diff');
    expect({ node: result.node, standby: result.standby }).toEqual({ node: 'pg-1', standby: true });
    expect(calls.map((c) => [c.node, c.argv.join(' ')])).toEqual([
      ['pg-0', 'python3 -I /etc/cdk-failover/backup.py who'],
      ['pg-1', 'python3 -I /etc/cdk-failover/backup.py backup diff --once'],
    ]);
  });

  test('the leader itself when it is named: not a standby backup', async () => {
    const { h } = host(ok('{"node": "pg-0", "leader": "pg-0"}'), ok('', DONE.replace(/pg-1/g, 'pg-0')));
    expect((await takeBackup(h, 'full')).standby).toBe(false);
  });

  test("a failed backup names the node and pgBackRest's reason, not the runner's summary", async () => {
    const stderr = [
      'cdk-failover backup pg-1: full backup into repository 1 from this replica (the leader pg-0 spared)',
      'cdk-failover backup pg-1: full backup into repository 1 failed: ERROR: [039]: HTTP request failed with 403 (Forbidden)',
      'cdk-failover: no full backup completed in repositories 1 within 3 s (runbook: Backups and point-in-time recovery)',
    ].join('\n');
    const { h } = host(ok('{"node": "pg-1", "leader": "pg-0"}'), failed(stderr));
    await expect(takeBackup(h, 'full')).rejects.toThrow(/^the full backup on pg-1 failed: ERROR: \[039\]: HTTP request failed with 403 \(Forbidden\)$/);
  });


  test("a stanza-create refused before any backup (credentials) is the reason too; without pgBackRest's error, the runner's last line", async () => {
    const refused = 'ERROR: [049]: unable to get info for path/file: HTTP request failed with 403 (Forbidden)';
    const stderr = `cdk-failover backup pg-1: stanza-create failed (the next backup retries it): ${refused}\ncdk-failover: no full backup completed in repositories 1 within 0 s (runbook: Backups and point-in-time recovery)\n`;
    await expect(takeBackup(host(ok('{"node": "pg-1", "leader": "pg-0"}'), failed(stderr)).h, 'full')).rejects.toThrow(`the full backup on pg-1 failed: ${refused}`);
    const plain = 'cdk-failover: no full backup completed in repositories 1 within 0 s (runbook: Backups and point-in-time recovery)';
    await expect(takeBackup(host(ok('{"node": "pg-1", "leader": "pg-0"}'), failed(`${plain}\n`)).h, 'full')).rejects.toThrow(`the full backup on pg-1 failed: ${plain}`);
  });
  test('a run that exits 0 without a backup (another node was named meanwhile) is an error', async () => {
    const { h } = host(ok('{"node": "pg-1", "leader": "pg-0"}'), ok('', 'cdk-failover backup pg-1: pg-2 takes the backup, not this node\n'));
    await expect(takeBackup(h, 'full')).rejects.toThrow('pg-1 took no backup (the cluster changed meanwhile): cdk-failover backup pg-1: pg-2 takes the backup, not this node');
  });

  test('no leader, or a leader that names nobody, is refused with one line', async () => {
    await expect(takeBackup(host(ok(''), ok(''), null).h, 'full')).rejects.toThrow('no leader: the leader names the node that backs up, and none answers');
    await expect(takeBackup(host(failed('null'), ok('')).h, 'full')).rejects.toThrow('the leader pg-0 named no node to back up: null');
  });

  test('a standby cluster (no leader, a standby leader) is told it takes no backup until it is promoted; nothing runs', async () => {
    const { h, calls } = host(ok(''), ok(''), null);
    const standby = { ...h, spec: { ...h.spec, clusterName: 'dr', backup: { ...BACKUP_SPEC, standbyOf: { stanza: 'orders-db', path: '/orders-db' } } } };
    await expect(takeBackup(standby, 'full')).rejects.toThrow(
      "no leader: cluster 'dr' is a standby of 'orders-db' (a standby leader is no leader) and takes no backup until it is promoted ('failover promote --local --cluster dr')",
    );
    expect(calls).toEqual([]);
  });

  test('a cluster without backups is refused', async () => {
    const { h } = host(ok(''), ok(''));
    await expect(takeBackup({ ...h, spec: ec2Spec() }, 'full')).rejects.toThrow("cluster 'orders-db' has no backups: make it with 'failover local up --backup'");
  });
});

describe('parsePlan', () => {
  test.each([['{"node": "pg-1", "leader": "pg-0"}', { node: 'pg-1', leader: 'pg-0' }]])('reads %s', (text, plan) => {
    expect(parsePlan(text)).toEqual(plan);
  });

  test.each(['', 'null', '[]', '{"node": 1, "leader": "pg-0"}', '{"node": "pg-1"}', 'not json'])('refuses %j', (text) => {
    expect(parsePlan(text)).toBeUndefined();
  });
});
