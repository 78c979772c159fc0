// The instance metadata service for root only: any other local user (haproxy, etcd, or postgres
// through COPY ... PROGRAM) would otherwise take the instance role's credentials, and with them the
// cluster's secrets, from 169.254.169.254. An nftables owner match on the node's own output, as AWS
// documents with iptables; and nothing routed through the node reaches it either (what an IMDS hop
// limit of 1 does, without changing the launch template, which would replace every instance at
// once). postgres's requests go to the credential broker instead, which hands out the process
// role (metrics and backups only); the broker's port takes nobody else.
import { BROKER_USERS, CREDENTIAL_BROKER_ADDRESS } from './credential-broker';

export const IMDS_FIREWALL_FILE = '/etc/cdk-failover/imds-firewall.nft';
export const IMDS_FIREWALL_UNIT = 'cdk-failover-imds-firewall.service';
const TABLE = 'inet cdk_failover_imds';

/** Who may ask IMDS itself: root (the node agent: files, secrets, signals; the credential broker). */
export const IMDS_USERS = ['root'] as const;

/** The ruleset, loaded as one transaction (a reload replaces the table whole). */
export function renderImdsFirewall(): string {
  const users = IMDS_USERS.join(', ');
  const brokered = BROKER_USERS.join(', ');
  const { address, port } = CREDENTIAL_BROKER_ADDRESS;
  return [
    '#!/usr/sbin/nft -f',
    `# Rendered by cdk-failover: IMDS for ${IMDS_USERS.join(' and ')} only, ${BROKER_USERS.join(' and ')} to the credential broker. Edits are overwritten.`,
    `table ${TABLE}`,
    `delete table ${TABLE}`,
    `table ${TABLE} {`,
    // Before the filter: the filter then sees the broker's address, not IMDS's.
    '  chain to_broker {',
    '    type nat hook output priority -100; policy accept;',
    `    ip daddr 169.254.169.254 tcp dport 80 meta skuid { ${brokered} } counter dnat ip to ${address}:${port}`,
    '  }',
    '  chain output {',
    '    type filter hook output priority filter; policy accept;',
    `    ip daddr 169.254.169.254 meta skuid != { ${users} } counter reject`,
    `    ip6 daddr fd00:ec2::254 meta skuid != { ${users} } counter reject`,
    `    ip daddr ${address} tcp dport ${port} meta skuid != { ${brokered} } counter reject`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    '    ip daddr 169.254.169.254 counter drop',
    '    ip6 daddr fd00:ec2::254 counter drop',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Loads the ruleset at every boot, before the network is up. */
export function renderImdsFirewallUnit(clusterName: string): string {
  return [
    '[Unit]',
    `Description=IMDS for ${IMDS_USERS.join(' and ')} only, ${BROKER_USERS.join(' and ')} to the credential broker, cluster ${clusterName} (rendered by cdk-failover)`,
    'DefaultDependencies=no',
    'After=local-fs.target',
    'Before=network-pre.target shutdown.target',
    'Wants=network-pre.target',
    'Conflicts=shutdown.target',
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `ExecStart=/usr/sbin/nft -f ${IMDS_FIREWALL_FILE}`,
    `ExecReload=/usr/sbin/nft -f ${IMDS_FIREWALL_FILE}`,
    `ExecStop=/usr/sbin/nft delete table ${TABLE}`,
    '',
    '[Install]',
    'WantedBy=sysinit.target',
    '',
  ].join('\n');
}
