// The rendered backup.py, run by Debian's python3: it compiles, and refuses bad arguments with its usage.
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { FENCE_FILE, FENCE_TIMEOUT_SECONDS, renderBackupRunner, standbyBackupSettings } from '../../../lib/patroni/config';
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
    expect(r.stderr.trim()).toBe('usage: backup.py backup full|diff|incr [--once] | who | stanza-create [ignored...] | info | fence-check');
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

  test('an older backup does not count; with --once and no leader answering, no node backs up', async () => {
    withInfo([{ type: 'full', timestamp: { start: 1, stop: 2 }, database: { 'repo-key': 1 } }]);
    const r = await runner(['backup', 'full', '--once']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('no leader answers: no node is named to back up');
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
    // Patroni's GET /cluster: this node leads, alone.
    const view = JSON.stringify({ members: [{ name: 'pg-0', role: 'leader', state: 'running', timeline: 1 }] });
    server = http.createServer((req, res) => (req.url === '/cluster' ? res.writeHead(200).end(view) : res.writeHead(404).end()));
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
      // The lock is held for as many more stanza-creates as the file `locks` says.
      `  *stanza-create*) n=$(cat ${dir}/locks); if [ "$n" -gt 0 ]; then echo $((n - 1)) > ${dir}/locks; echo "ERROR: [050]: unable to acquire lock on file 'orders-db-archive.lock'" >&2; exit 50; fi ;;`,
      `  *info*) cat ${dir}/info.json ;;`,
      'esac',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'pgbackrest'), `${standIn}\n`, { mode: 0o755 });
    // Run as root, the runner calls pgbackrest as postgres.
    fs.writeFileSync(path.join(dir, 'calls'), '');
    fs.chmodSync(path.join(dir, 'calls'), 0o666);
  });
  /** What `pgbackrest info` answers from now on, and for how many stanza-creates the lock is held; the record of calls starts afresh. */
  const info = (code: number, locks = 1000) => {
    fs.writeFileSync(path.join(dir, 'info.json'), JSON.stringify([{ name: 'orders-db', status: { code }, backup: [] }]), { mode: 0o644 });
    fs.writeFileSync(path.join(dir, 'calls'), '');
    fs.writeFileSync(path.join(dir, 'locks'), `${locks}\n`);
    fs.chmodSync(path.join(dir, 'locks'), 0o666);
  };
  const stanzaCreates = () => fs.readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n').filter((c) => c.endsWith(' stanza-create')).length;
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

  test('the lock held and no stanza listed (a new cluster, a promoted standby): stanza-create is retried until the lock frees, then the backup runs', async () => {
    info(1, 3);
    const r = await leader();
    expect(stanzaCreates()).toBe(4);
    expect(r.stderr).not.toContain('stanza-create failed');
    expect(r.stderr).toContain('full backup done in every repository');
    expect(r.code).toBe(0);
    expect(backupRuns()).toHaveLength(1);
  }, 60_000);

  test('the lock held throughout and no stanza listed: retried for a bounded time, then no backup and a failure to retry', async () => {
    info(1);
    const r = await leader();
    // About one try a second for BACKUP_RUNNER_TIMING.stanzaLockRetrySeconds (20 s), never unbounded.
    expect(stanzaCreates()).toBeGreaterThan(5);
    expect(stanzaCreates()).toBeLessThan(30);
    expect(r.stderr).toContain('stanza-create failed (the next backup retries it)');
    expect(r.stderr).toContain('no full backup completed');
    expect(r.code).not.toBe(0);
    expect(backupRuns()).toEqual([]);
  }, 60_000);
});

describe('backup.py names the node that backs up from the leader\'s view, against a stand-in REST API and pgbackrest', () => {
  let dir: string;
  let file: string;
  let servers: http.Server[] = [];
  let view: unknown = {};
  let config: unknown = {};
  const member = (name: string, role: string, extra: Record<string, unknown> = {}) => ({ name, role, state: 'running', timeline: 2, ...(role === 'leader' ? {} : { lag: 0 }), ...extra });

  beforeAll(async () => {
    dir = makeTmpDir('backup-plan');
    fs.chmodSync(dir, 0o755);
    // One stand-in per member address, all answering the same view; the standby settings are a TLS
    // cluster's (the stand-in speaks HTTP, so the spec itself has no TLS).
    const listen = async (address: string, port: number) => {
      const answers: Record<string, () => unknown> = { '/cluster': () => view, '/config': () => config };
      const server = http.createServer((req, res) => {
        const answer = answers[req.url ?? ''];
        return answer ? res.writeHead(200).end(JSON.stringify(answer())) : res.writeHead(404).end();
      });
      await new Promise<void>((resolve) => server.listen(port, address, resolve));
      servers.push(server);
      return (server.address() as AddressInfo).port;
    };
    const port = await listen('127.0.0.1', 0);
    await listen('127.0.0.2', port);
    await listen('127.0.0.3', port);
    const nodes = ['pg-0', 'pg-1', 'pg-2'].map((name, i) => ({ name, address: `127.0.0.${i + 1}` }));
    const spec = ec2Spec({ backup, nodes, ports: { ...ec2Spec().ports, restApi: port } });
    const standby = standbyBackupSettings({ ...spec, tls: true }, spec.nodes[1]!);
    file = path.join(dir, 'backup.py');
    fs.writeFileSync(file, renderBackupRunner(spec, 'pg-1').replace('"standby": null', `"standby": ${JSON.stringify(standby)}`), { mode: 0o755 });
    // A backup fails as pgBackRest does when its pg2 is gone (an ERROR line, then a HINT) while the file `fail` exists.
    const standIn = [
      '#!/bin/sh',
      `echo "$*" >> ${dir}/calls`,
      'case "$*" in',
      `  *info*) echo '[]' ;;`,
      `  *' backup') if [ -e ${dir}/fail ]; then printf 'ERROR: [056]: unable to find primary cluster - cannot proceed\\n       HINT: are all available clusters in recovery?\\n' >&2; exit 56; fi ;;`,
      'esac',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'pgbackrest'), `${standIn}\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'calls'), '');
    fs.chmodSync(path.join(dir, 'calls'), 0o666);
  });
  afterAll(async () => {
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    servers = [];
    removeTmpDir(dir);
  });
  const env = () => ({ ...process.env, PATH: `${dir}:${process.env.PATH}` });
  const who = async (members: unknown[]) => {
    view = { members };
    const r = await run('python3', ['-I', file, 'who'], { timeoutMs: 60_000, env: env() });
    return { code: r.code, plan: JSON.parse(r.stdout) as unknown };
  };

  test('the first streaming replica by name, whatever its role', async () => {
    expect(await who([member('pg-2', 'replica'), member('pg-0', 'leader'), member('pg-1', 'sync_standby')])).toEqual({ code: 0, plan: { node: 'pg-1', leader: 'pg-0' } });
  });

  test('a replica with unknown lag, on another timeline or not running is passed over', async () => {
    expect(await who([member('pg-0', 'leader'), member('pg-1', 'replica', { lag: 'unknown' }), member('pg-2', 'replica')])).toEqual({ code: 0, plan: { node: 'pg-2', leader: 'pg-0' } });
    expect(await who([member('pg-0', 'leader'), member('pg-1', 'replica', { timeline: 1 }), member('pg-2', 'replica', { state: 'starting' })])).toEqual({
      code: 0,
      plan: { node: 'pg-0', leader: 'pg-0' },
    });
  });

  test('no leader: nobody is named (exit 1)', async () => {
    expect(await who([member('pg-1', 'replica'), member('pg-2', 'replica')])).toEqual({ code: 1, plan: null });
  });

  test('named, the replica backs up with --backup-standby and the leader as pg2 through its TLS server', async () => {
    view = { members: [member('pg-0', 'leader'), member('pg-1', 'replica'), member('pg-2', 'sync_standby')] };
    fs.writeFileSync(path.join(dir, 'calls'), '');
    const r = await run('python3', ['-I', file, 'backup', 'full', '--once'], { timeoutMs: 60_000, env: env() });
    expect(r.stderr).toContain('full backup into repository 1 from this replica (the leader pg-0 spared)');
    const calls = fs.readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n');
    const pg2 = '--pg2-host=127.0.0.1 --pg2-host-type=tls --pg2-host-port=8432 --pg2-host-cert-file=/etc/cdk-failover/tls/node.crt';
    // stanza-create takes the leader as pg2 but refuses --backup-standby.
    expect(calls.find((c) => c.endsWith('stanza-create'))).toContain(pg2);
    expect(calls.find((c) => c.endsWith('stanza-create'))).not.toContain('--backup-standby');
    expect(calls.find((c) => c.endsWith(' backup'))).toContain(`${pg2}`);
    expect(calls.find((c) => c.endsWith(' backup'))).toContain('--backup-standby --repo=1 --type=full backup');
    expect(calls.find((c) => c.endsWith(' backup'))).toContain('--pg2-path=/var/lib/postgresql/15/patroni --pg2-socket-path=/var/run/postgresql --pg2-port=5432 --pg2-user=postgres');
  }, 60_000);

  test("a failed backup is logged by pgBackRest's ERROR line, not the HINT after it; with --once the run fails", async () => {
    view = { members: [member('pg-0', 'leader'), member('pg-1', 'replica'), member('pg-2', 'sync_standby')] };
    fs.writeFileSync(path.join(dir, 'fail'), '');
    try {
      const r = await run('python3', ['-I', file, 'backup', 'full', '--once'], { timeoutMs: 60_000, env: env() });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('full backup into repository 1 failed: ERROR: [056]: unable to find primary cluster - cannot proceed\n');
      expect(r.stderr).toContain('cdk-failover: no full backup completed in repositories 1');
    } finally {
      fs.rmSync(path.join(dir, 'fail'));
    }
  }, 60_000);

  test.each([
    ['its standby leader runs', [member('pg-0', 'standby_leader'), member('pg-1', 'replica'), member('pg-2', 'replica')], { standby_cluster: { restore_command: 'x' } }],
    ['only its /config says so (its standby leader is down)', [member('pg-1', 'replica'), member('pg-2', 'replica')], { standby_cluster: { restore_command: 'x' } }],
  ])('a standby cluster takes no backup (%s): named as such, exit 0, pgBackRest never asked to back up', async (_case, members, dcs) => {
    config = dcs;
    try {
      expect(await who(members)).toEqual({ code: 0, plan: { standbyCluster: true } });
      fs.writeFileSync(path.join(dir, 'calls'), '');
      const r = await run('python3', ['-I', file, 'backup', 'diff'], { timeoutMs: 60_000, env: env() });
      expect({ code: r.code, stderr: r.stderr.trim() }).toEqual({ code: 0, stderr: 'cdk-failover backup pg-1: a standby cluster: no diff backup until it is promoted' });
      expect(fs.readFileSync(path.join(dir, 'calls'), 'utf8').split('\n').filter((c) => / (backup|stanza-create)$/.test(c))).toEqual([]);
    } finally {
      config = {};
    }
  }, 60_000);

  test('a promoted standby (standby_cluster null in /config, a leader) backs up as any primary', async () => {
    config = { standby_cluster: null };
    try {
      expect(await who([member('pg-0', 'leader'), member('pg-1', 'replica'), member('pg-2', 'replica')])).toEqual({ code: 0, plan: { node: 'pg-1', leader: 'pg-0' } });
    } finally {
      config = {};
    }
  });

  test('not named, a node with --once leaves the backup to the one named', async () => {
    view = { members: [member('pg-0', 'leader'), member('pg-1', 'replica', { lag: 'unknown' }), member('pg-2', 'replica')] };
    const r = await run('python3', ['-I', file, 'backup', 'full', '--once'], { timeoutMs: 60_000, env: env() });
    expect({ code: r.code, stderr: r.stderr.trim() }).toEqual({ code: 0, stderr: 'cdk-failover backup pg-1: pg-2 takes the backup, not this node' });
  }, 60_000);
});

describe("backup.py fence-check (Patroni's pre_promote), against a stand-in pgbackrest", () => {
  let dir: string;
  let file: string;
  const twoRepos = { ...backup, repositories: [backup.repositories[0]!, { ...backup.repositories[0]!, bucket: 'dr', region: 'eu-central-1' }] };
  /** What the stand-in's repo-get does for repository `n`: its exit code, output, and seconds it hangs first. */
  const repo = (n: number, rc: number, out = '', sleep = 0) => {
    fs.writeFileSync(path.join(dir, `repo${n}`), `${rc} ${sleep}\n`, { mode: 0o644 });
    fs.writeFileSync(path.join(dir, `repo${n}.out`), out, { mode: 0o644 });
  };
  const calls = () => fs.readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n').filter(Boolean);
  const check = () => run('python3', ['-I', file, 'fence-check'], { timeoutMs: 60_000, env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });

  beforeAll(() => {
    dir = makeTmpDir('backup-fence');
    fs.chmodSync(dir, 0o755);
    file = path.join(dir, 'backup.py');
    // With TLS: the REST API's CA file (absent here) must never be read by the fence check.
    fs.writeFileSync(file, renderBackupRunner(ec2Spec({ backup: twoRepos, tls: true }), 'pg-1'), { mode: 0o755 });
    const standIn = [
      '#!/bin/sh',
      `echo "$*" >> ${dir}/calls`,
      'n=$(echo "$*" | sed -n "s/.*--repo=\\([0-9]\\).*/\\1/p")',
      `read rc pause < ${dir}/repo$n`,
      'sleep "$pause"',
      `cat ${dir}/repo$n.out`,
      'exit "$rc"',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'pgbackrest'), `${standIn}\n`, { mode: 0o755 });
  });
  beforeEach(() => {
    fs.writeFileSync(path.join(dir, 'calls'), '');
    fs.chmodSync(path.join(dir, 'calls'), 0o666);
  });
  afterAll(() => removeTmpDir(dir));

  test('no fence in either repository (repo-get --ignore-missing exits 1): the promotion goes ahead, both were asked', async () => {
    repo(1, 1);
    repo(2, 1);
    const r = await check();
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(calls()).toEqual([1, 2].map((n) => `--config=/etc/cdk-failover/pgbackrest.conf --stanza=orders-db --repo=${n} repo-get --ignore-missing ${FENCE_FILE}`));
  }, 60_000);

  test('a fence in the second repository (the standby region\'s bucket): refused, with what the fence says', async () => {
    repo(1, 1);
    repo(2, 0, '{"fenced":"orders-db","promoted":"orders-dr","at":"2026-12-03T16:00:00.000Z"}\n');
    const r = await check();
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      'cdk-failover backup pg-1: promotion refused: this cluster is fenced (fence.json in repository 2: {"fenced":"orders-db","promoted":"orders-dr","at":"2026-12-03T16:00:00.000Z"}); ' +
        'rebuild it as a standby of the promoted cluster (docs/regional-recovery.md)',
    );
  }, 60_000);

  test('a repository that fails or hangs past the limit does not block the promotion (it is logged); a fence in the other one still does', async () => {
    repo(1, 55, 'ERROR: [055]: unable to open missing file');
    repo(2, 1);
    const failed = await check();
    expect(failed.code).toBe(0);
    expect(failed.stderr.trim()).toBe('cdk-failover backup pg-1: fence check: repository 1 not read (ERROR: [055]: unable to open missing file): the promotion goes ahead');
    repo(1, 1, '', FENCE_TIMEOUT_SECONDS + 3);
    const hung = await check();
    expect(hung.code).toBe(0);
    expect(hung.stderr).toMatch(new RegExp(`repository 1 not read \\(Command .* timed out after ${FENCE_TIMEOUT_SECONDS} seconds\\): the promotion goes ahead`));
    repo(2, 0, '{"fenced":"orders-db"}');
    expect((await check()).code).toBe(1);
  }, 60_000);

  test('a check that breaks (output that is not text) lets the promotion go ahead with one line, and never reads the REST API CA', async () => {
    repo(1, 0);
    fs.writeFileSync(path.join(dir, 'repo1.out'), Buffer.from([0xff, 0xfe, 0x00]));
    const r = await check();
    expect(r.code).toBe(0);
    expect(r.stderr.trim()).toMatch(/^cdk-failover backup pg-1: fence check failed \(UnicodeDecodeError: .*\): the promotion goes ahead$/);
  }, 60_000);
});
