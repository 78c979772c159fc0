export * from './alarm-catalogue';
export * from './dashboard';
export * from './failover-alarms';
