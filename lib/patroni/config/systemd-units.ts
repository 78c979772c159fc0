// systemd units of our own for etcd, Patroni and HAProxy (Debian's stock units are masked), and
// for the node metrics publisher.
import { findNode } from './nodes';
import { configFilePath, nodePaths } from './paths';
import { ClusterSpec } from './spec';

/** Unit file names, installed in /etc/systemd/system. */
export const SYSTEMD_UNIT_NAMES = {
  etcd: 'cdk-failover-etcd.service',
  patroni: 'cdk-failover-patroni.service',
  haproxy: 'cdk-failover-haproxy.service',
  metrics: 'cdk-failover-metrics.service',
} as const;

/**
 * Debian's own units to mask: its etcd, Patroni and HAProxy services would start the same daemons
 * with other configuration, and `postgresql@<ver>-main` would start PostgreSQL behind Patroni's back.
 */
export function unitsToMask(spec: ClusterSpec): string[] {
  return ['etcd.service', 'haproxy.service', 'patroni.service', `postgresql@${spec.postgresVersion}-main.service`];
}

function unitFile(sections: Record<string, string[]>): string {
  return Object.entries(sections)
    .map(([name, lines]) => [`[${name}]`, ...lines].join('\n'))
    .join('\n\n')
    .concat('\n');
}

function header(what: string, spec: ClusterSpec, nodeName: string): string {
  return `${what} for node ${nodeName} of cluster ${spec.clusterName} (rendered by cdk-failover)`;
}

/** etcd member. Type=notify: active once the member has joined a cluster with quorum. */
export function renderEtcdUnit(spec: ClusterSpec, nodeName: string): string {
  const paths = nodePaths(spec, findNode(spec, nodeName));
  return unitFile({
    Unit: [
      `Description=${header('etcd', spec, nodeName)}`,
      'After=network-online.target',
      'Wants=network-online.target',
      // Its member data is on the data volume: never start an empty member on the root volume.
      `RequiresMountsFor=${paths.etcdDataDir}`,
    ],
    Service: [
      'Type=notify',
      'User=etcd',
      'Group=etcd',
      `ExecStartPre=+/usr/bin/install -d -o etcd -g etcd -m 0700 ${paths.etcdDataDir}`,
      `ExecStart=/usr/bin/etcd --config-file ${configFilePath(paths, 'etcd')}`,
      'Restart=on-failure',
      'RestartSec=2s',
      // On first boot the members come up one by one: wait for quorum as long as it takes.
      'TimeoutStartSec=infinity',
      'LimitNOFILE=65536',
    ],
    Install: ['WantedBy=multi-user.target'],
  });
}

/** Patroni, as postgres. KillMode=process: Patroni stops PostgreSQL itself, cleanly. */
export function renderPatroniUnit(spec: ClusterSpec, nodeName: string): string {
  const paths = nodePaths(spec, findNode(spec, nodeName));
  return unitFile({
    Unit: [
      `Description=${header('Patroni (PostgreSQL high availability)', spec, nodeName)}`,
      `After=network-online.target ${SYSTEMD_UNIT_NAMES.etcd}`,
      `Wants=network-online.target ${SYSTEMD_UNIT_NAMES.etcd}`,
      // Never initdb onto the root volume because the data volume failed to mount.
      `RequiresMountsFor=${paths.dataDir}`,
    ],
    Service: [
      'Type=simple',
      'User=postgres',
      'Group=postgres',
      `ExecStartPre=+/usr/bin/install -d -o postgres -g postgres -m 0755 ${paths.runDir} ${paths.logDir}`,
      `ExecStart=/usr/bin/patroni ${configFilePath(paths, 'patroni')}`,
      'ExecReload=/bin/kill -HUP $MAINPID',
      'KillMode=process',
      'TimeoutSec=30',
      // Debian's own unit does not restart Patroni; a node without Patroni is a node lost.
      'Restart=on-failure',
      'RestartSec=2s',
    ],
    Install: ['WantedBy=multi-user.target'],
  });
}

/** HAProxy in master-worker mode; the workers drop to the haproxy user (haproxy.cfg). */
export function renderHaproxyUnit(spec: ClusterSpec, nodeName: string): string {
  const paths = nodePaths(spec, findNode(spec, nodeName));
  const config = configFilePath(paths, 'haproxy');
  return unitFile({
    Unit: [
      `Description=${header('HAProxy (routes to the Patroni primary)', spec, nodeName)}`,
      'After=network-online.target',
      'Wants=network-online.target',
    ],
    Service: [
      'Type=notify',
      // The callback (as postgres) and HAProxy (as root) share runDir; same owner as Patroni's unit sets.
      `ExecStartPre=/usr/bin/install -d -o postgres -g postgres -m 0755 ${paths.runDir}`,
      `ExecStartPre=/usr/sbin/haproxy -c -q -f ${config}`,
      `ExecStart=/usr/sbin/haproxy -Ws -f ${config}`,
      `ExecReload=/usr/sbin/haproxy -c -q -f ${config}`,
      'ExecReload=/bin/kill -USR2 $MAINPID',
      'KillMode=mixed',
      'SuccessExitStatus=143',
      'Restart=always',
      'RestartSec=2s',
    ],
    Install: ['WantedBy=multi-user.target'],
  });
}

/**
 * The metrics publisher, as postgres (it shares the runDir mark with the role-change callback),
 * restarted whatever happens: a node that stops reporting looks like a node lost to the alarms.
 */
export function renderMetricsUnit(spec: ClusterSpec, nodeName: string): string {
  const paths = nodePaths(spec, findNode(spec, nodeName));
  return unitFile({
    Unit: [
      `Description=${header('CloudWatch node metrics', spec, nodeName)}`,
      `After=network-online.target ${SYSTEMD_UNIT_NAMES.patroni}`,
      'Wants=network-online.target',
    ],
    Service: [
      'Type=simple',
      'User=postgres',
      'Group=postgres',
      `ExecStartPre=+/usr/bin/install -d -o postgres -g postgres -m 0755 ${paths.runDir}`,
      `ExecStart=/usr/bin/python3 -I ${configFilePath(paths, 'metricsPublisher')}`,
      'Restart=always',
      'RestartSec=5s',
      'NoNewPrivileges=yes',
      'PrivateTmp=yes',
      'ProtectSystem=full',
      'ProtectHome=yes',
    ],
    Install: ['WantedBy=multi-user.target'],
  });
}
