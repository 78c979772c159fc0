import * as fs from 'fs';
import * as path from 'path';
import { ClusterSpec, renderRoleChangeCallback, ROLE_CHANGE_FILES } from '../../../lib/patroni/config';
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
