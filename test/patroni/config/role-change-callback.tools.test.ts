import * as fs from 'fs';
import * as path from 'path';
import { ClusterSpec, METRICS_PUBLISHER_FILES, renderRoleChangeCallback, ROLE_CHANGE_FILES } from '../../../lib/patroni/config';
import { ec2Spec, makeTmpDir, nodeTree, removeTmpDir, run } from './fixtures';

// The callback runs with a PATH of our own: only the tools it uses, plus a fake `aws` when a test
// wants one, so the machine's own AWS CLI (if any) is never called.
describe('role-change callback', () => {
  let root: string;
  let bin: string;
  let script: string;
  let spec: ClusterSpec;
  const paths = () => nodeTree(root, 'pg-0');

  beforeEach(() => {
    root = makeTmpDir('callback');
    bin = path.join(root, 'bin');
    fs.mkdirSync(bin);
    for (const tool of ['date', 'mv', 'rm', 'timeout', 'sleep', 'cat']) {
      fs.symlinkSync(`/usr/bin/${tool}`, path.join(bin, tool));
    }
    const nodes = ec2Spec().nodes.map((n) => ({ ...n, paths: nodeTree(root, n.name) }));
    spec = ec2Spec({ nodes });
    fs.mkdirSync(paths().logDir, { recursive: true });
    fs.mkdirSync(paths().runDir, { recursive: true });
    script = path.join(root, 'on_role_change.sh');
    fs.writeFileSync(script, renderRoleChangeCallback(spec, 'pg-0'), { mode: 0o755 });
  });

  afterEach(() => removeTmpDir(root));

  function callback(...args: string[]) {
    return run('/bin/bash', [script, ...args], { env: { PATH: bin }, timeoutMs: 30_000 });
  }
  function fakeAws(body: string) {
    fs.writeFileSync(path.join(bin, 'aws'), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
  }
  const log = () => fs.readFileSync(path.join(paths().logDir, ROLE_CHANGE_FILES.log), 'utf8');
  const lastChange = () => fs.readFileSync(path.join(paths().runDir, ROLE_CHANGE_FILES.lastChange), 'utf8');

  test('passes shellcheck', async () => {
    const check = await run('shellcheck', ['--shell=bash', script]);
    expect({ code: check.code, out: check.stdout }).toEqual({ code: 0, out: '' });
  });

  test.each([
    ['master', 'primary'],
    ['primary', 'primary'],
    ['replica', 'replica'],
    ['standby_leader', 'replica'],
    ['uninitialized', 'other'],
  ])('role %s counts as %s: logged, and recorded with a timestamp', async (role, kind) => {
    const before = Math.floor(Date.now() / 1000);
    const result = await callback('on_role_change', role, 'orders-db');
    expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(log()).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:]+Z pg-0 event=on_role_change role=${role} kind=${kind} cluster=orders-db\\n$`));
    const [epoch, recordedKind, recordedRole] = lastChange().trim().split(' ');
    expect(Number(epoch)).toBeGreaterThanOrEqual(before);
    expect([recordedKind, recordedRole]).toEqual([kind, role]);
  });

  test.each([
    ['master', ['RoleChange', 'Promotion']],
    ['primary', ['RoleChange', 'Promotion']],
    ['replica', ['RoleChange']],
  ])('role %s publishes %j to the spec namespace and region when the aws command exists', async (role, metrics) => {
    const argsFile = path.join(root, 'aws-args');
    fakeAws(`printf '%s\\n' "$@" >${argsFile}`);
    expect((await callback('on_role_change', role, 'orders-db')).code).toBe(0);
    const args = fs.readFileSync(argsFile, 'utf8').trim().split('\n');
    expect(args.slice(0, -1)).toEqual([
      'cloudwatch', 'put-metric-data', '--region', 'eu-west-1', '--namespace', 'CdkFailover/orders-db', '--metric-data',
    ]);
    expect(JSON.parse(args[args.length - 1])).toEqual(
      metrics.map((MetricName) => ({ MetricName, Dimensions: [{ Name: 'ClusterName', Value: 'orders-db' }], Value: 1, Unit: 'Count' })),
    );
  });

  test('a failing aws command does not fail the callback', async () => {
    fakeAws('echo "no credentials" >&2; exit 3');
    expect(await callback('on_role_change', 'primary', 'orders-db')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(log()).toContain('metrics not published (exit 3)');
  });

  test('a hanging aws command is cut off by the timeout', async () => {
    fakeAws('exec sleep 300');
    const started = Date.now();
    expect((await callback('on_role_change', 'primary', 'orders-db')).code).toBe(0);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(log()).toContain('metrics not published (exit 124)');
  }, 30_000);

  describe('failover duration, from the metrics publisher\'s last-healthy-primary mark', () => {
    const markFile = () => path.join(paths().runDir, METRICS_PUBLISHER_FILES.lastHealthyPrimary);
    const argsFile = () => path.join(root, 'aws-args');
    const published = () => {
      const args = fs.readFileSync(argsFile(), 'utf8').trim().split('\n');
      return JSON.parse(args[args.length - 1]) as { MetricName: string; Value: number; Unit: string; Dimensions: unknown }[];
    };

    test('on promotion: seconds since the mark, logged and published with RoleChange and Promotion', async () => {
      fakeAws(`printf '%s\\n' "$@" >${argsFile()}`);
      const seenAt = Math.floor(Date.now() / 1000) - 42;
      fs.writeFileSync(markFile(), `${seenAt} pg-1\n`);
      expect(await callback('on_role_change', 'master', 'orders-db')).toEqual({ code: 0, stdout: '', stderr: '' });
      const data = published();
      expect(data.map((d) => d.MetricName)).toEqual(['RoleChange', 'Promotion', 'FailoverDurationSeconds']);
      expect(data[2]).toEqual({
        MetricName: 'FailoverDurationSeconds',
        Dimensions: [{ Name: 'ClusterName', Value: 'orders-db' }],
        Value: expect.any(Number),
        Unit: 'Seconds',
      });
      expect(data[2].Value).toBeGreaterThanOrEqual(42);
      expect(data[2].Value).toBeLessThan(52);
      expect(log()).toMatch(new RegExp(`failover_duration_seconds=${data[2].Value} last_healthy_primary=pg-1 seen_at=${seenAt}\\n$`));
    });

    test('on promotion: this node becomes the mark, so its publisher refreshes it from then on', async () => {
      fs.writeFileSync(markFile(), '1700000000 pg-1\n');
      const before = Math.floor(Date.now() / 1000);
      await callback('on_role_change', 'primary', 'orders-db');
      const [epoch, nodeName] = fs.readFileSync(markFile(), 'utf8').trim().split(' ');
      expect(nodeName).toBe('pg-0');
      expect(Number(epoch)).toBeGreaterThanOrEqual(before);
    });

    test('without a mark, or with a mark that holds no timestamp, no duration is published', async () => {
      fakeAws(`printf '%s\\n' "$@" >${argsFile()}`);
      await callback('on_role_change', 'master', 'orders-db');
      expect(published().map((d) => d.MetricName)).toEqual(['RoleChange', 'Promotion']);
      expect(log()).not.toContain('failover');
      fs.writeFileSync(markFile(), '0x10; rm -rf / pg-1\n');
      await callback('on_role_change', 'master', 'orders-db');
      expect(published().map((d) => d.MetricName)).toEqual(['RoleChange', 'Promotion']);
      expect(log()).toContain('holds no timestamp');
    });

    test('a replica neither reads nor moves the mark', async () => {
      fakeAws(`printf '%s\\n' "$@" >${argsFile()}`);
      fs.writeFileSync(markFile(), '1700000000 pg-1\n');
      await callback('on_role_change', 'replica', 'orders-db');
      expect(published().map((d) => d.MetricName)).toEqual(['RoleChange']);
      expect(fs.readFileSync(markFile(), 'utf8')).toBe('1700000000 pg-1\n');
      expect(log()).not.toContain('failover');
    });

    test('a mark in the future counts as zero seconds', async () => {
      fakeAws(`printf '%s\\n' "$@" >${argsFile()}`);
      fs.writeFileSync(markFile(), `${Math.floor(Date.now() / 1000) + 3600} pg-1\n`);
      await callback('on_role_change', 'master', 'orders-db');
      expect(published()[2]).toMatchObject({ MetricName: 'FailoverDurationSeconds', Value: 0 });
    });
  });

  test('a missing log and run directory do not fail the callback', async () => {
    removeTmpDir(paths().logDir);
    removeTmpDir(paths().runDir);
    expect((await callback('on_role_change', 'master', 'orders-db')).code).toBe(0);
  });

  test('is deterministic and refuses an unknown node', () => {
    expect(renderRoleChangeCallback(spec, 'pg-0')).toBe(fs.readFileSync(script, 'utf8'));
    expect(() => renderRoleChangeCallback(spec, 'pg-9')).toThrow("nodeName 'pg-9' is not a node of cluster 'orders-db'");
  });
});
