// A local standby cluster: another local cluster's follower through the shared repository (the
// stand-in for the primary's repository replicated into the standby's region), and its promotion.
// The standby keeps the primary's database roles' passwords: its data is the primary's, roles
// included, and its replicas log in to its standby leader with them.
import { clusterStanza, type ClusterSpec, type RestoreSourceSpec } from '../patroni/config';
import { found, notYet, poll } from '../ops/poll';
import { takeBackup } from './backup/operations';
import type { LocalCluster } from './cluster';
import { LocalClusterError, oneLine } from './errors';
import { checkClusterName, stateFile } from './layout';
import { checkNewCluster } from './teardown';
import { readState } from './state';

/** What a new standby takes from its primary's state. */
export interface StandbyPrimary {
  readonly clusterName: string;
  readonly credentials: ClusterSpec['credentials'];
}

/**
 * The primary `primaryName` of a new standby `clusterName`, checked before anything is made: it
 * exists, has a repository, and is no standby itself; the standby's name is new.
 */
export async function standbyPrimary(clusterName: string, stateRoot: string, primaryName: string): Promise<StandbyPrimary> {
  checkClusterName(primaryName);
  if (primaryName === clusterName) throw new LocalClusterError(`a standby follows another cluster: --standby-of must differ from --cluster '${clusterName}'`);
  await checkNewCluster(clusterName, stateRoot, 'a standby is a new cluster');
  const primary = readState(stateFile(stateRoot, primaryName));
  if (!primary) throw new LocalClusterError(`no local cluster '${primaryName}' to follow: make it first with 'failover local up --cluster ${primaryName} --backup'`);
  const backup = primary.spec.backup;
  if (!backup) {
    throw new LocalClusterError(`cluster '${primaryName}' has no backup repository: a standby follows its primary through it (make the primary with --backup)`);
  }
  if (backup.standbyOf) {
    throw new LocalClusterError(
      `cluster '${primaryName}' is itself a standby of '${backup.standbyOf.stanza}': a standby of a standby is not supported; follow '${backup.standbyOf.stanza}' instead`,
    );
  }
  return { clusterName: primaryName, credentials: primary.spec.credentials };
}

/** The standby's spec: its own repository path and REST API password; the primary's stanza and database roles. */
export function standbySpec(spec: ClusterSpec, primary: StandbyPrimary): ClusterSpec {
  if (!spec.backup) throw new LocalClusterError('a standby cluster needs the backup repository');
  const { superuser, replication, rewind } = primary.credentials;
  return {
    ...spec,
    credentials: { ...spec.credentials, superuser, replication, rewind },
    backup: { ...spec.backup, standbyOf: clusterStanza(primary.clusterName) },
  };
}

/** The standby's source as a restore source (its newest backup, then all the WAL). */
export function standbySource(spec: ClusterSpec): RestoreSourceSpec | undefined {
  const source = spec.backup?.standbyOf;
  return source && { ...source, target: { type: 'latest' } };
}

export interface PromoteOptions {
  /** Promote although the primary still runs: stop every node of it first. */
  readonly force?: boolean;
  /** Opens another local cluster of the same state root (the primary); undefined when it is gone. */
  readonly open: (clusterName: string) => LocalCluster | undefined | Promise<LocalCluster | undefined>;
  /** @default 120 s */
  readonly timeoutMs?: number;
}

export interface PromoteResult {
  readonly cluster: string;
  readonly leader: string;
  /** The primary stopped first (`--force` while any of its nodes ran), or null. */
  readonly fenced: string | null;
  /** From the /config change to the first write acknowledged by the new primary. */
  readonly writableAfterSeconds: number;
  /** The new primary's first full backup (its own stanza), or why it failed. */
  readonly backup: { readonly node: string; readonly seconds: number } | { readonly error: string };
}

/** The primary's leader when it answers and accepts writes (Patroni's GET /primary is 200), else undefined. */
async function writableLeader(primary: LocalCluster): Promise<string | undefined> {
  const leader = await primary.leader().catch(() => undefined);
  if (!leader) return undefined;
  return (await primary.isPrimary(leader).catch(() => false)) ? leader : undefined;
}

/**
 * Turns standby cluster `standby` into a primary: refuses a primary, a standby without a running
 * standby leader, and (unless `force`, which stops it first) a primary with any process left: one
 * that accepts no write now may lead again in a moment, so only a primary with nothing running is
 * safe to leave behind. Then removes `standby_cluster` from its /config, waits for a write, and
 * takes its first backup.
 */
export async function promoteStandby(standby: LocalCluster, options: PromoteOptions): Promise<PromoteResult> {
  const name = standby.clusterName;
  const config = await standby
    .patroni()
    .dynamicConfig()
    .catch((err: unknown) => {
      throw new LocalClusterError(`cluster '${name}' does not answer: ${oneLine(err)}`);
    });
  const following = config.standby_cluster;
  const primaryName = standby.spec.backup?.standbyOf?.stanza;
  if (!following || !primaryName) {
    throw new LocalClusterError(`cluster '${name}' is not a standby cluster (it is a primary${primaryName ? `, promoted from '${primaryName}'` : ''}): nothing to promote`);
  }
  const members = await standby.members();
  const standbyLeader = members.find((m) => m.role === 'standby_leader' && m.state === 'running');
  if (!standbyLeader) {
    throw new LocalClusterError(`cluster '${name}' has no running standby leader (members: ${members.map((m) => `${m.name} ${m.role} ${m.state}`).join(', ') || 'none'}): nothing to promote`);
  }
  const primary = await options.open(primaryName);
  const running = primary ? await primary.nodesWithProcesses() : [];
  let fenced: string | null = null;
  if (primary && running.length > 0) {
    if (!options.force) {
      const writable = await writableLeader(primary);
      const state = writable ? `still answers and accepts writes (leader ${writable})` : `still runs (${running.join(', ')}) and may lead again`;
      throw new LocalClusterError(
        `the primary '${primaryName}' ${state}: promoting '${name}' would risk two writable clusters; ` +
          `promote with --force to stop every node of '${primaryName}' first`,
      );
    }
    for (const node of running) await primary.kill(node);
    fenced = primaryName;
  }
  const started = Date.now();
  const answer = await standby.rest(standbyLeader.name, { method: 'PATCH', path: '/config', json: { standby_cluster: null }, timeoutMs: 10_000 });
  if (answer.status !== 200) throw new LocalClusterError(`Patroni refused the promotion of '${name}' (PATCH /config: ${answer.status} ${answer.body.trim()})`);
  const timeoutMs = options.timeoutMs ?? 120_000;
  const leader = await poll(
    `'${name}' to accept writes`,
    async () => {
      const now = await standby.leader();
      if (!now) return notYet('no leader');
      const write = await standby.trySql('create temporary table promoted(x int)');
      return write.code === 0 ? found(now) : notYet(`${now}: ${write.stderr.trim().split('\n')[0] ?? `psql exited with ${write.code}`}`);
    },
    { timeoutMs, intervalMs: 250 },
  );
  const writableAfterSeconds = (Date.now() - started) / 1000;
  const backup = await firstBackup(standby);
  return { cluster: name, leader, fenced, writableAfterSeconds, backup };
}

/** Tries of the new primary's first full backup, and the wait between them. */
const FIRST_BACKUP = { attempts: 3, delayMs: 10_000 } as const;

/**
 * The new primary's first full backup. Right after the promotion the replicas are still turning to
 * the new timeline and archive-push may hold the stanza's lock: a failed try is retried, a few
 * times; the last failure is the answer.
 */
async function firstBackup(standby: LocalCluster): Promise<PromoteResult['backup']> {
  let error = '';
  for (let attempt = 1; attempt <= FIRST_BACKUP.attempts; attempt++) {
    try {
      const b = await takeBackup(standby, 'full');
      return { node: b.node, seconds: b.seconds };
    } catch (err) {
      error = oneLine(err);
      if (attempt < FIRST_BACKUP.attempts) await new Promise((resolve) => setTimeout(resolve, FIRST_BACKUP.delayMs));
    }
  }
  return { error };
}
