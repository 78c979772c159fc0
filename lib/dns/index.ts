export * from './checker-regions';
export * from './dns-failover-base';
export * from './dns-failover';
export * from './failover-endpoint';
export * from './failover-time';
export * from './health-check-options';
export * from './health-check-protocol';
export * from './latency-metric';
