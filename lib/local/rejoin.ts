// A fenced old primary rebuilt as a standby of the cluster promoted in its place (the first half
// of a fail-back; `failover promote --planned` is the second). Its data went on past the point
// where the standby was promoted, so nothing of it is kept: its processes and files go, its
// repository path (old backups and fence) is moved aside, and it is made again, with the same name
// and timing, as a standby of the new primary.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readFence } from './backup/fence';
import { LOCAL_S3, repositoryDir } from './backup/repository';
import { LocalCluster } from './cluster';
import { listBackups } from './backup/operations';
import { LocalClusterError, oneLine } from './errors';
import { isTimingProfileName } from './profiles';

export interface RejoinOptions {
  readonly clusterName: string;
  readonly stateRoot: string;
  /** The cluster promoted in its place. */
  readonly standbyOf: string;
  readonly log?: (line: string) => void;
  /** How long the new standby may take to come up. */
  readonly timeoutMs?: number;
}

export interface RejoinResult {
  readonly cluster: LocalCluster;
  /** Where the old repository path (its backups and its fence) went, under the bucket. */
  readonly movedAside: string;
}

/** The old cluster's repository path in the stand-in's store. */
function repositoryPathDir(stateRoot: string, clusterName: string): string {
  return path.join(repositoryDir(stateRoot), 's3', LOCAL_S3.bucket, clusterName);
}

/** The cluster to follow answers, leads (no standby_cluster in its /config) and has a backup to make the standby from. */
async function checkNewPrimary(stateRoot: string, name: string, log: (line: string) => void): Promise<void> {
  const primary = LocalCluster.open({ clusterName: name, stateRoot, log });
  const config = await primary
    .patroni()
    .dynamicConfig()
    .catch((err: unknown) => {
      throw new LocalClusterError(`cluster '${name}' does not answer (${oneLine(err)}): nothing was changed`);
    });
  if (config.standby_cluster) throw new LocalClusterError(`cluster '${name}' is still a standby cluster: promote it first; nothing was changed`);
  const info = await listBackups(primary);
  if (info.backups.length === 0) {
    throw new LocalClusterError(`cluster '${name}' has no backup yet to make the standby from ('failover backup --local --cluster ${name}'): nothing was changed`);
  }
}

/**
 * Rebuilds `clusterName` as a standby of `standbyOf`. Refused, with nothing changed, unless a
 * promotion of `standbyOf` fenced it (rebuilding discards the cluster's data) and `standbyOf`
 * answers, leads and has a backup.
 */
export async function rejoinAsStandby(options: RejoinOptions): Promise<RejoinResult> {
  const { clusterName, standbyOf } = options;
  const stateRoot = path.resolve(options.stateRoot);
  const log = options.log ?? (() => undefined);
  const old = LocalCluster.open({ clusterName, stateRoot, log });
  const fence = await readFence(stateRoot, clusterName);
  if (!fence || fence.promoted !== standbyOf) {
    throw new LocalClusterError(
      `cluster '${clusterName}' is not fenced by a promotion of '${standbyOf}' (${fence ? `its fence names '${fence.promoted}'` : 'it has no fence'}): ` +
        `rejoin discards its data, and only a cluster that a promotion replaced may be rebuilt this way`,
    );
  }
  await checkNewPrimary(stateRoot, standbyOf, log);
  const nodes = old.nodeNames.length;
  const timing = isTimingProfileName(old.timingProfile) ? old.timingProfile : old.timing;
  await LocalCluster.down({ clusterName, stateRoot, log });
  const from = repositoryPathDir(stateRoot, clusterName);
  const movedAside = `${clusterName}.fenced-${fence.at.replace(/[^0-9]/g, '').slice(0, 14)}`;
  if (fs.existsSync(from)) fs.renameSync(from, repositoryPathDir(stateRoot, movedAside));
  log(`cluster '${clusterName}' removed; its old repository path is now '${movedAside}'`);
  const cluster = await LocalCluster.up({ clusterName, stateRoot, nodes, timing, standbyOf, log, timeoutMs: options.timeoutMs });
  return { cluster, movedAside };
}
