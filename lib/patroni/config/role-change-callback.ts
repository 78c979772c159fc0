// The script Patroni runs on every role change: a log line, a timestamp file for drills, and a
// best-effort CloudWatch metric. It never fails and never hangs Patroni's callback slot.
import { findNode } from './nodes';
import { nodePaths } from './paths';
import { shellQuote } from './shell';
import { ClusterSpec } from './spec';

/**
 * What the callback publishes, value 1 and unit Count, with the cluster dimension only:
 * `RoleChange` on every role change of any node, and `Promotion` too when the role is primary.
 */
export const ROLE_CHANGE_METRICS = { roleChange: 'RoleChange', promotion: 'Promotion', dimensionName: 'ClusterName' } as const;

/** File names the callback writes: the log in logDir, the last role change in runDir. */
export const ROLE_CHANGE_FILES = { log: 'role-change.log', lastChange: 'last-role-change' } as const;

/** Seconds the metric call may take before it is killed. */
const METRIC_TIMEOUT_SECONDS = 10;

/**
 * on_role_change.sh for `nodeName`. Patroni calls it as `<script> on_role_change <role> <cluster>`.
 * Writes `<epoch seconds> <primary|replica|other> <role as given>` to runDir/last-role-change.
 */
export function renderRoleChangeCallback(spec: ClusterSpec, nodeName: string): string {
  const node = findNode(spec, nodeName);
  const paths = nodePaths(spec, node);
  const regionArgs = spec.awsRegion === undefined ? '' : ` --region ${shellQuote(spec.awsRegion)}`;
  // Rendered as JSON here, so no value is ever spliced into JSON by the shell.
  const datum = (metricName: string) => ({
    MetricName: metricName,
    Dimensions: [{ Name: ROLE_CHANGE_METRICS.dimensionName, Value: spec.clusterName }],
    Value: 1,
    Unit: 'Count',
  });
  const roleChangeData = JSON.stringify([datum(ROLE_CHANGE_METRICS.roleChange)]);
  const promotionData = JSON.stringify([datum(ROLE_CHANGE_METRICS.roleChange), datum(ROLE_CHANGE_METRICS.promotion)]);
  return `#!/bin/bash
# Patroni on_role_change callback for node ${node.name} of cluster ${spec.clusterName}.
# Rendered by cdk-failover: edits are overwritten. Usage: $0 <event> <role> <cluster>
set -euo pipefail

readonly log_file=${shellQuote(`${paths.logDir}/${ROLE_CHANGE_FILES.log}`)}
readonly last_change_file=${shellQuote(`${paths.runDir}/${ROLE_CHANGE_FILES.lastChange}`)}
readonly node_name=${shellQuote(node.name)}
readonly metrics_namespace=${shellQuote(spec.metricsNamespace)}
readonly role_change_data=${shellQuote(roleChangeData)}
readonly promotion_data=${shellQuote(promotionData)}

event="\${1:-}"
role="\${2:-}"
cluster="\${3:-}"

# Patroni 3.x says master, 4.x primary.
case "$role" in
  master | primary) kind=primary ;;
  replica | standby_leader | demoted) kind=replica ;;
  *) kind=other ;;
esac

# Best effort: a full disk or a missing directory must not fail the callback.
log() {
  printf '%s %s %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$node_name" "$*" >>"$log_file" 2>/dev/null || true
}

record_last_change() {
  local tmp="$last_change_file.$$"
  if printf '%s %s %s\\n' "$(date +%s)" "$kind" "$role" >"$tmp" 2>/dev/null; then
    mv -f "$tmp" "$last_change_file" 2>/dev/null || rm -f "$tmp"
  else
    log "could not write $last_change_file"
  fi
}

# Only where the AWS CLI exists (EC2, not the local cluster), and never for long.
publish_metrics() {
  command -v aws >/dev/null 2>&1 || return 0
  local status=0 metric_data="$role_change_data"
  if [ "$kind" = primary ]; then metric_data="$promotion_data"; fi
  timeout --kill-after=5 ${METRIC_TIMEOUT_SECONDS} aws cloudwatch put-metric-data${regionArgs} \\
    --namespace "$metrics_namespace" --metric-data "$metric_data" >>"$log_file" 2>&1 </dev/null || status=$?
  if [ "$status" -ne 0 ]; then
    log "metrics not published (exit $status)"
  fi
}

log "event=$event role=$role kind=$kind cluster=$cluster"
record_last_change
publish_metrics
exit 0
`;
}
