// The instance metadata service for root and postgres only: a local user (haproxy, etcd, or any
// other) would otherwise take the instance role's credentials from 169.254.169.254. An nftables
// owner match on the node's own output, as AWS documents with iptables; and nothing routed through
// the node reaches it either (what an IMDS hop limit of 1 does, without changing the launch
// template, which would replace every instance at once).

export const IMDS_FIREWALL_FILE = '/etc/cdk-failover/imds-firewall.nft';
export const IMDS_FIREWALL_UNIT = 'cdk-failover-imds-firewall.service';
const TABLE = 'inet cdk_failover_imds';

/**
 * Who may ask IMDS for the role's credentials: root (the node agent: files, secrets, signals) and
 * postgres, whose metrics publisher and pgBackRest (repo1-s3-key-type=auto) need them.
 */
export const IMDS_USERS = ['root', 'postgres'] as const;

/** The ruleset, loaded as one transaction (a reload replaces the table whole). */
export function renderImdsFirewall(): string {
  const users = IMDS_USERS.join(', ');
  return [
    '#!/usr/sbin/nft -f',
    `# Rendered by cdk-failover: IMDS for ${IMDS_USERS.join(' and ')} only. Edits are overwritten.`,
    `table ${TABLE}`,
    `delete table ${TABLE}`,
    `table ${TABLE} {`,
    '  chain output {',
    '    type filter hook output priority filter; policy accept;',
    `    ip daddr 169.254.169.254 meta skuid != { ${users} } counter reject`,
    `    ip6 daddr fd00:ec2::254 meta skuid != { ${users} } counter reject`,
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
    `Description=IMDS for ${IMDS_USERS.join(' and ')} only, cluster ${clusterName} (rendered by cdk-failover)`,
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
