// patroni.yml for one node (Patroni 3.0.2's schema).
import { findNode } from './nodes';
import { configFilePath, nodePaths } from './paths';
import { checkLiteralCidr, renderPgHba } from './pg-hba';
import { fenceCheckCommand } from './backup-runner';
import { archiveParameters, bootstrapSettings, checkedBackup, replicaSettings } from './pgbackrest';
import { clusterParameters, nodeParameters } from './postgres-parameters';
import { ClusterSpec, NodePaths, SyncMode } from './spec';
import { standbyClusterSettings, standbyReplicaMethod } from './standby';
import { watchdogSafetyMargin } from './timing-profiles';
import { tlsFilePath } from './tls';
import { toYaml11 } from './yaml11';

/** Patroni's two switches for a SyncMode. (Never `synchronous_standby_names: '*'`: it can promote an async replica.) */
export function synchronousModeSettings(mode: SyncMode): { synchronous_mode: boolean; synchronous_mode_strict: boolean } {
  switch (mode) {
    case 'on':
      return { synchronous_mode: true, synchronous_mode_strict: false };
    case 'strict':
      return { synchronous_mode: true, synchronous_mode_strict: true };
    case 'off':
      return { synchronous_mode: false, synchronous_mode_strict: false };
    default:
      throw new Error(`synchronousMode must be one of 'on', 'strict', 'off', got '${String(mode)}'`);
  }
}

/**
 * Patroni's dynamic configuration (what lives in etcd's /config after bootstrap): the cluster's
 * first `bootstrap.dcs`, and what the node agent PATCHes into a running cluster when it changes.
 */
export function dynamicConfiguration(spec: ClusterSpec) {
  const { timing } = spec;
  return {
    ttl: timing.ttlSeconds,
    loop_wait: timing.loopWaitSeconds,
    retry_timeout: timing.retryTimeoutSeconds,
    maximum_lag_on_failover: spec.maximumLagOnFailoverBytes,
    ...synchronousModeSettings(spec.synchronousMode),
    postgresql: {
      use_pg_rewind: true,
      use_slots: true,
      parameters: clusterParameters(spec),
    },
  };
}

const WATCHDOG_MODES = ['required', 'automatic', 'off'];

/**
 * HTTPS with the node's certificate, which Patroni also shows when it calls another member (it
 * checks theirs against the CA). Reads need no client certificate (HAProxy's checks, the metrics
 * publisher); one from the CA is checked whenever shown. Writes (Patroni 3.0.2's check_access)
 * must come from a member or the operators' CIDRs, then show a client certificate, then the password.
 */
function restApiTls(spec: ClusterSpec, paths: NodePaths) {
  if (!spec.tls) return {};
  const operators = spec.operatorCidrs ?? [];
  operators.forEach((cidr) => checkLiteralCidr('operatorCidrs', cidr, "anyone with a password could change Patroni's configuration"));
  return {
    certfile: tlsFilePath(paths, 'nodeCert'),
    keyfile: tlsFilePath(paths, 'nodeKey'),
    cafile: tlsFilePath(paths, 'caCert'),
    verify_client: 'optional',
    ...(operators.length ? { allowlist: [...operators] } : {}),
    allowlist_include_members: true,
  };
}

/** patroni.yml for `nodeName`. Passwords are whatever `spec.credentials` holds (placeholders on EC2). */
export function renderPatroniConfig(spec: ClusterSpec, nodeName: string): string {
  const node = findNode(spec, nodeName);
  const paths = nodePaths(spec, node);
  if (!WATCHDOG_MODES.includes(spec.watchdogMode)) {
    throw new Error(`watchdogMode must be one of ${WATCHDOG_MODES.join(', ')}, got '${String(spec.watchdogMode)}'`);
  }
  const { ports, credentials } = spec;
  const pgHba = renderPgHba(spec);
  // Replication, pg_rewind and pg_basebackup check the leader's certificate and address (libpq
  // ignores sslmode on the Unix socket, which the superuser's own connections use).
  const verifyFull = spec.tls ? { sslmode: 'verify-full', sslrootcert: tlsFilePath(paths, 'databaseCaCert') } : {};

  const config = {
    scope: spec.clusterName,
    name: node.name,
    log: { dir: paths.logDir, level: 'INFO', file_num: 4, file_size: 25 * 1024 * 1024 },
    restapi: {
      listen: `${node.address}:${ports.restApi}`,
      connect_address: `${node.address}:${ports.restApi}`,
      // Patroni 3.0.2 asks for these only on unsafe methods: HAProxy's OPTIONS checks need none.
      authentication: { username: credentials.restApi.username, password: credentials.restApi.password },
      ...restApiTls(spec, paths),
    },
    // etcd's v2 API, not etcd3: Patroni 3.0.2's etcd3 client re-PUTs the leader key without a
    // compare (fixed in 3.0.3, patroni#2689), so a leader that was frozen past its ttl takes the key
    // back from its successor on waking, and the successor's acknowledged writes are rewound away
    // (reproduced in the local cluster: 43 of 198 lost). The v2 client updates the key only with
    // prevValue=<own name>, a compare-and-swap that a deposed leader cannot win.
    etcd: {
      hosts: spec.nodes.map((n) => `${n.address}:${ports.etcdClient}`),
      ...(spec.tls
        ? { protocol: 'https', cacert: tlsFilePath(paths, 'caCert'), cert: tlsFilePath(paths, 'nodeCert'), key: tlsFilePath(paths, 'nodeKey') }
        : {}),
    },
    bootstrap: {
      dcs: { ...dynamicConfiguration(spec), ...standbyClusterSettings(spec, node) },
      // C.UTF-8 sorts by code point: no index corruption when a glibc upgrade changes collations.
      initdb: ['data-checksums', { encoding: 'UTF8' }, { locale: 'C.UTF-8' }],
      // Patroni 3.0.2's --validate-config insists on bootstrap.pg_hba; postgresql.pg_hba below wins at runtime.
      pg_hba: pgHba,
      ...bootstrapSettings(spec, node),
    },
    postgresql: {
      listen: `${node.address}:${ports.postgres}`,
      connect_address: `${node.address}:${ports.postgres}`,
      data_dir: paths.dataDir,
      bin_dir: paths.binDir,
      pgpass: paths.pgpass,
      // Patroni's own connections use the socket (peer auth), not the network.
      use_unix_socket: true,
      authentication: {
        superuser: { username: credentials.superuser.username, password: credentials.superuser.password, ...verifyFull },
        replication: { username: credentials.replication.username, password: credentials.replication.password, ...verifyFull },
        // Patroni creates this role after initdb and grants it what pg_rewind needs.
        rewind: { username: credentials.rewind.username, password: credentials.rewind.password, ...verifyFull },
      },
      parameters: { ...nodeParameters(spec, paths), ...archiveParameters(spec, node) },
      pg_hba: pgHba,
      callbacks: { on_role_change: configFilePath(paths, 'roleChangeCallback') },
      // A promoted standby of this cluster fenced it: no promotion here until it is rebuilt.
      ...(checkedBackup(spec) ? { pre_promote: fenceCheckCommand(spec, node.name) } : {}),
      ...replicaSettings(spec, node),
      ...standbyReplicaMethod(spec, node),
    },
    watchdog: {
      mode: spec.watchdogMode,
      device: '/dev/watchdog',
      ...(spec.watchdogMode === 'off' ? {} : { safety_margin: watchdogSafetyMargin(spec.timing) }),
    },
  };
  return toYaml11(config, `patroni.yml for node ${node.name} of cluster ${spec.clusterName}. Rendered by cdk-failover: edits are overwritten.`);
}
