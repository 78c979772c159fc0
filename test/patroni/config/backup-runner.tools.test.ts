// The rendered backup.py, run by Debian's python3: it compiles, and refuses bad arguments with its usage.
import * as fs from 'fs';
import * as path from 'path';
import { renderBackupRunner } from '../../../lib/patroni/config';
import { ec2Spec, makeTmpDir, removeTmpDir, run } from './fixtures';

const backup = {
  repositories: [{ bucket: 'b', region: 'eu-west-1', endpoint: 's3.eu-west-1.amazonaws.com', path: '/orders-db', uriStyle: 'host' as const, retentionFull: 2 }],
  archiveTimeoutSeconds: 60,
  schedules: { full: 'Sun *-*-* 01:00:00 UTC', diff: 'Mon..Sat *-*-* 01:00:00 UTC' },
};

describe('backup.py', () => {
  let dir: string;
  let file: string;
  beforeAll(() => {
    dir = makeTmpDir('backup-runner');
    file = path.join(dir, 'backup.py');
    fs.writeFileSync(file, renderBackupRunner(ec2Spec({ backup }), 'pg-1'), { mode: 0o755 });
  });
  afterAll(() => removeTmpDir(dir));

  test('compiles', async () => {
    const r = await run('python3', ['-m', 'py_compile', file], { allowFailure: true, timeoutMs: 30_000 });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  });

  test.each([[[]], [['backup']], [['backup', 'weekly']], [['backup', 'full', '--twice']], [['restore']]])('refuses %j with its usage, exit 2', async (args) => {
    const r = await run('python3', ['-I', file, ...args], { allowFailure: true, timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('usage: backup.py backup full|diff|incr [--once] | stanza-create [ignored...] | info');
  });
});
