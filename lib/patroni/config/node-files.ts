// Every file a node needs, with where it goes and who may read it: what the bootstrap script
// writes on EC2 and what the local cluster writes into each node's tree.
import { BACKUP_UNIT_NAMES, renderBackupRunner, renderBackupServerUnit, renderBackupService, renderBackupTimer } from './backup-runner';
import { APT_PROXY_FILE, renderAptProxyConfig } from './apt-proxy';
import { CREDENTIAL_BROKER_PROGRAM, CREDENTIAL_BROKER_UNIT, renderCredentialBroker, renderCredentialBrokerUnit } from './credential-broker';
import { IMDS_FIREWALL_FILE, IMDS_FIREWALL_UNIT, renderImdsFirewall, renderImdsFirewallUnit } from './imds-firewall';
import { renderEtcdConfig } from './etcd';
import { backsUpFromStandby, backupRunnerPath, checkedBackup, pgBackRestConfigPath, renderPgBackRestConfig } from './pgbackrest';
import { renderHaproxyConfig } from './haproxy';
import { renderMetricsPublisher } from './metrics-publisher';
import { findNode } from './nodes';
import { configFilePath, nodePaths } from './paths';
import { renderPatroniConfig } from './patroni-yml';
import { renderRoleChangeCallback } from './role-change-callback';
import { ClusterSpec } from './spec';
import { renderSsmAgentInstaller, SSM_AGENT_INSTALLER_PATH } from './ssm-agent';
import { renderEtcdUnit, renderHaproxyUnit, renderMetricsUnit, renderPatroniUnit, SYSTEMD_UNIT_NAMES } from './systemd-units';

export interface RenderedFile {
  /** Absolute path on the node. */
  readonly path: string;
  readonly content: string;
  /** Octal permission bits, e.g. `0600`. */
  readonly mode: string;
  readonly owner: string;
  readonly group: string;
}

/**
 * patroni.yml (0600, postgres: it will hold passwords), etcd.conf.yml, haproxy.cfg, the callback and
 * the metrics publisher.
 */
export function renderNodeConfigFiles(spec: ClusterSpec, nodeName: string): RenderedFile[] {
  const paths = nodePaths(spec, findNode(spec, nodeName));
  return [
    { path: configFilePath(paths, 'patroni'), content: renderPatroniConfig(spec, nodeName), mode: '0600', owner: 'postgres', group: 'postgres' },
    { path: configFilePath(paths, 'etcd'), content: renderEtcdConfig(spec, nodeName), mode: '0644', owner: 'root', group: 'root' },
    { path: configFilePath(paths, 'haproxy'), content: renderHaproxyConfig(spec, nodeName), mode: '0644', owner: 'root', group: 'root' },
    {
      path: configFilePath(paths, 'roleChangeCallback'),
      content: renderRoleChangeCallback(spec, nodeName),
      mode: '0755',
      owner: 'root',
      group: 'root',
    },
    {
      path: configFilePath(paths, 'metricsPublisher'),
      content: renderMetricsPublisher(spec, nodeName),
      mode: '0755',
      owner: 'root',
      group: 'root',
    },
    ...(checkedBackup(spec)
      ? [
          // Holds S3 keys only for the local stand-in (EC2: the process role, from the credential broker): postgres alone reads it.
          { path: pgBackRestConfigPath(paths), content: renderPgBackRestConfig(spec, nodeName), mode: '0600', owner: 'postgres', group: 'postgres' },
          { path: backupRunnerPath(paths), content: renderBackupRunner(spec, nodeName), mode: '0755', owner: 'root', group: 'root' },
        ]
      : []),
  ];
}

/**
 * The operating system's own files (apt's proxy, the IMDS firewall and the credential broker, the SSM agent's installer):
 * only an EC2 node's (or a booted rehearsal node's), never the local cluster's host.
 */
export function renderSystemFiles(spec: ClusterSpec, nodeName: string): RenderedFile[] {
  const root = (path: string, content: string): RenderedFile => ({ path, content, mode: '0644', owner: 'root', group: 'root' });
  return [
    root(APT_PROXY_FILE, renderAptProxyConfig(spec)),
    root(IMDS_FIREWALL_FILE, renderImdsFirewall()),
    root(`/etc/systemd/system/${IMDS_FIREWALL_UNIT}`, renderImdsFirewallUnit(spec.clusterName)),
    // Root's alone (mode 0700): it runs as root and is no one else's business.
    { ...root(CREDENTIAL_BROKER_PROGRAM, renderCredentialBroker(spec, nodeName)), mode: '0700' },
    root(`/etc/systemd/system/${CREDENTIAL_BROKER_UNIT}`, renderCredentialBrokerUnit(spec)),
    ...(spec.ssmAgent ? [{ ...root(SSM_AGENT_INSTALLER_PATH, renderSsmAgentInstaller(spec)), mode: '0755' }] : []),
  ];
}

/** The unit files, for /etc/systemd/system. */
export function renderSystemdUnitFiles(spec: ClusterSpec, nodeName: string): RenderedFile[] {
  const unit = (name: string, content: string): RenderedFile => ({
    path: `/etc/systemd/system/${name}`,
    content,
    mode: '0644',
    owner: 'root',
    group: 'root',
  });
  return [
    unit(SYSTEMD_UNIT_NAMES.etcd, renderEtcdUnit(spec, nodeName)),
    unit(SYSTEMD_UNIT_NAMES.patroni, renderPatroniUnit(spec, nodeName)),
    unit(SYSTEMD_UNIT_NAMES.haproxy, renderHaproxyUnit(spec, nodeName)),
    unit(SYSTEMD_UNIT_NAMES.metrics, renderMetricsUnit(spec, nodeName)),
    ...(checkedBackup(spec)
      ? [
          unit(BACKUP_UNIT_NAMES.service, renderBackupService(spec, nodeName)),
          unit(BACKUP_UNIT_NAMES.full, renderBackupTimer(spec, nodeName, 'full')),
          unit(BACKUP_UNIT_NAMES.diff, renderBackupTimer(spec, nodeName, 'diff')),
        ]
      : []),
    ...(backsUpFromStandby(spec) ? [unit(BACKUP_UNIT_NAMES.server, renderBackupServerUnit(spec, nodeName))] : []),
  ];
}
