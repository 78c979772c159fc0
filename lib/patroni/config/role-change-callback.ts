// The script Patroni runs on every role change: a log line, a timestamp file for drills, and a
// best-effort CloudWatch metric; on promotion, the failover duration from the metrics publisher's
// mark. It never fails and never hangs Patroni's callback slot.
import { METRICS_PUBLISHER_FILES } from './metrics-publisher';
import { ROLE_CHANGE_EVENTS } from './node-metrics';
import { findNode } from './nodes';
import { nodePaths } from './paths';
import { shellQuote } from './shell';
import { ClusterSpec } from './spec';

/**
 * What the callback publishes, value 1 and unit Count, with the cluster dimension only:
 * `RoleChange` on every role change of any node, and `Promotion` too when the role is primary
 * (then also `FailoverDurationSeconds`, see ROLE_CHANGE_EVENTS, when the publisher's mark exists).
 */
export const ROLE_CHANGE_METRICS = { roleChange: 'RoleChange', promotion: 'Promotion', dimensionName: 'ClusterName' } as const;

/** File names the callback writes: the log in logDir, the last role change in runDir. */
export const ROLE_CHANGE_FILES = { log: 'role-change.log', lastChange: 'last-role-change' } as const;

/** Seconds the metric call may take before it is killed. */
const METRIC_TIMEOUT_SECONDS = 10;

/**
 * on_role_change.sh for `nodeName`. Patroni calls it as `<script> on_role_change <role> <cluster>`.
 * Writes `<epoch seconds> <primary|replica|other> <role as given>` to runDir/last-role-change. On
 * promotion it reads the metrics publisher's mark (runDir/last-healthy-primary), logs and publishes
 * the seconds since then as the failover duration, then marks this node as the healthy primary.
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
  // The duration datum around its value: the shell only puts a checked whole number in between.
  const [durationHead, durationTail] = JSON.stringify({
    ...datum(ROLE_CHANGE_EVENTS.failoverDurationSeconds),
    Value: 0,
    Unit: 'Seconds',
  }).split('"Value":0');
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
readonly healthy_primary_file=${shellQuote(`${paths.runDir}/${METRICS_PUBLISHER_FILES.lastHealthyPrimary}`)}
readonly duration_head=${shellQuote(`${durationHead}"Value":`)}
readonly duration_tail=${shellQuote(durationTail)}
failover_seconds=""

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

# On promotion: seconds since this node last saw a healthy primary (the metrics publisher's mark).
measure_failover() {
  local seen_at="" seen_primary=""
  # No mark (no publisher, or it never saw a healthy primary): the duration is unknown.
  [ "$kind" = primary ] && [ -r "$healthy_primary_file" ] || return 0
  read -r seen_at seen_primary <"$healthy_primary_file" 2>/dev/null || true
  if [[ ! "$seen_at" =~ ^[0-9]{1,12}$ ]]; then
    log "failover duration unknown: $healthy_primary_file holds no timestamp"
    return 0
  fi
  failover_seconds=$(($(date +%s) - 10#$seen_at))
  if [ "$failover_seconds" -lt 0 ]; then failover_seconds=0; fi
  log "failover_duration_seconds=$failover_seconds last_healthy_primary=\${seen_primary:-unknown} seen_at=$seen_at"
}

# This node is now the healthy primary: the publisher refreshes the mark from here on.
mark_healthy_primary() {
  local tmp="$healthy_primary_file.$$"
  [ "$kind" = primary ] || return 0
  if printf '%s %s\\n' "$(date +%s)" "$node_name" >"$tmp" 2>/dev/null; then
    mv -f "$tmp" "$healthy_primary_file" 2>/dev/null || rm -f "$tmp"
  fi
}

# Only where the AWS CLI exists (EC2, not the local cluster), and never for long.
publish_metrics() {
  command -v aws >/dev/null 2>&1 || return 0
  local status=0 metric_data="$role_change_data"
  if [ "$kind" = primary ]; then metric_data="$promotion_data"; fi
  if [ -n "$failover_seconds" ]; then metric_data="\${metric_data%]},$duration_head$failover_seconds$duration_tail]"; fi
  timeout --kill-after=5 ${METRIC_TIMEOUT_SECONDS} aws cloudwatch put-metric-data${regionArgs} \\
    --namespace "$metrics_namespace" --metric-data "$metric_data" >>"$log_file" 2>&1 </dev/null || status=$?
  if [ "$status" -ne 0 ]; then
    log "metrics not published (exit $status)"
  fi
}

log "event=$event role=$role kind=$kind cluster=$cluster"
measure_failover
record_last_change
mark_healthy_primary
publish_metrics
exit 0
`;
}
