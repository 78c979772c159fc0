// The metrics each node publishes to its cluster's CloudWatch namespace: the contract between the
// node-side publisher and callback (rendered here) and the alarms and dashboard (lib/monitoring).

/** Dimensions of the per-node metrics: the cluster's name and the node's. */
export const NODE_METRIC_DIMENSIONS = { cluster: 'ClusterName', node: 'Node' } as const;

/** Published every interval by each node's publisher, with both dimensions. */
export const NODE_GAUGES = {
  /** 1 while this node is the running primary, else 0. */
  isPrimary: 'IsPrimary',
  /** 1 while this node is a running replica, else 0. */
  isReplica: 'IsReplica',
  /** 1 while this node is a streaming replica within the lag limit (a failover target), else 0. */
  healthyReplica: 'HealthyReplica',
  /** This replica's replay lag behind the primary, bytes (0 on the primary). */
  replicationLagBytes: 'ReplicationLagBytes',
  /** 1 while PostgreSQL runs on this node, else 0. */
  postgresRunning: 'PostgresRunning',
  /** Seconds since Patroni on this node last reached etcd. */
  dcsLastSeenAgeSeconds: 'DcsLastSeenAgeSeconds',
  /** 1 while this node's etcd member answers healthy, else 0. */
  etcdHealthy: 'EtcdHealthy',
} as const;

/** Published by the role-change callback, with the cluster dimension only. */
export const ROLE_CHANGE_EVENTS = {
  /** 1 per role change of any node. */
  roleChange: 'RoleChange',
  /** 1 when a node becomes primary. */
  promotion: 'Promotion',
  /** On promotion: seconds since this node last saw a healthy primary (detection plus election). */
  failoverDurationSeconds: 'FailoverDurationSeconds',
} as const;
