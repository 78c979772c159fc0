// The local backup commands' bad input: one readable line and a non-zero exit, before anything is
// created (no cluster is needed to see these).
import * as path from 'node:path';
import { parseRestoreTarget, restoreSourceSpec } from '../../lib/local/backup/operations';
import { LOCAL_S3, localBackupSpec } from '../../lib/local/backup/repository';
import { run } from '../../lib/util/command';

const ROOT = path.resolve(__dirname, '../..');

function failover(args: string[]) {
  return run(process.execPath, ['-r', 'ts-node/register/transpile-only', 'bin/failover.ts', ...args], { cwd: ROOT, allowFailure: true, timeoutMs: 120_000 });
}

describe('failover local backup and restore: bad input', () => {
  test.each([
    [['local', 'restore', '--to', 'yesterday', '--into', 'newone'], 1, /^failover: --to must be 'latest' or an ISO-8601 time with a zone .* got 'yesterday'$/],
    [['local', 'restore', '--to', '2026-11-30T12:00:00', '--into', 'newone'], 1, /got '2026-11-30T12:00:00'$/],
    [['local', 'restore', '--to', 'latest'], 1, /required option '--into <name>' not specified/],
    [['local', 'backup', '--type', 'weekly'], 1, /argument 'weekly' is invalid\. Allowed choices are full, diff, incr/],
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
});
