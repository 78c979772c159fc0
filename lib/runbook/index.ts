export * from './dns-runbook';
export * from './patroni-runbook';
export * from './sections';
export * from './stack-runbook';
export * from './write';
