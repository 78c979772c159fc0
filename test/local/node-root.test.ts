import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BOOT_FINISHED, ec2HostName, FSTAB_UNIT, prepareNodeRoot, REPO_MOUNT, USER_DATA_FILE, USER_DATA_SEMAPHORE, USER_DATA_UNIT } from '../../lib/local/boot/node-root';

describe('prepareNodeRoot', () => {
  let root: string;
  const read = (f: string) => fs.readFileSync(path.join(root, f), 'utf8');

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'node-root-'));
    // The image's files that the node's layer changes.
    fs.mkdirSync(path.join(root, 'etc/apt/sources.list.d'), { recursive: true });
    fs.writeFileSync(path.join(root, 'etc/apt/sources.list.d/debian.sources'), 'Types: deb\n');
    fs.writeFileSync(path.join(root, 'etc/hosts'), '127.0.0.1 localhost\n');
    fs.mkdirSync(path.join(root, 'etc/ssl/certs'), { recursive: true });
    fs.writeFileSync(path.join(root, 'etc/ssl/certs/ca-certificates.crt'), '-----BEGIN CERTIFICATE-----\nimage\n-----END CERTIFICATE-----\n');
    prepareNodeRoot(root, {
      instanceId: 'i-0123456789abcdef0',
      address: '10.213.77.11',
      userData: '#!/bin/bash\necho hi\n',
      endpoints: { address: '10.213.77.2', hostNames: ['secretsmanager.eu-west-1.amazonaws.com', 'monitoring.eu-west-1.amazonaws.com'] },
      caCertificate: '-----BEGIN CERTIFICATE-----\nrehearsal\n-----END CERTIFICATE-----',
    });
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  test('APT reads only the local repository', () => {
    expect(fs.existsSync(path.join(root, 'etc/apt/sources.list.d/debian.sources'))).toBe(false);
    expect(read('etc/apt/sources.list.d/cdk-failover-rehearsal.list')).toBe(`deb [trusted=yes] file:${REPO_MOUNT} ./\n`);
    expect(fs.statSync(path.join(root, REPO_MOUNT)).isDirectory()).toBe(true);
  });

  test('the instance is named as EC2 names it, and the regional endpoints resolve to the stand-in', () => {
    expect(ec2HostName('10.213.77.11')).toBe('ip-10-213-77-11');
    expect(read('etc/hostname')).toBe('ip-10-213-77-11\n');
    expect(read('etc/hosts')).toBe(
      '127.0.0.1 localhost\n10.213.77.11 ip-10-213-77-11\n10.213.77.2 secretsmanager.eu-west-1.amazonaws.com monitoring.eu-west-1.amazonaws.com\n',
    );
  });

  test('the rehearsal CA is trusted beside the image\'s and kept for update-ca-certificates', () => {
    expect(read('etc/ssl/certs/ca-certificates.crt')).toBe(
      '-----BEGIN CERTIFICATE-----\nimage\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nrehearsal\n-----END CERTIFICATE-----\n',
    );
    expect(read('usr/local/share/ca-certificates/cdk-failover-rehearsal.crt')).toContain('rehearsal');
  });

  test('the user data is the instance\'s (0700), run once per instance by an enabled unit; cloud-init is off', () => {
    expect(read(USER_DATA_FILE.slice(1))).toBe('#!/bin/bash\necho hi\n');
    expect(fs.statSync(path.join(root, USER_DATA_FILE)).mode & 0o777).toBe(0o700);
    expect(read('var/lib/cloud/data/instance-id')).toBe('i-0123456789abcdef0\n');
    const unit = read(`etc/systemd/system/${USER_DATA_UNIT}`);
    expect(unit).toContain(`ConditionPathExists=!${USER_DATA_SEMAPHORE}`);
    expect(unit).toContain(`ExecStartPre=/bin/touch ${USER_DATA_SEMAPHORE}`);
    expect(unit).toContain(`ExecStart=${USER_DATA_FILE}`);
    // Only a run that succeeded leaves cloud-init's boot-finished (a reboot cannot tell otherwise).
    expect(unit).toContain(`ExecStartPost=/bin/touch ${BOOT_FINISHED}`);
    expect(unit).toMatch(/^After=network-online\.target$/m);
    expect(fs.readlinkSync(path.join(root, 'etc/systemd/system/multi-user.target.wants', USER_DATA_UNIT))).toBe(`/etc/systemd/system/${USER_DATA_UNIT}`);
    expect(fs.statSync(path.join(root, path.dirname(USER_DATA_SEMAPHORE))).isDirectory()).toBe(true);
    expect(fs.existsSync(path.join(root, 'etc/cloud/cloud-init.disabled'))).toBe(true);
  });

  test('fstab\'s ext4 volumes are mounted early at every boot (systemd ignores fstab devices in a container)', () => {
    const unit = read(`etc/systemd/system/${FSTAB_UNIT}`);
    expect(unit).toContain('ExecStart=/bin/mount --all --types ext4');
    expect(unit).toMatch(/^Before=local-fs\.target$/m);
    expect(fs.readlinkSync(path.join(root, 'etc/systemd/system/local-fs.target.wants', FSTAB_UNIT))).toBe(`/etc/systemd/system/${FSTAB_UNIT}`);
  });
});
