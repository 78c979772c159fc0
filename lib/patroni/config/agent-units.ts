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

/** The unit whose stop drains the node before it shuts down (an EC2 stop, reboot or termination). */
export const DRAIN_UNIT_NAME = 'cdk-failover-drain.service';

/**
 * `drain-on-stop`'s bounds. CloudFormation stops every instance at once for an instance-type
 * change: each node's shutdown waits for the cluster lock and until the others run again, the
 * leader last; the shutdown of a node stopped by anyone else waits briefly, then goes on.
 */
export const DRAIN_ON_STOP = {
  /** A leader lets the stops issued beside its own announce themselves first. */
  settleSeconds: 30,
  /** CloudFormation updates the instance: how long each wait (leader last, the others healthy) may take. */
  rollingSeconds: 900,
  /** Anything else (an operator's stop or reboot, AWS maintenance): how long the others may take to be healthy. */
  otherSeconds: 60,
  /**
   * The drain's own steps after the wait: the switchover's request (60 s) and wait (180 s),
   * stopping Patroni (300 s), the postmaster's exit (120 s), slack.
   */
  stepSeconds: 720,
  /**
   * The whole drain at most, every wait included: under the 30 minutes after which Debian's
   * systemd forces the power-off (`poweroff.target`/`reboot.target`: `JobTimeoutSec=30min`,
   * `JobTimeoutAction=poweroff-force`).
   */
  budgetSeconds: 1680,
  /**
   * A stop nobody coordinates, all of it: EC2 hard-reboots an instance that has not shut down
   * "within a few minutes" of RebootInstances (four, in its older documentation).
   */
  otherBudgetSeconds: 150,
} as const;

/**
 * Active from the node's first ready state on; its ExecStop runs `drain-on-stop`. Ordered after
 * the units given (Patroni, etcd, HAProxy, the metrics publisher, the SSM agent) and the network,
 * so at shutdown it stops (drains) before any of them: the leader still publishes that it leads,
 * and an operator can still reach the node, while it waits.
 */
export function renderDrainService(clusterName: string, after: readonly string[]): string {
  return [
    '[Unit]',
    `Description=cdk-failover: drains this node of cluster ${clusterName} before it shuts down (the leader switches over)`,
    `After=network-online.target nss-lookup.target ${after.join(' ')}`,
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    'ExecStart=/bin/true',
    `ExecStop=/usr/bin/python3 -I ${NODE_AGENT_PATH} drain-on-stop`,
    // The agent keeps within its budget; this only catches an agent that does not.
    `TimeoutStopSec=${DRAIN_ON_STOP.budgetSeconds + 60}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
