export * from './dns';
export * from './patroni';
export * from './monitoring';
export * from './runbook';
