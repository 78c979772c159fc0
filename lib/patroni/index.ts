export * from './modes';
export * from './patroni-cluster';
export { PatroniClusterBase, type IPatroniCluster, type PatroniClusterAttributes } from './patroni-cluster-base';
export * from './node-gauge';
export * from './patroni-node';
export * from './timing';
export { CLUSTER_PORTS, MANAGED_POSTGRES_PARAMETERS } from './validation';
export * from './endpoint';
export { NODE_GAUGES, ROLE_CHANGE_EVENTS } from './config/node-metrics';
