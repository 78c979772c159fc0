// A local standby cluster: another local cluster's follower through the shared repository (the
// stand-in for the primary's repository replicated into the standby's region), and its promotion.
// The standby keeps the primary's database roles' passwords: its data is the primary's, roles
// included, and its replicas log in to its standby leader with them.
import { clusterStanza, type ClusterSpec, type RestoreSourceSpec } from '../patroni/config';
import { found, notYet, poll } from '../ops/poll';
import { takeBackup, waitForArchived } from './backup/operations';
import { writeFence, type Fence } from './backup/fence';
import type { LocalCluster } from './cluster';
import { LocalClusterError, oneLine } from './errors';
import { checkClusterName, stateFile } from './layout';
import { checkNewCluster } from './teardown';
import { readState, type StandbyPeeringState } from './state';
import { localTlsFiles } from './certificates';
import { PEERING_PORT } from './peering';
import * as fs from 'node:fs';

/** What a new standby takes from its primary's state. */
export interface StandbyPrimary {
  readonly clusterName: string;
  readonly credentials: ClusterSpec['credentials'];
  /** Its writer endpoint and database CA, for streaming. */
  readonly peering: StandbyPeeringState;
}

/**
 * The primary `primaryName` of a new standby `clusterName`, checked before anything is made: it
 * exists, has a repository, and is no standby itself (made as one, it must have been promoted:
 * `promoted` asks its /config); the standby's name is new.
 */
export async function standbyPrimary(
  clusterName: string,
  stateRoot: string,
  primaryName: string,
  promoted: (name: string) => Promise<boolean>,
): Promise<StandbyPrimary> {
  checkClusterName(primaryName);
  if (primaryName === clusterName) throw new LocalClusterError(`a standby follows another cluster: --standby-of must differ from --cluster '${clusterName}'`);
  await checkNewCluster(clusterName, stateRoot, 'a standby is a new cluster');
  const primary = readState(stateFile(stateRoot, primaryName));
  if (!primary) throw new LocalClusterError(`no local cluster '${primaryName}' to follow: make it first with 'failover local up --cluster ${primaryName} --backup'`);
  const backup = primary.spec.backup;
  if (!backup) {
    throw new LocalClusterError(`cluster '${primaryName}' has no backup repository: a standby follows its primary through it (make the primary with --backup)`);
  }
  // Made as a standby, and promoted since (its /config follows no one): a primary like any other.
  if (backup.standbyOf && !(await promoted(primaryName))) {
    throw new LocalClusterError(
      `cluster '${primaryName}' is itself a standby of '${backup.standbyOf.stanza}': a standby of a standby is not supported; follow '${backup.standbyOf.stanza}' instead`,
    );
  }
  const caFile = localTlsFiles(primary.dir).databaseCaCert;
  const peering: StandbyPeeringState = {
    primaryNamespace: primary.client.namespace,
    primaryAddress: primary.client.address,
    primaryPort: primary.spec.ports.haproxyPrimary,
    ...(primary.spec.tls && fs.existsSync(caFile) ? { primaryDatabaseCaPem: fs.readFileSync(caFile, 'utf8') } : {}),
  };
  return { clusterName: primaryName, credentials: primary.spec.credentials, peering };
}

/**
 * The standby's spec: its own repository path and REST API password; the primary's stanza and
 * database roles; with `streaming`, the primary's writer endpoint as this cluster's client
 * namespace offers it (the peering relay at `clientAddress`).
 */
export function standbySpec(spec: ClusterSpec, primary: StandbyPrimary, streaming?: { readonly clientAddress: string }): ClusterSpec {
  if (!spec.backup) throw new LocalClusterError('a standby cluster needs the backup repository');
  const { superuser, replication, rewind } = primary.credentials;
  const endpoint = streaming ? { host: streaming.clientAddress, port: PEERING_PORT } : {};
  return {
    ...spec,
    credentials: { ...spec.credentials, superuser, replication, rewind },
    backup: { ...spec.backup, standbyOf: { ...clusterStanza(primary.clusterName), ...endpoint } },
  };
}

/** The standby's source as a restore source (its newest backup, then all the WAL). */
export function standbySource(spec: ClusterSpec): RestoreSourceSpec | undefined {
  const source = spec.backup?.standbyOf;
  return source && { stanza: source.stanza, path: source.path, target: { type: 'latest' } };
}

export interface PromoteOptions {
  /** Promote although the primary still runs: stop every node of it first. */
  readonly force?: boolean;
  /**
   * A planned switch (a fail-back): the primary runs and accepts writes. Its HAProxy is stopped on
   * every node (no client reaches it), its last WAL archived and replayed by the standby leader,
   * then every node of it is stopped: no acknowledged write is lost.
   */
  readonly planned?: boolean;
  /** Opens another local cluster of the same state root (the primary); undefined when it is gone. */
  readonly open: (clusterName: string) => LocalCluster | undefined | Promise<LocalCluster | undefined>;
  /** @default 120 s */
  readonly timeoutMs?: number;
}

export interface PromoteResult {
  readonly cluster: string;
  readonly leader: string;
  /** The primary stopped first (`--force` while any of its nodes ran, or `--planned`), or null. */
  readonly stopped: string | null;
  /** The old primary's fence (its repository's FENCE_FILE), written before the promotion: it promotes no more. */
  readonly fence: Fence;
  /** `--planned`: the old primary's write position once no client reached it, which the standby leader replayed before it was stopped. */
  readonly drainedAt?: string;
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
  let stopped: string | null = null;
  let drainedAt: string | undefined;
  if (options.planned) {
    if (options.force) throw new LocalClusterError('--planned and --force exclude each other: a planned switch loses nothing, a forced one stops the primary as it is');
    const writable = primary && (await writableLeader(primary));
    if (!primary || !writable) {
      throw new LocalClusterError(
        `a planned promotion needs the primary '${primaryName}' running and accepting writes, and it ${primary ? 'accepts none' : 'is gone'}: ` +
          `promote with --force (or without, when nothing of it runs)`,
      );
    }
    try {
      drainedAt = await drainPrimary(primary, writable, standby, standbyLeader.name, options.timeoutMs ?? 120_000);
    } catch (err) {
      // Nothing was promoted: the primary takes writes again.
      for (const node of primary.nodeNames) await primary.heal(node);
      throw new LocalClusterError(`the planned promotion of '${name}' stopped (${oneLine(err)}); '${primaryName}' takes writes again (its HAProxy started again)`);
    }
  } else if (primary && running.length > 0 && !options.force) {
    const writable = await writableLeader(primary);
    const state = writable ? `still answers and accepts writes (leader ${writable})` : `still runs (${running.join(', ')}) and may lead again`;
    throw new LocalClusterError(
      `the primary '${primaryName}' ${state}: promoting '${name}' would risk two writable clusters; ` +
        `promote with --force to stop every node of '${primaryName}' first, or --planned to switch without losing a write`,
    );
  }
  if (primary) {
    const left = await primary.nodesWithProcesses();
    for (const node of left) await primary.kill(node);
    if (left.length > 0) stopped = primaryName;
  }
  // Before the promotion: from now on the old primary's nodes refuse to promote (Patroni's pre_promote).
  const fence = await writeFence(standby.stateRoot, primaryName, name);
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
  return { cluster: name, leader, stopped, fence, ...(drainedAt ? { drainedAt } : {}), writableAfterSeconds, backup };
}

/**
 * Empties the writable primary into the standby: HAProxy stopped on every node (no client reaches
 * it; sessions through it end), its last WAL switched out and archived, and the standby leader's
 * replay awaited up to that position. Returns the position.
 */
async function drainPrimary(primary: LocalCluster, leader: string, standby: LocalCluster, standbyLeader: string, timeoutMs: number): Promise<string> {
  for (const node of primary.nodeNames) await primary.stopHaproxy(node);
  // Every acknowledged commit ends at or before this position; only Patroni and the superuser's socket write after it.
  const onLeader = { from: leader, uri: primary.nodePostgresUri(leader) };
  const lsn = await primary.sql('select pg_current_wal_lsn()', onLeader);
  await waitForArchived({ sql: (q) => primary.sql(q, onLeader) });
  await poll(
    `'${standby.clusterName}' to replay '${primary.clusterName}' up to ${lsn}`,
    async () => {
      const replayed = await standby.sql(`select coalesce(pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn, false)`, {
        from: standbyLeader,
        uri: standby.nodePostgresUri(standbyLeader),
      });
      return replayed === 't' ? found(true) : notYet('not replayed yet');
    },
    { timeoutMs, intervalMs: 500 },
  );
  return lsn;
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
