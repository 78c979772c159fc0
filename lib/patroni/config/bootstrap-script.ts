// EC2 user data for one node: packages, data volume, watchdog, files, secrets, services.
// Holds secret ids and placeholders only; the passwords are read on the node by its role.
import * as path from 'path';
import { FILL_PLACEHOLDERS_PY } from './fill-placeholders';
import { findNode } from './nodes';
import { nodePackages } from './packages';
import { configFilePath, nodePaths } from './paths';
import { RenderedFile, renderNodeConfigFiles, renderSystemdUnitFiles } from './node-files';
import { quotedHeredoc, shellQuote } from './shell';
import { ClusterCredentials, ClusterSpec, WatchdogModeName } from './spec';
import { SYSTEMD_UNIT_NAMES, unitsToMask } from './systemd-units';

/** Secrets Manager secret ARNs (or names). Each SecretString is JSON with a string `password` field. */
export interface BootstrapSecretIds {
  readonly superuser: string;
  readonly replication: string;
  readonly rewind: string;
  readonly restApi: string;
}

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
  /** Region of the secrets (may be a CDK token). */
  readonly region: string;
  readonly secretIds: BootstrapSecretIds;
  readonly dataVolume: DataVolumeOptions;
}

const PLACEHOLDER = /^__[A-Z0-9_]+__$/;
const CREDENTIALS = ['superuser', 'replication', 'rewind', 'restApi'] as const;

/** Throws unless every password in the spec is a distinct `__NAME__` placeholder (never a real secret in user data). */
function checkPlaceholders(credentials: ClusterCredentials): void {
  const seen = new Set<string>();
  for (const key of CREDENTIALS) {
    const placeholder = credentials[key].password;
    if (!PLACEHOLDER.test(placeholder)) {
      throw new Error(
        `credentials.${key}.password must be a placeholder like __${key.toUpperCase()}_PASSWORD__ in user data, not a password`,
      );
    }
    if (seen.has(placeholder)) {
      throw new Error(`credentials.${key}.password reuses placeholder ${placeholder}: each password needs its own`);
    }
    seen.add(placeholder);
  }
}

function writeFileCommand(file: RenderedFile, index: number): string {
  const delimiter = `CDK_FAILOVER_FILE_${index}_${path.posix.basename(file.path).replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}`;
  return quotedHeredoc(`write_file ${shellQuote(file.path)} ${file.mode} ${file.owner}:${file.group}`, delimiter, file.content);
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
 * The user-data bash script for `nodeName`. The spec's passwords must be placeholders; the script
 * replaces them in patroni.yml with the secrets' `password` fields.
 */
export function renderBootstrapScript(spec: ClusterSpec, nodeName: string, options: BootstrapOptions): string {
  const node = findNode(spec, nodeName);
  const paths = nodePaths(spec, node);
  checkPlaceholders(spec.credentials);
  const mountPoint = dataMountPoint(paths.dataDir, options);
  const waitSeconds = options.dataVolume.waitSeconds ?? 300;
  if (!Number.isInteger(waitSeconds) || waitSeconds < 1) {
    throw new Error(`dataVolume.waitSeconds must be a positive whole number, got ${waitSeconds}`);
  }
  const files = [...renderNodeConfigFiles(spec, nodeName), ...renderSystemdUnitFiles(spec, nodeName)];
  const units = [SYSTEMD_UNIT_NAMES.etcd, SYSTEMD_UNIT_NAMES.patroni, SYSTEMD_UNIT_NAMES.haproxy, SYSTEMD_UNIT_NAMES.metrics];
  const { credentials } = spec;
  const q = shellQuote;
  const fillCommand = quotedHeredoc(
    [
      'CDKF_SUPERUSER="$superuser_password" CDKF_REPLICATION="$replication_password" \\',
      '  CDKF_REWIND="$rewind_password" CDKF_REST_API="$rest_api_password" \\',
      '  /usr/bin/python3 - "$patroni_config" \\',
      `  ${q(`${credentials.superuser.password}=CDKF_SUPERUSER`)} ${q(`${credentials.replication.password}=CDKF_REPLICATION`)} \\`,
      `  ${q(`${credentials.rewind.password}=CDKF_REWIND`)} ${q(`${credentials.restApi.password}=CDKF_REST_API`)}`,
    ].join('\n'),
    'CDK_FAILOVER_FILL_PLACEHOLDERS',
    FILL_PLACEHOLDERS_PY,
  );


  return `#!/bin/bash
# EC2 user data for node ${node.name} of cluster ${spec.clusterName}. Rendered by cdk-failover.
# Installs Debian's packages, prepares the data volume, writes the rendered files, puts the
# passwords from Secrets Manager into patroni.yml and starts etcd, Patroni, HAProxy and the
# metrics publisher.
set -euo pipefail

readonly aws_region=${q(options.region)}
readonly superuser_secret_id=${q(options.secretIds.superuser)}
readonly replication_secret_id=${q(options.secretIds.replication)}
readonly rewind_secret_id=${q(options.secretIds.rewind)}
readonly rest_api_secret_id=${q(options.secretIds.restApi)}
readonly data_device=${q(options.dataVolume.device)}
readonly data_volume_id=${q(options.dataVolume.volumeId ?? '')}
readonly data_mount_point=${q(mountPoint)}
readonly device_wait_seconds=${waitSeconds}
readonly patroni_config=${q(configFilePath(paths, 'patroni'))}
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

# write_file PATH MODE OWNER:GROUP < content
write_file() {
  install -d -m 0755 "$(dirname "$1")"
  cat >"$1"
  chown "$3" "$1"
  chmod "$2" "$1"
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

# --- Packages (Debian 12's: the versions the local rehearsal cluster runs).
install_packages() {
  apt-get update -q &&
    apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \\
      ${nodePackages(spec.postgresVersion).join(' ')}
}
retry 5 10 install_packages
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
find "$etcd_data_dir" -xdev ! -user etcd -exec chown etcd:etcd {} +

${watchdogSetup(spec.watchdogMode).join('\n')}

# --- The rendered files, byte for byte (quoted heredocs: nothing is expanded).
${files.map(writeFileCommand).join('\n')}

# --- Secrets: the instance role reads them; they reach python through the environment only.
# read_password SECRET_ID: its password field. When it cannot (no permission, no such secret, no
# endpoint), the last line on stderr says which secret and what AWS answered.
read_password() {
  local secret_string error_file attempt
  error_file="$(mktemp)"
  for ((attempt = 1; attempt <= 10; attempt++)); do
    if secret_string="$(aws secretsmanager get-secret-value --region "$aws_region" --secret-id "$1" \\
      --query SecretString --output text 2>"$error_file")"; then
      rm -f "$error_file"
      if jq -er '.password | strings' <<<"$secret_string"; then return 0; fi
      echo "cdk-failover: secret $1 has no string field 'password' (runbook: A node's bootstrap failed)" >&2
      return 1
    fi
    if ((attempt < 10)); then sleep 6; fi
  done
  echo "cdk-failover: cannot read secret $1 in $aws_region after 10 attempts: $(grep -v '^[[:space:]]*$' "$error_file" | tail -n 1) (runbook: A node's bootstrap failed)" >&2
  rm -f "$error_file"
  return 1
}
superuser_password="$(read_password "$superuser_secret_id")"
replication_password="$(read_password "$replication_secret_id")"
rewind_password="$(read_password "$rewind_secret_id")"
rest_api_password="$(read_password "$rest_api_secret_id")"
${fillCommand}
unset superuser_password replication_password rewind_password rest_api_password

# --- Services.
systemctl daemon-reload
systemctl enable --now --no-block ${units.join(' ')}
echo "cdk-failover: node ${node.name} bootstrapped"
`;
}
