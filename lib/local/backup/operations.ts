// Backups of a local cluster, and a restore into a new one: the checks that refuse bad input
// before anything is created, and the runs of the rendered backup runner on the nodes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backupRunnerPath, clusterStanza, findNode, nodePaths, pgBackRestCommand, postgresTime, type ClusterSpec, type RestoreSourceSpec } from '../../patroni/config';
import { RUNNER_BACKUP_DONE, runnerFailureCause, type BackupType } from '../../patroni/config/backup-runner';
import { found, notYet, poll } from '../../ops/poll';
import { LocalClusterError } from '../errors';
import { checkClusterName } from '../layout';
import type { RunOptions, RunResult } from '../exec';
import { checkNewCluster } from '../teardown';

/** Another local cluster's backups, and how far to replay its WAL. */
export interface LocalRestoreSource {
  readonly cluster: string;
  readonly target: RestoreSourceSpec['target'];
}

/** What the operations need of a LocalCluster. */
export interface BackupHost {
  readonly spec: ClusterSpec;
  readonly nodeNames: string[];
  leader(): Promise<string | undefined>;
  runOnNode(name: string, argv: readonly string[], options?: RunOptions): Promise<RunResult>;
}

/** One backup as `pgbackrest info` lists it. */
export interface LocalBackup {
  readonly label: string;
  readonly type: string;
  /** ISO-8601. */
  readonly started: string;
  readonly finished: string;
  readonly sizeBytes: number;
}

export interface LocalBackupInfo {
  readonly stanza: string;
  readonly backups: readonly LocalBackup[];
  /** The oldest and newest archived WAL segments. */
  readonly archive?: { readonly min: string; readonly max: string };
}

export function restoreSourceSpec(source: LocalRestoreSource | undefined): RestoreSourceSpec | undefined {
  return source && { ...clusterStanza(source.cluster), target: source.target };
}

/** A restore target from the CLI: `latest`, or an ISO-8601 time with a zone. */
export function parseRestoreTarget(value: string): RestoreSourceSpec['target'] {
  if (value === 'latest') return { type: 'latest' };
  try {
    postgresTime(value);
  } catch {
    throw new LocalClusterError(`--to must be 'latest' or an ISO-8601 time with a zone (2026-11-30T12:00:00Z), got '${value}'`);
  }
  return { type: 'time', time: value };
}

/** Refuses a restore into a cluster that exists, from itself, or to a time still to come. Nothing is touched. */
export async function checkRestoreInto(clusterName: string, stateRoot: string, source: LocalRestoreSource): Promise<void> {
  checkClusterName(source.cluster);
  if (source.cluster === clusterName) throw new LocalClusterError(`a restore makes a new cluster: --into must differ from the source '${source.cluster}'`);
  await checkNewCluster(clusterName, stateRoot, 'a restore makes a new cluster');
  if (source.target.type === 'time' && Date.parse(source.target.time) > Date.now()) {
    throw new LocalClusterError(`the restore target ${source.target.time} is in the future: nothing has been archived for it yet`);
  }
}

function lastLine(result: RunResult): string {
  const lines = `${result.stderr}\n${result.stdout}`.split('\n').filter((l) => l.trim());
  return lines.length ? lines[lines.length - 1]!.trim() : `exit ${result.code}`;
}

/** `pgbackrest info` of `stanza` (at `/<stanza>` in the repository), run as postgres on `node`. */
async function info(host: BackupHost, node: string, stanza: string): Promise<LocalBackupInfo> {
  const command = pgBackRestCommand(host.spec, findNode(host.spec, node), [`--repo1-path=/${stanza}`, '--output=json', '--io-timeout=10', 'info'], stanza);
  const result = await host.runOnNode(node, ['runuser', '-u', 'postgres', '--', ...command.split(' ')], { allowFailure: true, timeoutMs: 120_000 });
  if (result.code !== 0) throw new LocalClusterError(`pgbackrest info failed on ${node}: ${lastLine(result)}`);
  // system-id exceeds a double's precision; nothing here reads it.
  const [entry] = JSON.parse(result.stdout) as {
    status: { code: number; message: string };
    backup?: { label: string; type: string; timestamp: { start: number; stop: number }; info: { repository: { size: number } } }[];
    archive?: { min: string | null; max: string | null }[];
  }[];
  if (!entry) throw new LocalClusterError(`pgbackrest info on ${node} listed no stanza '${stanza}'`);
  if (entry.status.code !== 0 && entry.status.code !== 2) {
    throw new LocalClusterError(`no backup of cluster '${stanza}' in the repository (pgBackRest: ${entry.status.message})`);
  }
  const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
  const archives = (entry.archive ?? []).filter((a) => a.min && a.max);
  return {
    stanza,
    backups: (entry.backup ?? []).map((b) => ({
      label: b.label,
      type: b.type,
      started: iso(b.timestamp.start),
      finished: iso(b.timestamp.stop),
      sizeBytes: b.info.repository.size,
    })),
    ...(archives.length ? { archive: { min: archives[0]!.min!, max: archives[archives.length - 1]!.max! } } : {}),
  };
}

/** Refuses a source with no backup, or a target time before its oldest backup finished. */
export async function checkRestoreSource(host: BackupHost, node: string, source: RestoreSourceSpec): Promise<void> {
  const found = await info(host, node, source.stanza);
  if (found.backups.length === 0) throw new LocalClusterError(`no backup of cluster '${source.stanza}' in the repository: take one first ('failover backup --local --cluster ${source.stanza}')`);
  if (source.target.type === 'time') {
    const oldest = found.backups[0]!;
    if (Date.parse(source.target.time) < Date.parse(oldest.finished)) {
      throw new LocalClusterError(`the restore target ${source.target.time} is before the oldest backup of '${source.stanza}' (${oldest.label}, finished ${oldest.finished})`);
    }
  }
}

/** What waiting for the archive needs of a LocalCluster: SQL on the writer. */
export interface ArchiveHost {
  sql(query: string): Promise<string>;
}

/**
 * Until the leader has archived the WAL segment it was writing when this was called (after a
 * switch to the next). Two minutes at most.
 */
export async function waitForArchived(host: ArchiveHost): Promise<void> {
  const segment = await host.sql('select pg_walfile_name(pg_switch_wal())');
  // A history file sorts before its timeline's segments ('.' < '0'), so it never satisfies this.
  const query = `select coalesce(last_archived_wal >= '${segment}', false) from pg_stat_archiver`;
  await poll(`segment ${segment} to be archived`, async () => ((await host.sql(query)) === 't' ? found(true) : notYet('not archived yet')), {
    timeoutMs: 120_000,
    intervalMs: 500,
  });
}

/** PostgreSQL's words when the archived WAL ends before a restore's target time (FATAL since 13). */
const TARGET_NOT_REACHED = 'recovery ended before configured recovery target was reached';

/**
 * Why a restore's recovery will never reach its target, read from the new cluster's PostgreSQL
 * logs, or undefined. Recovery that runs out of WAL before a time target (no commit after it
 * archived yet: an idle source, or archive_timeout; or a gap in the archive) ends with a FATAL,
 * and Patroni would retry the bootstrap until the wait timed out.
 */
export function unreachableTarget(source: RestoreSourceSpec, logDirs: readonly string[]): string | undefined {
  if (source.target.type !== 'time') return undefined;
  for (const dir of logDirs) {
    const logs = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^postgresql-.*\.log$/.test(f)) : [];
    if (logs.some((f) => fs.readFileSync(path.join(dir, f), 'utf8').includes(TARGET_NOT_REACHED))) {
      return (
        `recovery ended before the restore target ${source.target.time}: the WAL of '${source.stanza}' it could read ends earlier ` +
        `(nothing committed after the target is archived yet, or the archive has a gap: 'failover backup list'): choose an earlier time, or 'latest'`
      );
    }
  }
  return undefined;
}

/** The cluster's own backups and archive. */
export async function listBackups(host: BackupHost): Promise<LocalBackupInfo> {
  if (!host.spec.backup) throw new LocalClusterError(`cluster '${host.spec.clusterName}' has no backups: make it with 'failover local up --backup'`);
  const node = (await host.leader()) ?? host.nodeNames[0]!;
  return info(host, node, host.spec.clusterName);
}

/**
 * One backup now, by the rendered runner on the node the leader names (as the timers would): the
 * first streaming replica, or the leader itself. `standby`: taken from a replica.
 */
export async function takeBackup(host: BackupHost, type: BackupType): Promise<{ readonly node: string; readonly standby: boolean; readonly seconds: number }> {
  if (!host.spec.backup) throw new LocalClusterError(`cluster '${host.spec.clusterName}' has no backups: make it with 'failover local up --backup'`);
  const leader = await host.leader();
  if (!leader) {
    const of = host.spec.backup.standbyOf?.stanza;
    throw new LocalClusterError(
      of
        ? `no leader: cluster '${host.spec.clusterName}' is a standby of '${of}' (a standby leader is no leader) and takes no backup until it is promoted ('failover promote --local --cluster ${host.spec.clusterName}')`
        : 'no leader: the leader names the node that backs up, and none answers',
    );
  }
  const runner = (name: string) => backupRunnerPath(nodePaths(host.spec, findNode(host.spec, name)));
  const who = await host.runOnNode(leader, ['python3', '-I', runner(leader), 'who'], { allowFailure: true, timeoutMs: 60_000 });
  const plan = parsePlan(who.stdout);
  if (who.code !== 0 || !plan) throw new LocalClusterError(`the leader ${leader} named no node to back up: ${lastLine(who)}`);
  const started = Date.now();
  const result = await host.runOnNode(plan.node, ['python3', '-I', runner(plan.node), 'backup', type, '--once'], { allowFailure: true, timeoutMs: 3_600_000 });
  if (result.code !== 0) throw new LocalClusterError(`the ${type} backup on ${plan.node} failed: ${failureReason(result)}`);
  if (!RUNNER_BACKUP_DONE.test(result.stderr)) {
    throw new LocalClusterError(`${plan.node} took no backup (the cluster changed meanwhile): ${lastLine(result)}`);
  }
  return { node: plan.node, standby: plan.node !== plan.leader, seconds: (Date.now() - started) / 1000 };
}

/** Why the runner's backup failed: pgBackRest's ERROR it logged (the cause: credentials, the network), else its last line. */
function failureReason(result: RunResult): string {
  return runnerFailureCause(result.stderr) ?? lastLine(result);
}

/** backup.py's `who` answer: `{"node": ..., "leader": ...}`. */
export function parsePlan(stdout: string): { readonly node: string; readonly leader: string } | undefined {
  try {
    const value = JSON.parse(stdout) as { node?: unknown; leader?: unknown } | null;
    return value && typeof value.node === 'string' && typeof value.leader === 'string' ? { node: value.node, leader: value.leader } : undefined;
  } catch {
    return undefined;
  }
}
