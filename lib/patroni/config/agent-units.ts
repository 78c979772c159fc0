// The node agent's systemd units: a timer that runs `cdk-failover-agent reconcile`, so a new
// generation of the node's configuration (CloudFormation metadata) is applied without a reboot.

/** Where the agent is installed on a node (the user data extracts it there). */
export const NODE_AGENT_PATH = '/usr/local/sbin/cdk-failover-agent';

export const AGENT_UNIT_NAMES = { service: 'cdk-failover-agent.service', timer: 'cdk-failover-agent.timer' } as const;

/** How often a node asks CloudFormation for its configuration's generation. */
export const AGENT_POLL_SECONDS = 20;

/** The oneshot service; `applySeconds` bounds one reconcile (lock wait, rolling restart included). */
export function renderAgentService(clusterName: string, applySeconds: number): string {
  return [
    '[Unit]',
    `Description=cdk-failover node agent of cluster ${clusterName}: applies configuration changes one node at a time`,
    'After=network-online.target cdk-failover-etcd.service',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=/usr/bin/python3 -I ${NODE_AGENT_PATH} reconcile`,
    `TimeoutStartSec=${applySeconds + 60}`,
    '',
  ].join('\n');
}

export function renderAgentTimer(clusterName: string): string {
  return [
    '[Unit]',
    `Description=cdk-failover node agent of cluster ${clusterName}, every ${AGENT_POLL_SECONDS} s`,
    '',
    '[Timer]',
    `OnActiveSec=${AGENT_POLL_SECONDS}`,
    `OnUnitInactiveSec=${AGENT_POLL_SECONDS}`,
    'AccuracySec=1s',
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
}
