import * as fs from 'fs';
import * as path from 'path';
import {
  AGENT_ACTIONS,
  ClusterSpec,
  FILL_PLACEHOLDERS_PY,
  NODE_AGENT_PATH,
  NODE_AGENT_PY,
  NodeBundleOptions,
  renderBootstrapScript,
  renderNodeBundle,
  renderNodeConfigFiles,
  renderPatroniConfig,
  renderSystemdUnitFiles,
  renderSystemFiles,
} from '../../../lib/patroni/config';
import { ec2Spec, makeTmpDir, removeTmpDir, run } from './fixtures';
import { DRAIN_ON_STOP } from '../../../lib/patroni/config/agent-units';

const OPTIONS: NodeBundleOptions = {
  secretIds: {
    superuser: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-db/superuser-AbCdEf',
    replication: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-db/replication-AbCdEf',
    rewind: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-db/rewind-AbCdEf',
    restApi: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-db/restapi-AbCdEf',
  },
  dataVolume: { device: '/dev/sdf', volumeId: 'vol-0123456789abcdef0' },
};

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

  test('writes no file itself: the node agent writes the bundle\'s files, between the directories and the services', () => {
    expect(script).not.toContain('<<');
    const write = script.indexOf(`${NODE_AGENT_PATH} write-files`);
    expect(write).toBeGreaterThan(script.indexOf('install -d -o etcd -g etcd -m 0700 "$etcd_data_dir"'));
    expect(write).toBeLessThan(script.indexOf('systemctl enable --now'));
  });

  test('waits for dpkg\'s lock (unattended-upgrades on a fresh instance), bounded', () => {
    expect(script).toContain('apt-get update -q -o DPkg::Lock::Timeout=600');
    expect(script).toContain('apt-get install -y -q -o DPkg::Lock::Timeout=600');
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
    expect(script).toMatch(/patroni python3-etcd python3-yaml etcd-server etcd-client haproxy postgresql-15 pgbackrest awscli jq nftables/);
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

  test('enables and starts the four units (the agent enables its timer once the node is ready)', () => {
    expect(script).toContain(
      'systemctl enable --now --no-block cdk-failover-etcd.service cdk-failover-patroni.service cdk-failover-haproxy.service cdk-failover-metrics.service\n',
    );
  });

  test('turns the IMDS firewall on, waiting for it, after the files are written and the credential broker is asked to start, before any service starts', () => {
    const broker = script.indexOf('systemctl enable --now --no-block cdk-failover-credentials.service\n');
    const firewall = script.indexOf('systemctl enable --now cdk-failover-imds-firewall.service\n');
    expect(broker).toBeGreaterThan(script.indexOf(`${NODE_AGENT_PATH} write-files`));
    expect(firewall).toBeGreaterThan(broker);
    expect(firewall).toBeLessThan(script.indexOf('systemctl enable --now --no-block cdk-failover-etcd.service'));
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

describe('renderNodeBundle', () => {
  const spec = ec2Spec();
  const bundle = renderNodeBundle(spec, 'pg-0', OPTIONS);

  test('holds exactly the rendered files, byte for byte, then the agent and its units', () => {
    const rendered = [...renderNodeConfigFiles(spec, 'pg-0'), ...renderSystemdUnitFiles(spec, 'pg-0'), ...renderSystemFiles(spec, 'pg-0')];
    expect(bundle.files.slice(0, rendered.length).map(({ path: p, content, mode, owner, group }) => ({ path: p, content, mode, owner, group }))).toEqual(rendered);
    expect(bundle.files.slice(rendered.length).map((f) => f.path)).toEqual([
      NODE_AGENT_PATH,
      '/etc/systemd/system/cdk-failover-agent.service',
      '/etc/systemd/system/cdk-failover-agent.timer',
      '/etc/systemd/system/cdk-failover-drain.service',
    ]);
    expect(bundle.files.find((f) => f.path === NODE_AGENT_PATH)?.content).toBe(NODE_AGENT_PY);
    expect(bundle.bootstrap).toBe(renderBootstrapScript(spec, 'pg-0', OPTIONS));
  });

  test('says what a change of each file takes: reloads where the program has one, restarts otherwise', () => {
    const onChange = Object.fromEntries(bundle.files.map((f) => [path.basename(f.path), f.onChange]));
    expect(onChange).toEqual({
      'patroni.yml': ['reload-patroni'],
      'etcd.conf.yml': ['restart-etcd'],
      'haproxy.cfg': ['reload-haproxy'],
      'on_role_change.sh': [],
      'metrics_publisher.py': ['restart-metrics'],
      'cdk-failover-etcd.service': ['daemon-reload', 'restart-etcd'],
      'cdk-failover-patroni.service': ['daemon-reload', 'restart-patroni'],
      'cdk-failover-haproxy.service': ['daemon-reload', 'restart-haproxy'],
      'cdk-failover-metrics.service': ['daemon-reload', 'restart-metrics'],
      '90cdk-failover-proxy': [], // apt reads it afresh
      'imds-firewall.nft': [], // the agent keeps it loaded at every run (an older agent knows no action for it)
      'cdk-failover-imds-firewall.service': ['daemon-reload'],
      // Started (restarted on a change) by the agent before it loads the firewall, at every run.
      'credential-broker.py': [],
      'cdk-failover-credentials.service': ['daemon-reload'],
      'cdk-failover-agent': [],
      'cdk-failover-agent.service': ['daemon-reload'],
      'cdk-failover-agent.timer': ['daemon-reload'],
      // Enabled by the agent once the node is ready; only its ExecStop does anything.
      'cdk-failover-drain.service': ['daemon-reload'],
    });
    expect(bundle.actionOrder).toEqual(AGENT_ACTIONS);
    expect(AGENT_ACTIONS[AGENT_ACTIONS.length - 1]).toBe('restart-patroni');
  });

  test('the drain unit drains before Patroni, etcd, HAProxy and the network stop, and bounds the shutdown it holds', () => {
    const unit = bundle.files.find((f) => f.path === '/etc/systemd/system/cdk-failover-drain.service')!.content;
    const lines = unit.split('\n');
    // Stopped in reverse order of start: after these at boot, so before them at shutdown.
    // The leader keeps publishing that it leads, and an operator can reach the node, while it waits.
    expect(lines).toContain(
      'After=network-online.target nss-lookup.target cdk-failover-etcd.service cdk-failover-patroni.service cdk-failover-haproxy.service cdk-failover-metrics.service amazon-ssm-agent.service',
    );
    expect(lines).toContain(`ExecStop=/usr/bin/python3 -I ${NODE_AGENT_PATH} drain-on-stop`);
    expect(lines).toEqual(expect.arrayContaining(['Type=oneshot', 'RemainAfterExit=yes', 'ExecStart=/bin/true', 'WantedBy=multi-user.target']));
    // The agent's budget and a minute: under the 30 minutes after which systemd forces the power-off.
    expect(lines).toContain(`TimeoutStopSec=${DRAIN_ON_STOP.budgetSeconds + 60}`);
    expect(DRAIN_ON_STOP.budgetSeconds + 60).toBeLessThan(30 * 60);
    // A stop nobody coordinates ends before EC2 hard-reboots (four minutes after RebootInstances).
    expect(DRAIN_ON_STOP.otherBudgetSeconds).toBeLessThan(4 * 60);
    // The coordinated budget holds the steps, the last member's return (300 s) and the leader's settle time.
    expect(DRAIN_ON_STOP.budgetSeconds).toBeGreaterThan(DRAIN_ON_STOP.stepSeconds + 300 + DRAIN_ON_STOP.settleSeconds);
    expect(bundle.units.drain).toBe('cdk-failover-drain.service');
  });

  test('holds placeholders and secret ids, never a password', () => {
    expect(bundle.passwords).toEqual({
      __SUPERUSER_PASSWORD__: OPTIONS.secretIds.superuser,
      __REPLICATION_PASSWORD__: OPTIONS.secretIds.replication,
      __REWIND_PASSWORD__: OPTIONS.secretIds.rewind,
      __RESTAPI_PASSWORD__: OPTIONS.secretIds.restApi,
    });
    expect(bundle.fillProgram).toBe(FILL_PLACEHOLDERS_PY);
    expect(() =>
      renderNodeBundle(ec2Spec({ credentials: { ...spec.credentials, rewind: { username: 'rewind_user', password: 'hunter2' } } }), 'pg-0', OPTIONS),
    ).toThrow('credentials.rewind.password must be a placeholder like __REWIND_PASSWORD__ in a template, not a password');
  });

  test('refuses two passwords sharing a placeholder, and non-positive budgets', () => {
    const credentials = { ...spec.credentials, replication: { username: 'replicator', password: '__SUPERUSER_PASSWORD__' } };
    expect(() => renderNodeBundle(ec2Spec({ credentials }), 'pg-0', OPTIONS)).toThrow(
      'credentials.replication.password reuses placeholder __SUPERUSER_PASSWORD__',
    );
    expect(() => renderNodeBundle(spec, 'pg-0', { ...OPTIONS, readySeconds: 0 })).toThrow('readySeconds must be a positive whole number of seconds, got 0');
    expect(() => renderNodeBundle(spec, 'pg-0', { ...OPTIONS, applySeconds: 1.5 })).toThrow('applySeconds must be a positive whole number of seconds, got 1.5');
  });

  test('is deterministic', () => {
    expect(renderNodeBundle(ec2Spec(), 'pg-0', OPTIONS)).toEqual(bundle);
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
