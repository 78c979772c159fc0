// haproxy.cfg: routes clients to the node Patroni says is primary (port 5000) or to healthy
// replicas (5001), judged by Patroni's REST API, and answers the NLB's health checks.
import { checkNodes, findNode } from './nodes';
import { clusterPaths, nodePaths } from './paths';
import { ClusterSpec } from './spec';
import { SESSION_IDLE_TIMEOUT_SECONDS } from './ports';
import { tlsFilePath } from './tls';

/** Listener names in haproxy.cfg; `nbsrv(<name>)` in the health frontend refers to them. */
export const HAPROXY_LISTENERS = { primary: 'primary', replicas: 'replicas' } as const;

/**
 * Paths the health frontend answers on `ports.haproxyHealth`: 200 or 503.
 * `alive`: HAProxy runs. `primary`: it sees a primary. `replicas`: it sees a replica within the lag limit.
 */
export const HAPROXY_HEALTH_PATHS = { alive: '/health', primary: '/primary', replicas: '/replicas' } as const;

/**
 * haproxy.cfg. With `nodeName`, listeners bind that node's address and the stats socket lives in
 * its runDir; without, they bind every address and the spec-wide paths apply.
 */
/** The least time an HTTPS check of Patroni gets to answer (its read timeout, after the connect). */
export const TLS_CHECK_TIMEOUT_MS = 2000;

/**
 * The writer listener checks a server that is down (every replica) or changing state at most this
 * far apart (HAProxy's `downinter` and `fastinter`), so that a new primary gets writes within this
 * of its promotion instead of within `inter` (1 s on DEFAULT). The cost: each HAProxy checks each
 * replica's Patroni (an HTTPS request that runs a query) every 200 ms instead of every `inter`.
 */
export const PRIMARY_LISTENER_FAST_CHECK_MS = 200;

export function renderHaproxyConfig(spec: ClusterSpec, nodeName?: string): string {
  checkNodes(spec);
  const node = nodeName === undefined ? undefined : findNode(spec, nodeName);
  const { runDir } = node ? nodePaths(spec, node) : clusterPaths(spec);
  const bindHost = node ? node.address : '';
  const { ports, timing } = spec;
  const check = `inter ${timing.haproxyCheckIntervalMs}ms fall ${timing.haproxyFall} rise ${timing.haproxyRise}`;
  // Without `timeout check` a check must finish within `inter`: over TLS (a handshake, then
  // Patroni's answer), 500 ms is too short on a loaded node, and the leader's checks time out
  // through a failover (measured on the booted nodes: 40 to 80 s without a routable primary).
  // The connect timeout stays min(inter, timeout connect): a node that is gone is seen as fast.
  const checkTimeout = spec.tls ? [`    timeout check ${Math.max(timing.haproxyCheckIntervalMs, TLS_CHECK_TIMEOUT_MS)}ms`] : [];
  // With TLS the checks go to Patroni over HTTPS, its certificate checked against the cluster CA
  // (HAProxy 2.6 checks the chain only: it cannot match an IP address in subjectAltName).
  const checkTls = spec.tls ? ` check-ssl verify required ca-file ${tlsFilePath(node ? nodePaths(spec, node) : clusterPaths(spec), 'caCert')}` : '';
  const servers = spec.nodes.map(
    (n) => `    server ${n.name} ${n.address}:${ports.postgres} check port ${ports.restApi}${checkTls}`,
  );

  // The writer listener's switchover options (PRIMARY_LISTENER_FAST_CHECK_MS), except on the stock baseline.
  const fast = Math.min(timing.haproxyCheckIntervalMs, PRIMARY_LISTENER_FAST_CHECK_MS);
  const switchoverOptions = (name: string) => name === HAPROXY_LISTENERS.primary && timing.haproxyWriterFastChecks !== false;
  const listener = (name: string, port: number, checkPath: string): string[] => [
    `listen ${name}`,
    `    bind ${bindHost}:${port}`,
    '    option tcplog',
    `    option httpchk OPTIONS ${checkPath}`,
    '    http-check expect status 200',
    // After a switchover the old primary stays in the writer's backends, refusing connections,
    // until its checks fail: retry a refused connection at once on another server that is up in
    // this listener (redispatch; with none up, HAProxy waits 1 s and retries the same one), and
    // let a refused connection bring its next check forward (sudden-death: one more failure,
    // a check or a second refused connection, marks it down and, with shutdown-sessions, cuts
    // its sessions; a passing check restores it).
    ...(switchoverOptions(name) ? ['    option redispatch 1'] : []),
    // Without shutdown-sessions, sessions to a dead primary hang until `timeout server`.
    `    default-server ${check}${switchoverOptions(name) ? ` downinter ${fast}ms fastinter ${fast}ms observe layer4 error-limit 1 on-error sudden-death` : ''} on-marked-down shutdown-sessions`,
    ...checkTimeout,
    ...servers,
  ];
  const healthAnswer = (path: string, condition: string): string[] => [
    `    http-request return status 200 content-type text/plain string ok if { path ${path} }${condition}`,
    `    http-request return status 503 content-type text/plain string unavailable if { path ${path} }`,
  ];

  return [
    `# haproxy.cfg for cluster ${spec.clusterName}${node ? `, node ${node.name}` : ''}. Rendered by cdk-failover: edits are overwritten.`,
    'global',
    '    log /dev/log local0',
    '    maxconn 4096',
    '    user haproxy',
    '    group haproxy',
    `    pidfile ${runDir}/haproxy.pid`,
    `    stats socket ${runDir}/haproxy.sock mode 600 level admin`,
    '',
    'defaults',
    '    mode tcp',
    '    log global',
    '    retries 2',
    '    timeout connect 4s',
    // Database sessions idle for long stretches: do not cut them at HTTP-like timeouts, and cut
    // them where the load balancer would (SESSION_IDLE_TIMEOUT_SECONDS), not sooner or later.
    `    timeout client ${SESSION_IDLE_TIMEOUT_SECONDS}s`,
    `    timeout server ${SESSION_IDLE_TIMEOUT_SECONDS}s`,
    '',
    ...listener(HAPROXY_LISTENERS.primary, ports.haproxyPrimary, '/primary'),
    '',
    ...listener(HAPROXY_LISTENERS.replicas, ports.haproxyReplica, `/replica?lag=${spec.replicaMaxLagBytes}`),
    '',
    'frontend health',
    '    mode http',
    `    bind ${bindHost}:${ports.haproxyHealth}`,
    '    timeout client 10s',
    '    timeout http-request 5s',
    `    http-request return status 200 content-type text/plain string ok if { path ${HAPROXY_HEALTH_PATHS.alive} }`,
    ...healthAnswer(HAPROXY_HEALTH_PATHS.primary, ` { nbsrv(${HAPROXY_LISTENERS.primary}) ge 1 }`),
    ...healthAnswer(HAPROXY_HEALTH_PATHS.replicas, ` { nbsrv(${HAPROXY_LISTENERS.replicas}) ge 1 }`),
    '    http-request return status 404 content-type text/plain string unknown',
    '',
  ].join('\n');
}
