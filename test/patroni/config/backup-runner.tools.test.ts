// The rendered backup.py, run by Debian's python3: it compiles, and refuses bad arguments with its usage.
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { renderBackupRunner } from '../../../lib/patroni/config';
import { BACKUP_SPEC, ec2Spec, makeTmpDir, removeTmpDir, run } from './fixtures';

const backup = BACKUP_SPEC;

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
    const r = await run('python3', ['-m', 'py_compile', file], { timeoutMs: 30_000 });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  });

  test.each([[[]], [['backup']], [['backup', 'weekly']], [['backup', 'full', '--twice']], [['restore']]])('refuses %j with its usage, exit 2', async (args) => {
    const r = await run('python3', ['-I', file, ...args], { timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('usage: backup.py backup full|diff|incr [--once] | stanza-create [ignored...] | info');
  });
});

describe('backup.py coordination, against a stand-in pgbackrest', () => {
  let dir: string;
  let file: string;
  // Nothing listens on loopback port 1: this node never leads.
  const spec = ec2Spec({
    backup,
    nodes: [
      { name: 'pg-0', address: '127.0.0.1' },
      { name: 'pg-1', address: '127.0.0.2' },
      { name: 'pg-2', address: '127.0.0.3' },
    ],
    ports: { ...ec2Spec().ports, restApi: 1 },
  });
  const withInfo = (backups: unknown[]) => {
    const info = JSON.stringify([{ name: 'orders-db', status: { code: 0 }, backup: backups }]);
    fs.writeFileSync(path.join(dir, 'pgbackrest'), `#!/bin/sh\ncat <<'JSON'\n${info}\nJSON\n`, { mode: 0o755 });
  };
  const runner = (args: string[]) => run('python3', ['-I', file, ...args], { timeoutMs: 60_000, env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });

  beforeAll(() => {
    dir = makeTmpDir('backup-coordination');
    fs.chmodSync(dir, 0o755);
    file = path.join(dir, 'backup.py');
    fs.writeFileSync(file, renderBackupRunner(spec, 'pg-0'), { mode: 0o755 });
  });
  afterAll(() => removeTmpDir(dir));

  test('a waiting node counts the full that pgBackRest made of a first differential', async () => {
    withInfo([{ type: 'full', timestamp: { start: 9_999_999_999, stop: 9_999_999_999 }, database: { 'repo-key': 1 } }]);
    const r = await runner(['backup', 'diff']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('diff backup done in every repository');
  }, 60_000);

  test('an older backup does not count; with --once a node that does not lead leaves it to the leader', async () => {
    withInfo([{ type: 'full', timestamp: { start: 1, stop: 2 }, database: { 'repo-key': 1 } }]);
    const r = await runner(['backup', 'full', '--once']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('this node does not lead: the leader takes the backup');
    expect(r.stderr).not.toContain('done in every repository');
  }, 60_000);
});

describe('backup.py on the leader, against a stand-in pgbackrest and REST API', () => {
  let dir: string;
  let file: string;
  let server: http.Server;

  beforeAll(async () => {
    dir = makeTmpDir('backup-leader');
    fs.chmodSync(dir, 0o755);
    // Patroni's GET /primary answers 200 on the leader.
    server = http.createServer((req, res) => res.writeHead(req.url === '/primary' ? 200 : 503).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const spec = ec2Spec({ backup, nodes: [{ name: 'pg-0', address: '127.0.0.1' }], ports: { ...ec2Spec().ports, restApi: port } });
    file = path.join(dir, 'backup.py');
    fs.writeFileSync(file, renderBackupRunner(spec, 'pg-0'), { mode: 0o755 });
    // Every call is recorded; stanza-create meets the lock of a running archive-push (exit 50).
    const standIn = [
      '#!/bin/sh',
      `echo "$*" >> ${dir}/calls`,
      'case "$*" in',
      `  *stanza-create*) echo "ERROR: [050]: unable to acquire lock on file 'orders-db-archive.lock'" >&2; exit 50 ;;`,
      `  *info*) cat ${dir}/info.json ;;`,
      'esac',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'pgbackrest'), `${standIn}\n`, { mode: 0o755 });
    // Run as root, the runner calls pgbackrest as postgres.
    fs.writeFileSync(path.join(dir, 'calls'), '');
    fs.chmodSync(path.join(dir, 'calls'), 0o666);
  });
  /** What `pgbackrest info` answers from now on; the record of calls starts afresh. */
  const info = (code: number) => {
    fs.writeFileSync(path.join(dir, 'info.json'), JSON.stringify([{ name: 'orders-db', status: { code }, backup: [] }]), { mode: 0o644 });
    fs.writeFileSync(path.join(dir, 'calls'), '');
  };
  const backupRuns = () => fs.readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n').filter((c) => c.endsWith(' backup'));
  const leader = () => run('python3', ['-I', file, 'backup', 'full', '--once'], { timeoutMs: 60_000, env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    removeTmpDir(dir);
  });

  test('a stanza-create that meets the archive lock (a busy archive-push) of an existing stanza does not stop the backup', async () => {
    info(2);
    const r = await leader();
    expect(r.stderr).toContain('stanza-create skipped: another pgBackRest process holds its lock, and the stanza exists');
    expect(r.stderr).toContain('full backup done in every repository');
    expect(r.code).toBe(0);
    expect(backupRuns()).toEqual([expect.stringContaining('--repo=1 --type=full backup')]);
  }, 60_000);

  test('the lock held and no stanza listed (a new cluster whose archive-push fails): no backup, a failure to retry', async () => {
    info(1);
    const r = await leader();
    expect(r.stderr).toContain('stanza-create failed (the next backup retries it)');
    expect(r.stderr).toContain('no full backup completed');
    expect(r.code).not.toBe(0);
    expect(backupRuns()).toEqual([]);
  }, 60_000);
});
