export { renderDnsFailoverRunbook } from './dns-runbook';
export { renderPatroniClusterRunbook } from './patroni-runbook';
export { DNS_RUNBOOK_SECTIONS, PATRONI_RUNBOOK_SECTIONS } from './sections';
export { findFailoverConstructs, renderStackRunbook, runbookFileName } from './stack-runbook';
export { writePrometheusFiles, writeRunbooks } from './write';
export { Runbooks } from './runbooks';
