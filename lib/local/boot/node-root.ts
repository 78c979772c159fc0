// What EC2 and the VPC give a booted node, written into its own layer before it boots: the
// instance's user data and the one-shot unit that runs it like cloud-init, the VPC's name
// resolution for the regional AWS endpoints (pointing at the stand-in), the rehearsal CA, and
// the local APT repository in place of Debian's mirrors. Nothing of the node's own software.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Where the local repository is bind-mounted inside each node. */
export const REPO_MOUNT = '/srv/cdk-failover-rehearsal/apt';
/** The unit that runs the user data once per instance. */
export const USER_DATA_UNIT = 'cdk-failover-rehearsal-user-data.service';
/** cloud-init's per-instance semaphore for scripts-user: set, the user data does not run again. */
export const USER_DATA_SEMAPHORE = '/var/lib/cloud/instance/sem/config_scripts_user';
export const USER_DATA_FILE = '/var/lib/cloud/instance/scripts/part-001';
/** Written when the user data succeeded, as cloud-init writes it when it has finished. */
export const BOOT_FINISHED = '/var/lib/cloud/instance/boot-finished';

export interface NodeRootOptions {
  readonly instanceId: string;
  readonly address: string;
  /** The decoded user data, as the instance would receive it. */
  readonly userData: string;
  /** Host names (e.g. secretsmanager.<region>.amazonaws.com) and the address that answers them. */
  readonly endpoints: { readonly address: string; readonly hostNames: readonly string[] };
  /** PEM of the rehearsal CA that signed the endpoints' certificate. */
  readonly caCertificate: string;
}

// cloud-init runs scripts-user from cloud-final.service, after the network is online, at most once
// per instance (the semaphore is set whether or not the script succeeds), output in the journal.
const UNIT = `[Unit]
Description=EC2 user data, once per instance (rehearsal stand-in for cloud-init's scripts-user)
After=network-online.target
Wants=network-online.target
ConditionPathExists=!${USER_DATA_SEMAPHORE}

[Service]
Type=oneshot
ExecStartPre=/bin/touch ${USER_DATA_SEMAPHORE}
ExecStart=${USER_DATA_FILE}
ExecStartPost=/bin/touch ${BOOT_FINISHED}
RemainAfterExit=yes
TimeoutStartSec=0
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
`;

/**
 * systemd ignores block-device entries of /etc/fstab in a container (there is no udev to announce
 * the device), so the data volume's fstab line, which mounts it at every boot on EC2, would do
 * nothing after a rehearsal reboot. This early unit mounts fstab's ext4 entries in its place.
 */
export const FSTAB_UNIT = 'cdk-failover-rehearsal-fstab.service';
const FSTAB = `[Unit]
Description=Mount /etc/fstab's ext4 volumes (rehearsal stand-in for udev and systemd-fstab-generator)
DefaultDependencies=no
After=local-fs-pre.target
Before=local-fs.target

[Service]
Type=oneshot
ExecStart=/bin/mount --all --types ext4
RemainAfterExit=yes

[Install]
WantedBy=local-fs.target
`;

function enable(root: string, unit: string, content: string, target: string): void {
  write(root, `etc/systemd/system/${unit}`, content);
  const wants = path.join(root, `etc/systemd/system/${target}.wants`);
  fs.mkdirSync(wants, { recursive: true, mode: 0o755 });
  fs.rmSync(path.join(wants, unit), { force: true });
  fs.symlinkSync(`/etc/systemd/system/${unit}`, path.join(wants, unit));
}

function write(root: string, file: string, content: string, mode = 0o644): void {
  const target = path.join(root, file);
  fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
  fs.writeFileSync(target, content, { mode });
  fs.chmodSync(target, mode);
}

/** The EC2-style host name of an address: ip-10-0-0-1. */
export function ec2HostName(address: string): string {
  return `ip-${address.replace(/\./g, '-')}`;
}

/** Writes the instance's side of EC2 into a fresh node root (the image's files are not touched). */
export function prepareNodeRoot(root: string, o: NodeRootOptions): void {
  // APT: the local repository instead of deb.debian.org (no internet from a node).
  for (const f of ['etc/apt/sources.list', 'etc/apt/sources.list.d/debian.sources']) fs.rmSync(path.join(root, f), { force: true });
  write(root, 'etc/apt/sources.list.d/cdk-failover-rehearsal.list', `deb [trusted=yes] file:${REPO_MOUNT} ./\n`);
  fs.mkdirSync(path.join(root, REPO_MOUNT.slice(1)), { recursive: true, mode: 0o755 });

  // Identity and name resolution, as the VPC's DHCP and DNS give them.
  const hostName = ec2HostName(o.address);
  write(root, 'etc/hostname', `${hostName}\n`);
  const hosts = fs.readFileSync(path.join(root, 'etc/hosts'), 'utf8');
  write(root, 'etc/hosts', `${hosts.trimEnd()}\n${o.address} ${hostName}\n${o.endpoints.address} ${o.endpoints.hostNames.join(' ')}\n`);

  // The rehearsal CA, trusted as update-ca-certificates would (and kept when it runs again).
  write(root, 'usr/local/share/ca-certificates/cdk-failover-rehearsal.crt', o.caCertificate);
  const bundle = path.join(root, 'etc/ssl/certs/ca-certificates.crt');
  fs.appendFileSync(bundle, o.caCertificate.endsWith('\n') ? o.caCertificate : `${o.caCertificate}\n`);

  // cloud-init is in the image but finds no datasource in a container; the unit below runs the user data.
  write(root, 'etc/cloud/cloud-init.disabled', '');
  write(root, 'var/lib/cloud/data/instance-id', `${o.instanceId}\n`);
  write(root, USER_DATA_FILE.slice(1), o.userData, 0o700);
  fs.mkdirSync(path.join(root, path.dirname(USER_DATA_SEMAPHORE).slice(1)), { recursive: true, mode: 0o755 });
  enable(root, USER_DATA_UNIT, UNIT, 'multi-user.target');
  enable(root, FSTAB_UNIT, FSTAB, 'local-fs.target');
}
