// pgBackRest on a node: its configuration file, and the commands Patroni and PostgreSQL run
// (archive_command, restore_command, replica creation, the restore bootstrap). Rendered only when
// the spec has `backup`.
import * as path from 'path';
import { nodeCommonName } from '../../tls/cluster-certificates';
import { findNode } from './nodes';
import { nodePaths, SAFE_PATH } from './paths';
import { PGBACKREST_TLS_PORT } from './ports';
import { BackupRepositorySpec, BackupSpec, ClusterNode, ClusterSpec, NodePaths, RestoreSourceSpec } from './spec';
import { tlsFilePath } from './tls';

/** File names in `NodePaths.configDir`. */
export const BACKUP_FILE_NAMES = { config: 'pgbackrest.conf', runner: 'backup.py' } as const;

/** pgBackRest's own directories, beside the data directory (one set per node: the local nodes share /tmp). */
export function pgBackRestDirs(paths: NodePaths): { spool: string; lock: string; log: string } {
  const base = path.posix.dirname(paths.dataDir);
  return { spool: `${base}/pgbackrest-spool`, lock: `${base}/pgbackrest-lock`, log: `${paths.logDir}/pgbackrest` };
}

export function pgBackRestConfigPath(paths: NodePaths): string {
  return path.posix.join(paths.configDir, BACKUP_FILE_NAMES.config);
}

export function backupRunnerPath(paths: NodePaths): string {
  return path.posix.join(paths.configDir, BACKUP_FILE_NAMES.runner);
}

/** The spec's backup settings, checked (a bad value here would only fail on the nodes). */
export function checkedBackup(spec: ClusterSpec): BackupSpec | undefined {
  const backup = spec.backup;
  if (!backup) return undefined;
  if (backup.repositories.length < 1 || backup.repositories.length > 2) {
    throw new Error(`backup.repositories must hold 1 or 2 repositories, got ${backup.repositories.length}`);
  }
  if (!Number.isInteger(backup.archiveTimeoutSeconds) || backup.archiveTimeoutSeconds < 1) {
    throw new Error(`backup.archiveTimeoutSeconds must be a positive whole number, got ${backup.archiveTimeoutSeconds}`);
  }
  backup.repositories.forEach((repo, i) => {
    if (!Number.isInteger(repo.retentionFull) || repo.retentionFull < 1 || repo.retentionFull > 9999999) {
      throw new Error(`backup.repositories[${i}].retentionFull must be a whole number from 1, got ${repo.retentionFull}`);
    }
    if (!SAFE_PATH.test(repo.path)) {
      throw new Error(`backup.repositories[${i}].path must be an absolute path of letters, digits and . _ / -, got '${repo.path}'`);
    }
  });
  return backup;
}

function repositoryLines(repo: BackupRepositorySpec, n: number): string[] {
  const k = `repo${n}`;
  return [
    `${k}-type=s3`,
    `${k}-path=${repo.path}`,
    `${k}-s3-bucket=${repo.bucket}`,
    `${k}-s3-region=${repo.region}`,
    `${k}-s3-endpoint=${repo.endpoint}`,
    `${k}-s3-uri-style=${repo.uriStyle}`,
    ...(repo.sharedKey
      ? [`${k}-s3-key-type=shared`, `${k}-s3-key=${repo.sharedKey.accessKeyId}`, `${k}-s3-key-secret=${repo.sharedKey.secretAccessKey}`]
      : [`${k}-s3-key-type=auto`]),
    ...(repo.storageHost ? [`${k}-storage-host=${repo.storageHost}`] : []),
    ...(repo.storagePort ? [`${k}-storage-port=${repo.storagePort}`] : []),
    ...(repo.caFile ? [`${k}-storage-ca-file=${repo.caFile}`] : []),
    `${k}-retention-full=${repo.retentionFull}`,
    // Expiry removes only what the retention no longer needs; no bucket lifecycle competes with it.
    `${k}-retention-full-type=count`,
  ];
}

/** Whether backups are taken from a replica: it needs the nodes' certificates (pgBackRest's TLS server). */
export function backsUpFromStandby(spec: ClusterSpec): boolean {
  return checkedBackup(spec) !== undefined && spec.tls === true;
}

/**
 * pgBackRest's TLS server on `node`: a replica taking a backup reaches the leader's PostgreSQL and
 * files through it. Node certificates both ways, checked against the cluster CA; only the other
 * nodes' certificates (by common name) are authorized, and only for this cluster's stanza.
 */
function tlsServerLines(spec: ClusterSpec, node: ClusterNode, paths: NodePaths): string[] {
  return [
    `tls-server-address=${node.address}`,
    `tls-server-port=${PGBACKREST_TLS_PORT}`,
    `tls-server-cert-file=${tlsFilePath(paths, 'nodeCert')}`,
    `tls-server-key-file=${tlsFilePath(paths, 'nodeKey')}`,
    `tls-server-ca-file=${tlsFilePath(paths, 'caCert')}`,
    ...spec.nodes.filter((n) => n.name !== node.name).map((n) => `tls-server-auth=${nodeCommonName(spec.clusterName, n.name)}=${spec.clusterName}`),
  ];
}

/** What backup.py on `node` needs to back up from its replica with the leader as pg2 (null: backups on the leader). */
export function standbyBackupSettings(spec: ClusterSpec, node: ClusterNode): Record<string, unknown> | null {
  if (!backsUpFromStandby(spec)) return null;
  const own = nodePaths(spec, node);
  return {
    port: PGBACKREST_TLS_PORT,
    certFile: tlsFilePath(own, 'nodeCert'),
    keyFile: tlsFilePath(own, 'nodeKey'),
    caFile: tlsFilePath(own, 'caCert'),
    pgPort: spec.ports.postgres,
    user: spec.credentials.superuser.username,
    // The leader's directories as pg2 (the local nodes' differ; every EC2 node's are the same).
    members: Object.fromEntries(
      spec.nodes.map((n) => {
        const p = nodePaths(spec, n);
        return [n.name, { address: n.address, dataDir: p.dataDir, socketDir: p.socketDir }];
      }),
    ),
  };
}

/**
 * pgbackrest.conf for `nodeName`: the repositories, asynchronous archiving, this node's PostgreSQL
 * as pg1, and with TLS its TLS server (backups run on a replica; see backup-runner).
 */
export function renderPgBackRestConfig(spec: ClusterSpec, nodeName: string): string {
  const backup = checkedBackup(spec);
  if (!backup) throw new Error('renderPgBackRestConfig: the spec has no backup settings');
  const node = findNode(spec, nodeName);
  const paths = nodePaths(spec, node);
  const dirs = pgBackRestDirs(paths);
  const global = [
    ...backup.repositories.flatMap((repo, i) => repositoryLines(repo, i + 1)),
    // archive-push returns as soon as the segment is queued; a background process ships in batches.
    'archive-async=y',
    `spool-path=${dirs.spool}`,
    `lock-path=${dirs.lock}`,
    `log-path=${dirs.log}`,
    'log-level-file=detail',
    'log-level-console=warn',
    'compress-type=zst',
    'process-max=2',
    'start-fast=y',
    // A replica or a restore fetches WAL ahead of replay.
    'archive-get-queue-max=128MiB',
    // Past this much WAL waiting to be archived (S3 unreachable), pgBackRest drops segments rather
    // than let pg_wal fill the data volume: the archive then has a gap until the next full backup.
    'archive-push-queue-max=4GiB',
    ...(backsUpFromStandby(spec) ? tlsServerLines(spec, node, paths) : []),
  ];
  return [
    `# pgBackRest for node ${node.name} of cluster ${spec.clusterName}. Rendered by cdk-failover: edits are overwritten.`,
    '[global]',
    ...global,
    '',
    `[${spec.clusterName}]`,
    `pg1-path=${paths.dataDir}`,
    `pg1-port=${spec.ports.postgres}`,
    `pg1-socket-path=${paths.socketDir}`,
    `pg1-user=${spec.credentials.superuser.username}`,
    '',
  ].join('\n');
}

/** `pgbackrest --config=... --stanza=<stanza> <args>` as one command line (no value needs quoting: paths and names are checked). */
export function pgBackRestCommand(spec: ClusterSpec, node: ClusterNode, args: readonly string[], stanza = spec.clusterName): string {
  return ['pgbackrest', `--config=${pgBackRestConfigPath(nodePaths(spec, node))}`, `--stanza=${stanza}`, ...args].join(' ');
}

/** Node-local PostgreSQL parameters for archiving (local: each node's config path differs). */
export function archiveParameters(spec: ClusterSpec, node: ClusterNode): Record<string, string | number> {
  const backup = checkedBackup(spec);
  if (!backup) return {};
  return {
    archive_mode: 'on',
    archive_command: pgBackRestCommand(spec, node, ['archive-push', '"%p"']),
    archive_timeout: backup.archiveTimeoutSeconds,
  };
}

/**
 * `postgresql` settings for replicas: made from the repository first, else pg_basebackup from a
 * member. No restore_command for running replicas: the old leader archives WAL its synchronous
 * standby may not have received (archive_timeout's segment switch), a replica that replays it from
 * the archive ends up past the new leader's fork point, and Patroni 3.0.2, which checks for a
 * divergence only when the replica starts following, leaves it stuck on the old timeline
 * (reproduced by test/cluster/backup.test.ts). Replicas stream only, as without backups.
 */
export function replicaSettings(spec: ClusterSpec, node: ClusterNode): Record<string, unknown> {
  if (!checkedBackup(spec)) return {};
  return {
    // pg_basebackup first: a replica restored from a backup streams the WAL written since from the
    // leader, which keeps only wal_keep_size of it, and would never catch up after a busy day.
    // The repository is the fallback when no member can serve a base backup.
    create_replica_methods: ['basebackup', 'pgbackrest'],
    pgbackrest: { command: pgBackRestCommand(spec, node, ['--delta', 'restore']), keep_data: true, no_params: true },
    basebackup: [{ checkpoint: 'fast' }],
  };
}

/** An ISO-8601 time as PostgreSQL and pgBackRest both read it: `YYYY-MM-DD HH:MM:SS.mmm+00`. */
export function postgresTime(iso: string): string {
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(iso) ? Date.parse(iso) : NaN;
  if (Number.isNaN(ms)) throw new Error(`backup.restoreFrom.target.time must be an ISO-8601 time with a zone (2026-11-30T12:00:00Z), got '${iso}'`);
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '+00');
}

function restoreTargetArgs(source: RestoreSourceSpec): { args: string[]; recovery: Record<string, string> } {
  const { target } = source;
  switch (target.type) {
    case 'latest':
      return { args: [], recovery: {} };
    case 'time': {
      const time = postgresTime(target.time);
      return { args: ['--type=time', `"--target=${time}"`], recovery: { recovery_target_time: time } };
    }
    case 'name':
      if (!/^[A-Za-z0-9_.-]{1,63}$/.test(target.name)) {
        throw new Error(`backup.restoreFrom.target.name must be 1-63 letters, digits, _ . or -, got '${target.name}'`);
      }
      return { args: ['--type=name', `--target=${target.name}`], recovery: { recovery_target_name: target.name } };
    default:
      throw new Error(`backup.restoreFrom.target.type must be latest, time or name, got '${String((target as { type: unknown }).type)}'`);
  }
}

/** Another cluster's stanza in the repository (a restore source, a standby's primary). */
export interface OtherStanza {
  readonly stanza: string;
  readonly path: string;
}

/** A cluster's name as PatroniCluster accepts it (its etcd prefix, node names and stanza): 1-63 lowercase letters, digits and inner hyphens. */
export function isClusterName(name: string): boolean {
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name);
}

/** Cluster `clusterName`'s stanza and its directory in every repository: one of each per cluster. */
export function clusterStanza(clusterName: string): OtherStanza {
  return { stanza: clusterName, path: `/${clusterName}` };
}

/** `source` names another cluster's stanza, at a safe path; `prop` and `why` are for the error. */
export function checkOtherStanza(spec: ClusterSpec, prop: string, source: OtherStanza, why: string): void {
  if (!isClusterName(source.stanza)) throw new Error(`${prop}.stanza must be a cluster name (lowercase letters, digits, hyphens), got '${source.stanza}'`);
  if (source.stanza === spec.clusterName) throw new Error(`${prop}.stanza must name another cluster than '${spec.clusterName}': ${why}`);
  if (!SAFE_PATH.test(source.path)) throw new Error(`${prop}.path must be an absolute path of letters, digits and . _ / -, got '${source.path}'`);
}

/** pgBackRest on `node` reading `source`'s stanza, which has no pg1 section here: the node's data directory goes on the command line. */
export function fromStanza(spec: ClusterSpec, node: ClusterNode, source: OtherStanza, args: readonly string[]): string {
  return pgBackRestCommand(spec, node, [`--repo1-path=${source.path}`, `--pg1-path=${nodePaths(spec, node).dataDir}`, '--repo=1', ...args], source.stanza);
}

/**
 * `bootstrap` settings: the restore from the source's repository path when `restoreFrom` is set,
 * and, for every cluster with backups, a post_init that creates the cluster's own stanza.
 */
export function bootstrapSettings(spec: ClusterSpec, node: ClusterNode): Record<string, unknown> {
  const backup = checkedBackup(spec);
  if (!backup) return {};
  const runner = backupRunnerPath(nodePaths(spec, node));
  const settings: Record<string, unknown> = { post_init: `${runner} stanza-create` };
  const source = backup.restoreFrom;
  if (!source) return settings;
  checkOtherStanza(spec, 'backup.restoreFrom', source, 'the restored cluster archives to its own stanza');
  const { args, recovery } = restoreTargetArgs(source);
  return {
    ...settings,
    method: 'pgbackrest_restore',
    pgbackrest_restore: {
      // --target-action only with a target: pgBackRest refuses it for a restore to the end of the archive.
      command: fromStanza(spec, node, source, ['--delta', 'restore', ...args, ...(args.length ? ['--target-action=promote'] : [])]),
      no_params: true,
      // Patroni writes these and waits for the end of recovery, then the promotion.
      recovery_conf: {
        restore_command: fromStanza(spec, node, source, ['archive-get', '%f', '"%p"']),
        recovery_target_action: 'promote',
        // Along the timelines the source took (a failover after the backup included).
        recovery_target_timeline: 'latest',
        ...recovery,
      },
    },
  };
}
