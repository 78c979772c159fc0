// The local backup commands' bad input: one readable line and a non-zero exit, before anything is
// created (no cluster is needed to see these).
import * as path from 'node:path';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { parseRestoreTarget, restoreSourceSpec, unreachableTarget } from '../../lib/local/backup/operations';
import { LOCAL_S3, localBackupSpec } from '../../lib/local/backup/repository';
import { run } from '../../lib/util/command';

const ROOT = path.resolve(__dirname, '../..');

function failover(args: string[]) {
  // No region from this machine's environment: the --stack cases below ask for one.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['AWS_REGION', 'AWS_DEFAULT_REGION'].includes(k)));
  return run(process.execPath, ['-r', 'ts-node/register/transpile-only', 'bin/failover.ts', ...args], { cwd: ROOT, allowFailure: true, timeoutMs: 120_000, env });
}

describe('failover backup and restore: bad input', () => {
  test.each([
    [['restore', '--local', '--to', 'yesterday', '--into', 'newone'], 2, /^failover: --to must be 'latest' or an ISO-8601 time with a zone .* got 'yesterday'$/],
    [['restore', '--local', '--to', '2026-11-30T12:00:00', '--into', 'newone'], 2, /got '2026-11-30T12:00:00'$/],
    [['restore', '--local', '--to', 'latest'], 2, /required option '--into <name>' not specified/],
    [['restore', '--to', 'latest', '--into', 'newone'], 2, /^failover: give --local \[--cluster NAME\] or --stack NAME \[--region R\]: which cluster a restore is for$/],
    [['restore', '--stack', 'Orders', '--to', 'latest', '--into', 'newone'], 2, /^failover: a restore of a deployed stack \(--stack Orders\) is a new PatroniCluster deployed with backup\.restoreFrom \(docs\/backups\.md\); rehearse it here with --local$/],
    [['backup', '--local', '--type', 'weekly'], 2, /argument 'weekly' is invalid\. Allowed choices are full, diff, incr/],
    [['backup', '--type', 'full'], 2, /^failover: give --local \[--cluster NAME\] or --stack NAME \[--region R\]: which cluster a backup is for$/],
    [['backup', '--stack', 'Orders'], 2, /^failover: give --region \(or AWS_REGION\): which region stack Orders is in$/],
    [['backup', 'list', '--stack', 'Orders', '--local'], 2, /^failover: give either --local or --stack, not both$/],
    [['backup', '--local', '--region', 'eu-west-1'], 2, /^failover: --region and --construct go with --stack, not --local$/],
    [['backup', '--stack', 'Orders', '--timeout-minutes', '0'], 2, /must be a whole number of minutes from 1 to 2880/],
    // Not usage: the name reaches the cluster's own checks, an error (exit 1).
    [['backup', 'list', '--local', '--cluster', 'Bad_Name'], 1, /^failover: .*Bad_Name/],
    [['promote', '--cluster', 'dr'], 2, /^failover: give --local \[--cluster NAME\] or --stack NAME \[--region R\]: which cluster the promotion is for$/],
    [['promote', '--stack', 'OrdersDr', '--planned'], 2, /^failover: --planned is rehearsed with --local only: a deployed fail-back is the runbook's procedure \(docs\/regional-recovery\.md\)$/],
    [['promote', '--stack', 'OrdersDr'], 2, /^failover: give --region \(or AWS_REGION\): which region stack OrdersDr is in$/],
    [['promote', '--local', '--primary-stack', 'Orders'], 2, /^failover: --primary-stack and --primary-region go with --stack$/],
    [['promote', '--stack', 'OrdersDr', '--region', 'eu-west-1', '--primary-region', 'us-east-1'], 2, /^failover: --primary-region goes with --primary-stack$/],
    [['promote', '--local', '--cluster', 'nosuchdr', '--state-root', '/nonexistent-cdkf'], 1, /^failover: no local cluster 'nosuchdr'/],
    [['promote', '--local', '--cluster', 'dr', '--planned', '--force'], 2, /^failover: --planned and --force exclude each other: a planned switch loses nothing, a forced one stops the primary as it is$/],
    // The local commands' usage errors exit 1, as commander's do there.
    [['local', 'rejoin', '--cluster', 'old', '--state-root', '/nonexistent-cdkf'], 1, /^error: required option '--standby-of <cluster>' not specified$/],
    [['local', 'rejoin', '--cluster', 'old', '--standby-of', 'new', '--state-root', '/nonexistent-cdkf'], 1, /^failover: no local cluster 'old' \(no \/nonexistent-cdkf\/old\/state\.json\)/],
    // The old spelling is gone, with commander's one line.
    [['local', 'backup'], 1, /unknown command 'backup'/],
  ])('%j exits %d with one line', async (args, code, message) => {
    const r = await failover(args);
    expect(r.code).toBe(code);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
  }, 120_000);
});

describe('local backup settings', () => {
  test('parseRestoreTarget reads latest and zoned ISO-8601 times only', () => {
    expect(parseRestoreTarget('latest')).toEqual({ type: 'latest' });
    expect(parseRestoreTarget('2026-11-30T12:00:00.5+01:00')).toEqual({ type: 'time', time: '2026-11-30T12:00:00.5+01:00' });
    expect(() => parseRestoreTarget('now')).toThrow(/--to must be 'latest'/);
  });

  test('the stand-in repository: path style, a shared key, the stand-in by name, one path per cluster', () => {
    const spec = localBackupSpec('/srv/state', 'pitr', restoreSourceSpec({ cluster: 'orders', target: { type: 'latest' } }));
    expect(spec.repositories).toEqual([
      expect.objectContaining({ path: '/pitr', uriStyle: 'path', storageHost: LOCAL_S3.host, storagePort: 9443, caFile: '/srv/state/repository/tls/ca.crt' }),
    ]);
    expect(spec.restoreFrom).toEqual({ stanza: 'orders', path: '/orders', target: { type: 'latest' } });
    expect(localBackupSpec('/srv/state', 'plain').restoreFrom).toBeUndefined();
  });

  test("a time target after the newest archived WAL is read from PostgreSQL's FATAL in a node's log", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdkf-logs-'));
    try {
      const [quiet, failed] = ['pg-0', 'pg-1'].map((n) => fs.mkdirSync(path.join(dir, n), { recursive: true }) ?? path.join(dir, n));
      fs.writeFileSync(path.join(quiet!, 'postgresql-Tue.log'), 'LOG:  starting PostgreSQL 15\n');
      const source = restoreSourceSpec({ cluster: 'orders', target: { type: 'time', time: '2026-12-01T04:00:00Z' } })!;
      expect(unreachableTarget(source, [quiet!, failed!])).toBeUndefined();
      // Another file in the log directory says nothing about recovery.
      fs.writeFileSync(path.join(failed!, 'patroni.out'), 'FATAL:  recovery ended before configured recovery target was reached\n');
      expect(unreachableTarget(source, [quiet!, failed!])).toBeUndefined();
      fs.writeFileSync(path.join(failed!, 'postgresql-Tue.log'), 'LOG:  redo done\nFATAL:  recovery ended before configured recovery target was reached\n');
      expect(unreachableTarget(source, [quiet!, failed!])).toBe(
        "recovery ended before the restore target 2026-12-01T04:00:00Z: the WAL of 'orders' it could read ends earlier (nothing committed after the target is archived yet, or the archive has a gap: 'failover backup list'): choose an earlier time, or 'latest'",
      );
      // 'latest' ends wherever the archive ends: never unreachable; a missing directory is no evidence.
      expect(unreachableTarget(restoreSourceSpec({ cluster: 'orders', target: { type: 'latest' } })!, [failed!])).toBeUndefined();
      expect(unreachableTarget(source, [path.join(dir, 'nosuch')])).toBeUndefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
