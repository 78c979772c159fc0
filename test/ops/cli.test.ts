// The ops commands as a user runs them (through test/ops/cli-harness.ts, which registers them
// the way bin/failover.ts registers command groups): exit codes, one-line errors, --help,
// dry runs that send nothing unsafe. Only 127.0.0.1 is addressed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { opsCommands } from '../../lib/cli/ops';
import { run, type RunResult } from '../../lib/util/command';
import { clusterView, FakePatroni, refusedUrl } from './fake-patroni';
import { FakeRoute53, TARGET } from './fake-route53';

const ROOT = path.resolve(__dirname, '../..');

class Exit extends Error {
  constructor(public readonly code: number) {
    super(`exit ${code}`);
  }
}

/**
 * The commands in this process (a child process per run is too slow on a busy 2-core machine):
 * stdout, stderr and process.exit are captured.
 */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const spies = [
    jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(`${a.join(' ')}\n`)),
    jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(`${a.join(' ')}\n`)),
    jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (out.push(String(s)), true)),
    jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (err.push(String(s)), true)),
    jest.spyOn(process, 'exit').mockImplementation((code?: string | number | null) => {
      throw new Exit(Number(code ?? 0));
    }),
  ];
  process.exitCode = undefined;
  const program = new Command('failover').enablePositionalOptions();
  for (const c of opsCommands()) program.addCommand(c);
  let code: number;
  try {
    await program.parseAsync(args, { from: 'user' });
    code = Number(process.exitCode ?? 0);
  } catch (e) {
    if (!(e instanceof Exit)) throw e;
    code = e.code;
  } finally {
    for (const spy of spies) spy.mockRestore();
    process.exitCode = undefined;
  }
  return { code, stdout: out.join(''), stderr: err.join('') };
}

/** The real CLI in a child process (exit codes as a shell sees them). */
function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return run(process.execPath, ['-r', 'ts-node/register/transpile-only', 'test/ops/cli-harness.ts', ...args], {
    cwd: ROOT,
    timeoutMs: 150_000,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    allowFailure: true,
  });
}

describe('failover status | switchover | drill', () => {
  let fake: FakePatroni;
  let url: string;

  beforeAll(async () => {
    fake = new FakePatroni();
    url = await fake.start();
    fake.handler = (req) => {
      if (req.path === '/cluster') return { status: 200, body: clusterView(url) };
      if (req.path === '/config') return { status: 200, body: { synchronous_mode: true } };
      if (req.path === '/patroni') {
        return { status: 200, body: { state: 'running', role: 'master', timeline: 3, replication: [{ application_name: 'pg-1', state: 'streaming', sync_state: 'sync' }, { application_name: 'pg-2', state: 'streaming', sync_state: 'async' }] } };
      }
      return { status: 500, body: 'unexpected' };
    };
  });
  afterAll(async () => {
    await fake.stop();
  });

  test('--help on every command exits 0 and documents targets, credentials and exit codes', async () => {
    const results = [];
    for (const c of ['status', 'switchover', 'drill']) results.push(await cli([c, '--help']));
    for (const r of results) {
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Exit codes: 0 ok, 1 failed (drill failed, cluster unhealthy, or an error), 2 usage.');
      expect(r.stdout).toContain('PATRONI_REST_PASSWORD');
    }
    expect(results[2]!.stdout).toMatch(/kind\s+dns: force the primary health check/);
  }, 120_000);

  test('usage errors exit 2 with one line', async () => {
    const noTarget = await cli(['status']);
    const badOption = await cli(['drill', 'db', '--local', '--bogus']);
    const badKind = await cli(['drill', 'everything', '--local']);
    const badUrl = await cli(['status', '--patroni-url', '10.0.0.1:8008']);
    const noWriter = await cli(['drill', 'db', '--patroni-url', url]);
    const noTlsFile = await cli(['status', '--patroni-url', url, '--tls-secret-file', '/nonexistent/operator-tls.json']);
    const rulesByUrl = await cli(['prometheus-rules', '--patroni-url', url]);
    for (const r of [noTarget, badOption, badKind, badUrl, noWriter, noTlsFile, rulesByUrl]) {
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(noTarget.stderr).toMatch(/^failover: no target: give --local/);
    expect(badOption.stderr).toContain("unknown option '--bogus'");
    expect(noWriter.stderr.trim()).toBe('failover: no writer endpoint: give --writer-uri (or FAILOVER_WRITER_URI), or --stack');
    expect(rulesByUrl.stderr.trim()).toBe('failover: Patroni URLs do not name the cluster: give --stack or --local');
    expect(noTlsFile.stderr.trim()).toBe('failover: --tls-secret-file /nonexistent/operator-tls.json: cannot read it (ENOENT)');
  }, 120_000);

  test('status of a healthy cluster exits 0; of an unreachable one exits 1 with the reason, never a stack trace', async () => {
    const dead = await refusedUrl();
    const healthy = await cli(['status', '--patroni-url', url]);
    const json = await cli(['status', '--patroni-url', url, '--json']);
    const unreachable = await cli(['status', '--patroni-url', dead]);
    expect(healthy.code).toBe(0);
    expect(healthy.stdout).toContain('cluster    healthy');
    expect(healthy.stdout).toMatch(/pg-0\s+leader\s+running\s+3/);
    expect(JSON.parse(json.stdout)).toMatchObject({ environment: 'direct', cluster: { healthy: true, leader: { name: 'pg-0' } } });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stdout).toContain(`issue: no Patroni REST API answered GET /cluster (direct): ${dead}: connection refused`);
    expect(unreachable.stderr).not.toMatch(/\n\s+at /);
  }, 120_000);

  test("status of a standby cluster: its standby leader, what feeds it and how old its last replayed commit is; not writable; with no standby leader running, nothing to promote (exit 1)", async () => {
    const standby = new FakePatroni();
    const base = await standby.start();
    const replayedAt = new Date(Date.now() - 42_000).toISOString().replace('T', ' ').replace('Z', '+00:00');
    let leaderState = 'running';
    let following: Record<string, unknown> = { host: 'orders-db.example', port: 5432, restore_command: 'pgbackrest archive-get %f "%p"' };
    standby.handler = (req) => {
      if (req.path === '/cluster') return { status: 200, body: clusterView(base, { 'pg-0': { role: 'standby_leader', state: leaderState }, 'pg-1': { role: 'replica' } }) };
      if (req.path === '/config') return { status: 200, body: { ttl: 30, standby_cluster: following } };
      if (req.path === '/patroni') {
        return {
          status: 200,
          body: { state: 'running', role: 'standby_leader', timeline: 3, xlog: { replayed_timestamp: replayedAt }, replication: ['pg-1', 'pg-2'].map((n) => ({ application_name: n, state: 'streaming', sync_state: 'async' })) },
        };
      }
      return { status: 500, body: 'unexpected' };
    };
    try {
      const text = await cli(['status', '--patroni-url', base]);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/pg-0\s+standby_leader\s+running/);
      const line = text.stdout.split('\n').find((l) => l.startsWith('standby'));
      const age = /^standby {4}a standby cluster \(takes no writes until failover promote\), fed by its repository and streaming from orders-db\.example:5432 \(configured\): standby leader pg-0, last commit of the primary replayed (\d+\.\d) s ago$/.exec(line ?? '');
      expect(age).not.toBeNull();
      expect(Number(age![1])).toBeGreaterThanOrEqual(42);
      expect(Number(age![1])).toBeLessThan(60);
      const json = JSON.parse((await cli(['status', '--patroni-url', base, '--json'])).stdout);
      expect(json.cluster).toMatchObject({ healthy: true, writable: false, standby: { streamsFrom: 'orders-db.example:5432', leader: 'pg-0' } });

      following = { restore_command: 'pgbackrest archive-get %f "%p"' };
      leaderState = 'stopped';
      const down = await cli(['status', '--patroni-url', base]);
      expect(down.code).toBe(1);
      expect(down.stdout).toContain('standby    a standby cluster (takes no writes until failover promote), fed by its repository: no standby leader runs (nothing to promote)');
      expect(down.stdout).toContain('issue: leader pg-0 is stopped');
    } finally {
      await standby.stop();
    }
  }, 120_000);

  test('switchover --dry-run names the candidate and sends no POST', async () => {
    const r = await cli(['switchover', '--patroni-url', url, '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('would POST /switchover {leader: pg-0, candidate: pg-1} (sync_standby, lag 0 bytes); nothing was changed');
    expect(fake.requests.some((q) => q.method === 'POST')).toBe(false);
  }, 60_000);

  test('drill dns by health check IDs: forces, sees the secondary, restores, exits 0 (Route 53 mocked, TestDNSAnswer only)', async () => {
    const route53 = new FakeRoute53(true);
    try {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ops-cli-'));
      const file = path.join(dir, 'dns.json');
      const args = ['drill', 'dns', '--health-check-id', TARGET.primaryHealthCheckId, '--secondary-health-check-id', TARGET.secondaryHealthCheckId!];
      args.push('--hosted-zone-id', TARGET.hostedZoneId, '--record-name', 'api', '--no-direct-dns', '--poll-interval', '1', '--timeout', '20', '--report', file);
      const r = await cli(args);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.code).toBe(0);
      const report = JSON.parse(fs.readFileSync(file, 'utf8'));
      expect(report).toMatchObject({ environment: 'direct', passed: 1, failed: 0 });
      expect(report.tests[0].checks.map((c: { name: string }) => c.name)).toContain('TestDNSAnswer answers the secondary');
      expect(route53.updateCalls().map((c) => [c.HealthCheckVersion, c.Disabled, c.Inverted])).toEqual([
        [7, true, true],
        [8, false, false],
      ]);
    } finally {
      route53.mock.restore();
    }
  }, 60_000);

  test('drill db --dry-run writes a report of the plan and changes nothing', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ops-cli-'));
    const report = path.join(dir, 'report.json');
    const dead = await refusedUrl();
    const r = await cli(['drill', 'all', '--patroni-url', url, '--writer-uri', `postgres://u@${new URL(dead).host}/db`, '--dry-run', '--report', report]);
    expect(r.code).toBe(0);
    const json = JSON.parse(fs.readFileSync(report, 'utf8'));
    expect(json).toMatchObject({ environment: 'direct', dry_run: true, total_tests: 2, passed: 0, failed: 0, skipped: 2 });
    expect(json.tests[0]).toMatchObject({ name: 'dns', status: 'skipped', error: 'no --health-check-id, --hosted-zone-id and --record-name given' });
    expect(json.tests[1].plan.join('\n')).toContain('POST /switchover {leader: pg-0, candidate: pg-1}');
    expect(r.stdout).toContain('0 passed, 0 failed, 2 skipped');
    expect(fake.requests.some((q) => q.method === 'POST')).toBe(false);
  }, 60_000);
});

describe('the CLI as a process', () => {
  test('exit codes as a shell sees them: 0 for --help, 2 for a usage error, with one line and no stack trace', async () => {
    const [help, usage] = await Promise.all([spawnCli(['drill', '--help']), spawnCli(['switchover'])]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: failover drill [options] <kind>');
    expect(usage.code).toBe(2);
    expect(usage.stderr.trim()).toBe('failover: no target: give --local (the local cluster), --stack NAME [--region R] (a deployed stack), or --patroni-url / --health-check-id');
  }, 180_000);
});

describe('dependency rule', () => {
  test('lib/ops and its CLI never load aws-cdk-lib, constructs or the constructs of lib/dns and lib/patroni', async () => {
    const script = "require('./lib/ops'); require('./lib/cli/ops'); console.log(JSON.stringify(Object.keys(require.cache)))";
    const { stdout } = await run(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: ROOT, timeoutMs: 150_000 });
    const loaded = JSON.parse(stdout) as string[];
    const rel = loaded.map((f) => path.relative(ROOT, f));
    expect(rel.filter((f) => /node_modules\/(aws-cdk-lib|constructs)\//.test(f))).toEqual([]);
    // The Prometheus rules' renderer and what it reads are written without aws-cdk-lib for the CLI.
    const cdkFree = ['lib/monitoring/prometheus-rules.ts', 'lib/monitoring/alarm-definitions.ts', 'lib/runbook/sections.ts'];
    expect(rel.filter((f) => cdkFree.includes(f)).sort()).toEqual([...cdkFree].sort());
    expect(rel.filter((f) => !cdkFree.includes(f) && (/^lib\/(dns|monitoring|runbook)\//.test(f) || /^lib\/patroni\/(?!config\/)/.test(f)))).toEqual([]);
    expect(rel).toContain('lib/ops/route53-drill.ts');
  }, 180_000);
});
