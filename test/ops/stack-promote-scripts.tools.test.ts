// The shell `failover promote --stack` runs on nodes, run here by sh (dash, as AWS-RunShellScript
// runs it on Debian 12) against stand-in patronictl, psql and aws programs and stand-in node
// files, and checked by shellcheck as POSIX sh.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fenceScript, membersScript, promoteScript, PROMOTED_LINE, stopNodeScript, type NodeFiles } from '../../lib/ops/stack-promote-scripts';
import { run } from '../../lib/util/command';

describe('the promotion scripts (sh, stand-in patronictl, psql and aws)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdkf-promote-scripts-'));
  const files: NodeFiles = { patroniYml: path.join(dir, 'patroni.yml'), pgBackRestConf: path.join(dir, 'pgbackrest.conf'), psql: path.join(dir, 'bin', 'psql') };
  const calls = path.join(dir, 'calls');
  const sh = (lines: string[]) => run('sh', ['-c', lines.join('\n')], { allowFailure: true, timeoutMs: 30_000, env: { ...process.env, PATH: `${dir}/bin:${process.env.PATH}` } });
  /** The node's Patroni: `role` is this node's until edit-config runs (then Leader); `standby` whether /config has standby_cluster. */
  const patroni = (role: string, standby = true, inRecovery = 'f') => {
    fs.writeFileSync(path.join(dir, 'role'), role);
    fs.writeFileSync(path.join(dir, 'in-recovery'), `${inRecovery}\n`);
    fs.rmSync(path.join(dir, 'promoted'), { force: true });
    fs.writeFileSync(path.join(dir, 'config'), standby ? 'loop_wait: 1\nstandby_cluster:\n  restore_command: x\n' : 'loop_wait: 1\n');
    fs.writeFileSync(calls, '');
  };

  beforeAll(() => {
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.writeFileSync(files.patroniYml, "scope: orders-dr\nname: 'orders-dr-1'\n");
    fs.writeFileSync(
      path.join(dir, 'bin', 'patronictl'),
      [
        '#!/bin/bash',
        `echo "patronictl $*" >> ${calls}`,
        'case "$*" in',
        `  *"list -f json"*) if [ -e ${dir}/promoted ]; then r=Leader; else r=$(cat ${dir}/role); fi; echo "[{\\"Member\\": \\"orders-dr-0\\", \\"Role\\": \\"Replica\\", \\"State\\": \\"streaming\\"}, {\\"Member\\": \\"orders-dr-1\\", \\"Role\\": \\"$r\\", \\"State\\": \\"running\\"}]" ;;`,
        `  *show-config*) if [ -e ${dir}/fail-show-config ]; then echo 'Error: etcd unreachable' >&2; exit 1; fi; cat ${dir}/config ;;`,
        `  *edit-config*) touch ${dir}/promoted ;;`,
        'esac',
      ].join('\n'),
      { mode: 0o755 },
    );
    // PostgreSQL leaves recovery only once `inRecovery` says so (Patroni may call the node Leader before).
    fs.writeFileSync(path.join(dir, 'bin', 'psql'), `#!/bin/sh\necho "psql $*" >> ${calls}\ncat ${dir}/in-recovery\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'bin', 'aws'), `#!/bin/bash\necho "aws $*" >> ${calls}\ncat >> ${calls}\n`, { mode: 0o755 });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('the standby leader removes standby_cluster and says it leads once its PostgreSQL is out of recovery', async () => {
    patroni('Standby Leader');
    const r = await sh(promoteScript(files));
    expect({ code: r.code, stdout: r.stdout.trim(), stderr: r.stderr }).toEqual({ code: 0, stdout: PROMOTED_LINE, stderr: '' });
    expect(fs.readFileSync(calls, 'utf8')).toContain(`patronictl -c ${files.patroniYml} edit-config --force -s standby_cluster=null`);
    expect(fs.readFileSync(calls, 'utf8')).toContain("psql -XtAc select pg_is_in_recovery()");
  });

  test('Patroni calls it Leader at once, but a PostgreSQL still in recovery is no promotion: it waits, then fails (exit 4)', async () => {
    patroni('Standby Leader', true, 't');
    const r = await sh(promoteScript(files).map((l) => l.replace('$(seq 1 120)', '$(seq 1 2)')));
    expect(r.code).toBe(4);
    expect(r.stdout).not.toContain(PROMOTED_LINE);
    expect(r.stderr.trim()).toBe("cdk-failover promote: standby_cluster removed, but PostgreSQL here did not leave recovery within 120 s (its pre_promote, or the promotion, failed: see the Patroni log)");
  });

  test('a patronictl that fails (etcd down) stops the script with its error, never as "not a standby cluster"', async () => {
    patroni('Standby Leader');
    fs.writeFileSync(path.join(dir, 'fail-show-config'), '');
    try {
      const r = await sh(promoteScript(files));
      expect({ code: r.code, stderr: r.stderr.trim() }).toEqual({ code: 1, stderr: 'Error: etcd unreachable' });
      expect(fs.readFileSync(calls, 'utf8')).not.toContain('edit-config');
    } finally {
      fs.rmSync(path.join(dir, 'fail-show-config'));
    }
  });

  test('any other member steps aside (exit 0, nothing changed); a cluster with no standby_cluster is refused (exit 3)', async () => {
    patroni('Replica');
    const aside = await sh(promoteScript(files));
    expect({ code: aside.code, stdout: aside.stdout.trim() }).toEqual({ code: 0, stdout: 'cdk-failover promote: this node is Replica, not the standby leader' });
    expect(fs.readFileSync(calls, 'utf8')).not.toContain('edit-config');
    patroni('Standby Leader', false);
    const primary = await sh(promoteScript(files));
    expect({ code: primary.code, stderr: primary.stderr.trim() }).toEqual({ code: 3, stderr: 'cdk-failover promote: not a standby cluster (its /config has no standby_cluster): nothing to promote' });
    expect(fs.readFileSync(calls, 'utf8')).not.toContain('edit-config');
  });

  test("the fence goes into the standby's first repository's bucket, at the primary's path, as JSON on stdin", async () => {
    fs.writeFileSync(files.pgBackRestConf, '[global]\nrepo1-type=s3\nrepo1-s3-bucket=orders-repository-eu-west-1\nrepo1-s3-region=eu-west-1\n');
    fs.writeFileSync(calls, '');
    const r = await sh(fenceScript('orders', 'orders-dr', '2026-12-03T18:00:00.000Z', files));
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('cdk-failover promote: fenced orders: s3://orders-repository-eu-west-1/orders/fence.json');
    expect(fs.readFileSync(calls, 'utf8').trim().split('\n')).toEqual([
      'aws s3 cp - s3://orders-repository-eu-west-1/orders/fence.json --region eu-west-1 --only-show-errors',
      '{"fenced":"orders","promoted":"orders-dr","at":"2026-12-03T18:00:00.000Z"}',
    ]);
    fs.writeFileSync(files.pgBackRestConf, '[global]\n');
    const none = await sh(fenceScript('orders', 'orders-dr', '2026-12-03T18:00:00.000Z', files));
    expect({ code: none.code, stderr: none.stderr.trim() }).toEqual({ code: 3, stderr: `cdk-failover promote: no repository in ${files.pgBackRestConf}: this cluster was deployed without backup` });
  });

  test.each([
    ['promote', promoteScript()],
    ['fence', fenceScript('orders', 'orders-dr', '2026-12-03T18:00:00.000Z')],
    ['members', membersScript()],
    ['stop', stopNodeScript()],
  ])('shellcheck finds nothing in the %s script', async (_name, lines) => {
    const file = path.join(dir, `${_name}.sh`);
    fs.writeFileSync(file, `#!/bin/sh\n${lines.join('\n')}\n`);
    const r = await run('shellcheck', ['-s', 'sh', file], { allowFailure: true, timeoutMs: 30_000 });
    expect({ code: r.code, out: r.stdout }).toEqual({ code: 0, out: '' });
  });
});
