// A node's first boot: packages, data volume, watchdog, then the node agent writes the rendered
// files (and the passwords from Secrets Manager) and the services start. It travels in the node's
// bundle (node-bundle.ts); the node agent runs it once per instance.
import { APT_PROXY_FILE, aptProxyOptions } from './apt-proxy';
import { CREDENTIAL_BROKER_UNIT } from './credential-broker';
import { IMDS_FIREWALL_UNIT } from './imds-firewall';
import { NODE_AGENT_PATH } from './agent-units';
import { findNode } from './nodes';
import { nodePackages } from './packages';
import { nodePaths } from './paths';
import { backupUnitsToRun } from './backup-runner';
import { checkedBackup, pgBackRestDirs } from './pgbackrest';
import { shellQuote } from './shell';
import { ClusterSpec, WatchdogModeName } from './spec';
import { SYSTEMD_UNIT_NAMES, unitsToMask } from './systemd-units';

export interface DataVolumeOptions {
  /** Device name the volume is attached as, e.g. `/dev/sdf`. */
  readonly device: string;
  /**
   * The EBS volume ID. On Nitro instances the volume shows up as an NVMe device that may have no
   * `/dev/sdf` alias; its serial is the volume ID, so the script finds it under /dev/disk/by-id.
   * @default - only `device` is looked for
   */
  readonly volumeId?: string;
  /**
   * Where the volume is mounted; the node's dataDir must be inside.
   * @default '/var/lib/postgresql'
   */
  readonly mountPoint?: string;
  /**
   * How long to wait for the volume to be attached.
   * @default 300
   */
  readonly waitSeconds?: number;
}

export interface BootstrapOptions {
  readonly dataVolume: DataVolumeOptions;
}

function dataMountPoint(dataDir: string, options: BootstrapOptions): string {
  const mountPoint = options.dataVolume.mountPoint ?? '/var/lib/postgresql';
  if (!/^\/[A-Za-z0-9._/-]+$/.test(mountPoint) || !dataDir.startsWith(`${mountPoint.replace(/\/$/, '')}/`)) {
    throw new Error(`dataVolume.mountPoint must be an absolute path that contains the data directory ${dataDir}, got '${mountPoint}'`);
  }
  return mountPoint;
}

/** Shell lines that give Patroni its watchdog: softdog, loaded at every boot, writable by postgres. */
function watchdogSetup(mode: WatchdogModeName): string[] {
  if (mode === 'off') return ['# watchdog: off. Patroni runs without one.'];
  return [
    "# Patroni's watchdog: softdog (in Debian's cloud kernel), writable by postgres, loaded at every boot.",
    mode === 'required'
      ? 'modprobe softdog'
      : 'modprobe softdog || echo "softdog could not be loaded: watchdog mode automatic runs without it" >&2',
    "printf 'softdog\\n' >/etc/modules-load.d/cdk-failover-softdog.conf",
    `printf '%s\\n' 'KERNEL=="watchdog*", OWNER="postgres", GROUP="postgres", MODE="0600"' >/etc/udev/rules.d/61-cdk-failover-watchdog.rules`,
    'udevadm control --reload-rules',
    'udevadm settle',
    'if [ -e /dev/watchdog ]; then chown postgres:postgres /dev/watchdog; chmod 0600 /dev/watchdog; fi',
  ];
}

/**
 * The first-boot bash script for `nodeName`: everything but the rendered files, which the node
 * agent writes when the script calls it (so first boot and later changes write them one way).
 */
export function renderBootstrapScript(spec: ClusterSpec, nodeName: string, options: BootstrapOptions): string {
  const node = findNode(spec, nodeName);
  const paths = nodePaths(spec, node);
  const mountPoint = dataMountPoint(paths.dataDir, options);
  const waitSeconds = options.dataVolume.waitSeconds ?? 300;
  if (!Number.isInteger(waitSeconds) || waitSeconds < 1) {
    throw new Error(`dataVolume.waitSeconds must be a positive whole number, got ${waitSeconds}`);
  }
  const units = [
    SYSTEMD_UNIT_NAMES.etcd,
    SYSTEMD_UNIT_NAMES.patroni,
    SYSTEMD_UNIT_NAMES.haproxy,
    SYSTEMD_UNIT_NAMES.metrics,
    ...backupUnitsToRun(spec),
  ];
  const q = shellQuote;

  return `#!/bin/bash
# First boot of node ${node.name} of cluster ${spec.clusterName}. Rendered by cdk-failover; run
# by the node agent. Installs Debian's packages, prepares the data volume, has the agent write the
# rendered files (the passwords from Secrets Manager into patroni.yml) and starts etcd, Patroni,
# HAProxy and the metrics publisher (the agent enables its timer once the node is ready).
set -euo pipefail

readonly data_device=${q(options.dataVolume.device)}
readonly data_volume_id=${q(options.dataVolume.volumeId ?? '')}
readonly data_mount_point=${q(mountPoint)}
readonly device_wait_seconds=${waitSeconds}
export DEBIAN_FRONTEND=noninteractive

# retry ATTEMPTS DELAY COMMAND...: boot-time networking and instance credentials can lag.
retry() {
  local attempts="$1" delay="$2" n
  shift 2
  for ((n = 1; n <= attempts; n++)); do
    if "$@"; then return 0; fi
    if ((n < attempts)); then sleep "$delay"; fi
  done
  echo "cdk-failover: failed after $attempts attempts: $1 (runbook: A node's bootstrap failed)" >&2
  return 1
}

# --- Keep the packages from starting services or creating a PostgreSQL cluster of their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d
  chmod 0755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
install -d -m 0755 /etc/postgresql-common/createcluster.d
printf 'create_main_cluster = false\\n' >/etc/postgresql-common/createcluster.d/cdk-failover.conf
chmod 0644 /etc/postgresql-common/createcluster.d/cdk-failover.conf
systemctl mask ${unitsToMask(spec).join(' ')}

# --- Data volume: wait for it, make a filesystem only if it has none, mount it by UUID.
find_data_device() {
  local candidate
  local candidates=("$data_device")
  if [ -n "$data_volume_id" ]; then
    candidates+=("/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_\${data_volume_id//-/}")
  fi
  for candidate in "\${candidates[@]}"; do
    if [ -b "$candidate" ]; then
      readlink -f "$candidate"
      return 0
    fi
  done
  return 1
}
device=""
for ((waited = 0; waited < device_wait_seconds; waited += 2)); do
  if device="$(find_data_device)"; then break; fi
  sleep 2
done
if [ -z "$device" ]; then
  echo "cdk-failover: data volume $data_device \${data_volume_id:+($data_volume_id) }not attached after \${device_wait_seconds}s (runbook: A node's bootstrap failed)" >&2
  exit 1
fi
fs_type="$(blkid -p -o value -s TYPE "$device" || true)"
if [ -z "$fs_type" ]; then
  mkfs.ext4 -q "$device"
  udevadm settle
fi
uuid="$(blkid -p -o value -s UUID "$device")"
if ! grep -q "^UUID=$uuid " /etc/fstab; then
  printf 'UUID=%s %s ext4 defaults,noatime,nofail 0 2\\n' "$uuid" "$data_mount_point" >>/etc/fstab
fi
install -d -m 0755 "$data_mount_point"
systemctl daemon-reload
mountpoint -q "$data_mount_point" || mount "$data_mount_point"

# --- Packages (Debian 12's: the versions the local rehearsal cluster runs), through the proxy if any
# (on the command line: the agent's write-files puts it in ${APT_PROXY_FILE} for later apt runs).
install_packages() {
  # unattended-upgrades may hold dpkg's lock on a fresh instance: wait for it, bounded.
  apt-get update -q -o DPkg::Lock::Timeout=600${aptProxyOptions(spec)} &&
    apt-get install -y -q -o DPkg::Lock::Timeout=600${aptProxyOptions(spec)} -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \\
      ${nodePackages(spec.postgresVersion).join(' ')}
}
retry 5 10 install_packages
# A later Patroni would raise a short timing to its own minimums, silently: refuse it here.
${NODE_AGENT_PATH} check-patroni
if [ -d /etc/postgresql/${spec.postgresVersion}/main ]; then
  pg_dropcluster --stop ${spec.postgresVersion} main # Patroni alone manages PostgreSQL here
fi

# --- Directories. A data volume from an earlier instance may carry other uids for postgres and
# etcd (whose member data is on the volume too, so that a replacement resumes the same member).
readonly etcd_data_dir=${q(paths.etcdDataDir)}
find "$data_mount_point" -xdev -path "$etcd_data_dir" -prune -o ! -user postgres -exec chown postgres:postgres {} +
install -d -m 0755 ${q(paths.configDir)}
install -d -o postgres -g postgres -m 0700 ${q(paths.dataDir)}
install -d -o postgres -g postgres -m 0755 ${q(paths.logDir)} ${q(paths.runDir)}
install -d -o etcd -g etcd -m 0700 "$etcd_data_dir"
${checkedBackup(spec) ? `install -d -o postgres -g postgres -m 0750 ${Object.values(pgBackRestDirs(paths)).map(q).join(' ')}
` : ''}find "$etcd_data_dir" -xdev ! -user etcd -exec chown etcd:etcd {} +

${watchdogSetup(spec.watchdogMode).join('\n')}

# --- The rendered files, and the passwords from Secrets Manager in patroni.yml (the instance role
# reads them; they never pass through this script). A failure's last line names the secret.
${NODE_AGENT_PATH} write-files

# --- Services: the credential broker (ready once STS has answered; Patroni's start waits for it,
# the boot does not), then the IMDS firewall (root only; postgres to the broker), so no other
# user ever reaches IMDS.
systemctl daemon-reload
systemctl enable --now --no-block ${CREDENTIAL_BROKER_UNIT}
systemctl enable --now ${IMDS_FIREWALL_UNIT}
systemctl enable --now --no-block ${units.join(' ')}
echo "cdk-failover: node ${node.name} bootstrapped"
`;
}
