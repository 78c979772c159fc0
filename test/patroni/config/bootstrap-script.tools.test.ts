import * as fs from 'fs';
import * as path from 'path';
import {
  BootstrapOptions,
  ClusterSpec,
  FILL_PLACEHOLDERS_PY,
  renderBootstrapScript,
  renderMetricsPublisher,
  renderNodeConfigFiles,
  renderPatroniConfig,
  renderSystemdUnitFiles,
} from '../../../lib/patroni/config';
import { ec2Spec, makeTmpDir, removeTmpDir, run } from './fixtures';

const OPTIONS: BootstrapOptions = {
  region: 'eu-west-1',
  secretIds: {
    superuser: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-db/superuser-AbCdEf',
    replication: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-db/replication-AbCdEf',
    rewind: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-db/rewind-AbCdEf',
    restApi: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-db/restapi-AbCdEf',
  },
  dataVolume: { device: '/dev/sdf', volumeId: 'vol-0123456789abcdef0' },
};

interface EmbeddedFile {
  readonly path: string;
  readonly mode: string;
  readonly owner: string;
  readonly content: string;
}

/** The files the script writes: `write_file 'PATH' MODE OWNER <<'DELIM'` ... `DELIM`. */
function embeddedFiles(script: string): EmbeddedFile[] {
  const lines = script.split('\n');
  const files: EmbeddedFile[] = [];
  lines.forEach((line, i) => {
    const m = /^write_file '([^']+)' (\d{4}) (\S+) <<'(\w+)'$/.exec(line);
    if (!m) return;
    const end = lines.indexOf(m[4], i + 1);
    files.push({ path: m[1], mode: m[2], owner: m[3], content: `${lines.slice(i + 1, end).join('\n')}\n` });
  });
  return files;
}

/** The body of the heredoc that ends with the line `delimiter`. */
function heredocBody(script: string, delimiter: string): string {
  const lines = script.split('\n');
  const start = lines.findIndex((l) => l.endsWith(`<<'${delimiter}'`));
  const end = lines.indexOf(delimiter, start + 1);
  return `${lines.slice(start + 1, end).join('\n')}\n`;
}

describe('renderBootstrapScript', () => {
  const spec = ec2Spec();
  const script = renderBootstrapScript(spec, 'pg-0', OPTIONS);

  test.each(['required', 'automatic', 'off'] as const)('passes shellcheck (watchdog %s)', async (watchdogMode) => {
    const dir = makeTmpDir('bootstrap-sc');
    try {
      const file = path.join(dir, 'user-data.sh');
      fs.writeFileSync(file, renderBootstrapScript(ec2Spec({ watchdogMode }), 'pg-1', OPTIONS));
      const check = await run('shellcheck', ['--shell=bash', file]);
      expect({ code: check.code, out: check.stdout }).toEqual({ code: 0, out: '' });
    } finally {
      removeTmpDir(dir);
    }
  });

  test('writes exactly the rendered files, byte for byte, with their modes and owners', () => {
    const expected = [...renderNodeConfigFiles(spec, 'pg-0'), ...renderSystemdUnitFiles(spec, 'pg-0')].map((f) => ({
      path: f.path,
      mode: f.mode,
      owner: `${f.owner}:${f.group}`,
      content: f.content,
    }));
    expect(embeddedFiles(script)).toEqual(expected);
    expect(expected.find((f) => f.path.endsWith('patroni.yml'))).toMatchObject({ mode: '0600', owner: 'postgres:postgres' });
  });

  test('holds placeholders and secret ids, never a password', () => {
    expect(script).toContain(`readonly superuser_secret_id='${OPTIONS.secretIds.superuser}'`);
    for (const placeholder of ['__SUPERUSER_PASSWORD__', '__REPLICATION_PASSWORD__', '__REWIND_PASSWORD__', '__RESTAPI_PASSWORD__']) {
      expect(script).toContain(`'${placeholder}=CDKF_`);
    }
    expect(() =>
      renderBootstrapScript(
        ec2Spec({ credentials: { ...spec.credentials, rewind: { username: 'rewind_user', password: 'hunter2' } } }),
        'pg-0',
        OPTIONS,
      ),
    ).toThrow('credentials.rewind.password must be a placeholder like __REWIND_PASSWORD__ in user data, not a password');
  });

  test('refuses two passwords sharing a placeholder', () => {
    const credentials = { ...spec.credentials, replication: { username: 'replicator', password: '__SUPERUSER_PASSWORD__' } };
    expect(() => renderBootstrapScript(ec2Spec({ credentials }), 'pg-0', OPTIONS)).toThrow(
      'credentials.replication.password reuses placeholder __SUPERUSER_PASSWORD__',
    );
  });

  test('reads each secret\'s password field with the instance role, in the given region', () => {
    expect(script).toContain('aws secretsmanager get-secret-value --region "$aws_region" --secret-id "$1"');
    expect(script).toContain("jq -er '.password | strings'");
    expect(script).toContain(`readonly aws_region='eu-west-1'`);
  });

  test('embeds the fill program unchanged and maps every placeholder to its variable', () => {
    expect(heredocBody(script, 'CDK_FAILOVER_FILL_PLACEHOLDERS')).toBe(FILL_PLACEHOLDERS_PY);
    expect(script).toContain(
      "'__SUPERUSER_PASSWORD__=CDKF_SUPERUSER' '__REPLICATION_PASSWORD__=CDKF_REPLICATION' \\\n  '__REWIND_PASSWORD__=CDKF_REWIND' '__RESTAPI_PASSWORD__=CDKF_REST_API'",
    );
  });

  test('shell-quotes option values so any characters survive', async () => {
    const awkward = `it's "$(echo expanded)" \`echo x\` $HOME \\ ;`;
    const text = renderBootstrapScript(spec, 'pg-0', { ...OPTIONS, secretIds: { ...OPTIONS.secretIds, restApi: awkward } });
    const line = text.split('\n').find((l) => l.startsWith('readonly rest_api_secret_id='));
    const echoed = await run('/bin/bash', ['-c', `${line}\nprintf '%s' "$rest_api_secret_id"`]);
    expect(echoed.stdout).toBe(awkward);
  });

  test('blocks service starts and the stock cluster before installing packages', () => {
    const install = script.indexOf('retry 5 10 install_packages');
    expect(install).toBeGreaterThan(0);
    for (const before of [
      'printf \'#!/bin/sh\\nexit 101\\n\' >/usr/sbin/policy-rc.d',
      "printf 'create_main_cluster = false\\n' >/etc/postgresql-common/createcluster.d/cdk-failover.conf",
      'systemctl mask etcd.service haproxy.service patroni.service postgresql@15-main.service',
    ]) {
      expect(script.indexOf(before)).toBeGreaterThan(0);
      expect(script.indexOf(before)).toBeLessThan(install);
    }
    expect(script).toMatch(/patroni python3-etcd python3-yaml etcd-server etcd-client haproxy postgresql-15 awscli jq/);
  });

  test('prepares the data volume: bounded wait, mkfs only without a filesystem, fstab by UUID with nofail', () => {
    expect(script).toContain('for ((waited = 0; waited < device_wait_seconds; waited += 2)); do');
    expect(script).toContain('readonly device_wait_seconds=300');
    expect(script).toMatch(/if \[ -z "\$fs_type" \]; then\n {2}mkfs\.ext4 -q "\$device"/);
    expect(script).toContain("printf 'UUID=%s %s ext4 defaults,noatime,nofail 0 2\\n' \"$uuid\" \"$data_mount_point\" >>/etc/fstab");
    expect(script).toContain("readonly data_mount_point='/var/lib/postgresql'");
  });

  test('loads softdog only when the watchdog is on, fatally only when required', () => {
    expect(renderBootstrapScript(ec2Spec({ watchdogMode: 'required' }), 'pg-0', OPTIONS)).toMatch(/^modprobe softdog$/m);
    expect(renderBootstrapScript(ec2Spec({ watchdogMode: 'automatic' }), 'pg-0', OPTIONS)).toMatch(/^modprobe softdog \|\| echo/m);
    expect(renderBootstrapScript(ec2Spec({ watchdogMode: 'off' }), 'pg-0', OPTIONS)).not.toContain('modprobe');
  });

  test('enables and starts the four units, the metrics publisher last', () => {
    expect(script).toContain(
      'systemctl enable --now --no-block cdk-failover-etcd.service cdk-failover-patroni.service cdk-failover-haproxy.service cdk-failover-metrics.service',
    );
  });

  test('writes the metrics publisher and its unit', () => {
    const files = embeddedFiles(script);
    expect(files.find((f) => f.path === '/etc/cdk-failover/metrics_publisher.py')).toMatchObject({
      mode: '0755',
      owner: 'root:root',
      content: renderMetricsPublisher(spec, 'pg-0'),
    });
    expect(files.map((f) => f.path)).toContain('/etc/systemd/system/cdk-failover-metrics.service');
  });

  test('is deterministic', () => {
    expect(renderBootstrapScript(ec2Spec(), 'pg-0', OPTIONS)).toBe(script);
  });

  test('refuses a data directory outside the data volume, and an unknown node', () => {
    expect(() => renderBootstrapScript(spec, 'pg-0', { ...OPTIONS, dataVolume: { device: '/dev/sdf', mountPoint: '/data' } })).toThrow(
      "dataVolume.mountPoint must be an absolute path that contains the data directory /var/lib/postgresql/15/patroni, got '/data'",
    );
    expect(() => renderBootstrapScript(spec, 'pg-5', OPTIONS)).toThrow("nodeName 'pg-5' is not a node of cluster 'orders-db'");
  });
});

describe('the fill program (run by the bootstrap script with Debian\'s python3 and PyYAML)', () => {
  let dir: string;
  let spec: ClusterSpec;
  beforeEach(() => {
    dir = makeTmpDir('fill');
    spec = ec2Spec();
  });
  afterEach(() => removeTmpDir(dir));

  const PLACEHOLDER_ARGS = ['__SUPERUSER_PASSWORD__=A', '__REPLICATION_PASSWORD__=B', '__REWIND_PASSWORD__=C', '__RESTAPI_PASSWORD__=D'];

  function fill(file: string, env: Record<string, string>, args = PLACEHOLDER_ARGS) {
    return run('/usr/bin/python3', ['-', file, ...args], { input: FILL_PLACEHOLDERS_PY, env: { PATH: '/usr/bin:/bin', ...env } });
  }

  test('puts arbitrary passwords in, as PyYAML reads them back, and leaves the file 0600', async () => {
    const file = path.join(dir, 'patroni.yml');
    fs.writeFileSync(file, renderPatroniConfig(spec, 'pg-0'), { mode: 0o644 });
    const passwords = { A: `a'b"c: #d\\e`, B: 'off', C: '12:30', D: ' - [x] {y} é\n' };
    expect(await fill(file, passwords)).toEqual({ code: 0, stdout: '', stderr: '' });
    const read = await run('/usr/bin/python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', file]);
    const config = JSON.parse(read.stdout);
    expect(config.postgresql.authentication.superuser.password).toBe(passwords.A);
    expect(config.postgresql.authentication.replication.password).toBe(passwords.B);
    expect(config.postgresql.authentication.rewind.password).toBe(passwords.C);
    expect(config.restapi.authentication.password).toBe(passwords.D);
    expect(config.watchdog.mode).toBe('required');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  test('fails, naming the placeholder, when one is not in the file, and leaves the file as it was', async () => {
    const file = path.join(dir, 'patroni.yml');
    const original = renderPatroniConfig(spec, 'pg-0');
    fs.writeFileSync(file, original);
    const result = await fill(file, { A: 'x', B: 'y', C: 'z', D: 'w', E: 'v' }, [...PLACEHOLDER_ARGS, '__OTHER_PASSWORD__=E']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('placeholders not found in');
    expect(result.stderr).toContain('__OTHER_PASSWORD__');
    expect(fs.readFileSync(file, 'utf8')).toBe(original);
  });
});
