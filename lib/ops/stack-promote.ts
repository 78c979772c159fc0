// `failover promote --stack B`: a deployed standby cluster becomes the primary, through Systems
// Manager Run Command on its nodes, as the local promotion does it: the old primary looked at
// (and stopped with --force) through its own stack when it is named, its fence written, the
// standby leader promoted through Patroni's /config, then the first full backup.
import { oneLine, OpsError, UsageError } from './errors';
import { runOnNodes, lastLine, type NodeCommandResult } from './node-commands';
import { deployedCluster, ssmClient, stackBackup, why, type StackBackupDependencies, type StackBackupTarget } from './stack-backup';
import { readStackOutputsIn } from './stack-outputs';
import { fenceScript, membersScript, promoteScript, PROMOTED_LINE, stopNodeScript, LEAD_WAIT_SECONDS } from './stack-promote-scripts';

export interface StackPromoteOptions {
  /** Promote although the primary runs (stop its nodes first), or without looking at it. */
  readonly force?: boolean;
  /** The primary's stack, to look at it (and stop it with `force`) first. */
  readonly primaryStack?: string;
  readonly primaryRegion?: string;
}

/** What became of the old primary before the promotion. */
export type PrimaryCheck = 'unreachable' | 'not running' | 'stopped' | 'not looked at (--force)';

export interface StackPromoteResult {
  readonly cluster: string;
  readonly primary: string;
  readonly primaryCheck: PrimaryCheck;
  /** Where the fence went, as the node said. */
  readonly fence: string;
  readonly leaderInstance: string;
  readonly backup: { readonly instanceId: string; readonly seconds: number } | { readonly error: string };
}

interface Member {
  readonly Member?: string;
  readonly Role?: string;
  readonly State?: string;
}

/** The first node's JSON member list among `results`, or undefined when no node answered with one. */
function members(results: readonly NodeCommandResult[]): Member[] | undefined {
  for (const r of results.filter((x) => x.status === 'Success')) {
    try {
      const list = JSON.parse(r.stdout) as unknown;
      if (Array.isArray(list)) return list as Member[];
    } catch {
      // The next node's.
    }
  }
  return undefined;
}

/**
 * Looks at the primary through its stack: unreachable (its region, its stack or every node's agent
 * gone), not running, or running: refused unless `force`, which stops every node of it.
 */
async function checkPrimary(primaryName: string, standbyPath: string, options: StackPromoteOptions, deps: StackBackupDependencies): Promise<PrimaryCheck> {
  if (!options.primaryStack) {
    if (options.force) return 'not looked at (--force)';
    throw new UsageError(
      `give --primary-stack (and --primary-region) so that the primary '${primaryName}' is looked at first, or --force when its region is lost: promoting ${standbyPath} while it runs would make two writable clusters`,
    );
  }
  // No fallback to AWS_REGION: that is usually the standby's region, where the primary's stack is not.
  const region = options.primaryRegion;
  if (!region) throw new UsageError(`give --primary-region: which region stack ${options.primaryStack} is in`);
  let instanceIds: readonly string[];
  try {
    const outputs = await readStackOutputsIn(region, options.primaryStack, deps.cloudFormation, deps.signal);
    const primary = outputs.clusters.find((c) => c.clusterName === primaryName);
    if (!primary) throw new OpsError(`stack ${options.primaryStack} has no PatroniCluster '${primaryName}' (found: ${outputs.clusters.map((c) => c.clusterName).join(', ') || 'none'})`);
    instanceIds = primary.nodeInstanceIds;
  } catch (err) {
    // A wrong name or missing rights is a mistake to fix, never a lost region.
    if ((err instanceof OpsError && /has no PatroniCluster/.test(err.message)) || /does not exist|AccessDenied|not authorized|credential/i.test(oneLine(err))) {
      throw new OpsError(`the primary's stack ${options.primaryStack} in ${region} cannot be read (${oneLine(err)}): nothing promoted`);
    }
    return unreachable(primaryName, standbyPath, oneLine(err), options, deps);
  }
  // Fewer tries than for the standby: the primary's region may be the one that is lost.
  const ssm = ssmClient(region, deps, 3);
  let results: NodeCommandResult[];
  try {
    results = await runOnNodes(ssm, instanceIds, membersScript(), { comment: `cdk-failover: is ${primaryName} running`, executionTimeoutSeconds: 60, pollIntervalMs: deps.pollIntervalMs, signal: deps.signal });
  } catch (err) {
    // No node's agent answers (InvalidInstanceId, or no answer in time): the nodes are gone or cut off.
    return unreachable(primaryName, standbyPath, oneLine(err), options, deps);
  }
  const list = members(results);
  // Every member that is not stopped has a Patroni that may start or keep PostgreSQL (starting, crashed, restarting...).
  const running = (list ?? []).filter((m) => m.State !== 'stopped');
  if (list && running.length === 0) return 'not running';
  const leader = running.find((m) => m.Role === 'Leader');
  if (!options.force) {
    const state = !list
      ? `answers but its member list cannot be read (${results.map((r) => why(r)).join('; ')})`
      : leader
        ? `still accepts writes (leader ${leader.Member})`
        : `still runs (${running.map((m) => `${m.Member} ${m.State}`).join(', ')}) and may lead again`;
    throw new OpsError(`the primary '${primaryName}' ${state}: promoting ${standbyPath} would risk two writable clusters; promote with --force to stop every node of it first`);
  }
  // Its agents answered: stop every node, whatever the list said.
  const stopped = await runOnNodes(ssm, instanceIds, stopNodeScript(), {
    comment: `cdk-failover: stop ${primaryName} before a promotion`,
    executionTimeoutSeconds: 120,
    pollIntervalMs: deps.pollIntervalMs,
    signal: deps.signal,
  });
  const failed = stopped.find((r) => r.status !== 'Success');
  if (failed) throw new OpsError(`could not stop every node of '${primaryName}', nothing promoted: ${why(failed)}`);
  return 'stopped';
}

/** A primary that cannot be looked at may still run (its region half reachable): refused, failing closed, unless `force`. */
function unreachable(primaryName: string, standbyPath: string, reason: string, options: StackPromoteOptions, deps: StackBackupDependencies): PrimaryCheck {
  if (!options.force) {
    throw new OpsError(`the primary '${primaryName}' cannot be looked at (${reason}): if its region is lost, promote ${standbyPath} with --force`);
  }
  deps.progress?.(`the primary '${primaryName}' cannot be looked at (${reason}): promoting anyway (--force)`);
  return 'unreachable';
}

/**
 * Promotes the standby cluster of `target`: refused for a primary, while the named primary stack
 * runs (unless `force`), and without `primaryStack` unless `force`. The fence is written before
 * the promotion; a failed first backup is reported, not thrown.
 */
export async function stackPromote(target: StackBackupTarget, options: StackPromoteOptions, deps: StackBackupDependencies = {}): Promise<StackPromoteResult> {
  const { cluster, ssm } = await deployedCluster(target, deps);
  const primary = cluster.primaryClusterName;
  if (!primary) throw new OpsError(`${cluster.path} in stack ${target.stack} is not a standby cluster (no primaryClusterName output): nothing to promote`);
  const primaryCheck = await checkPrimary(primary, cluster.path, options, deps);
  const run = (instanceIds: readonly string[], commands: string[], comment: string, seconds: number) =>
    runOnNodes(ssm, instanceIds, commands, { comment, executionTimeoutSeconds: seconds, pollIntervalMs: deps.pollIntervalMs, signal: deps.signal, onProgress: deps.progress });

  // Before the promotion, as locally: the old primary's nodes refuse to promote from now on.
  const [fenced] = await run(cluster.nodeInstanceIds.slice(0, 1), fenceScript(primary, cluster.clusterName, new Date().toISOString()), `cdk-failover: fence ${primary}`, 120);
  if (fenced!.status !== 'Success') throw new OpsError(`the fence of '${primary}' could not be written, nothing promoted: ${why(fenced!)}`);
  deps.progress?.(lastLine(fenced!.stdout) ?? `fenced ${primary}`);

  const results = await run(cluster.nodeInstanceIds, promoteScript(), `cdk-failover: promote ${cluster.clusterName}`, LEAD_WAIT_SECONDS + 60);
  const leader = results.find((r) => r.status === 'Success' && r.stdout.includes(PROMOTED_LINE));
  if (!leader) {
    const failed = results.find((r) => r.status !== 'Success');
    throw new OpsError(
      failed ? `the promotion of ${cluster.path} failed on ${why(failed)}` : `no node of ${cluster.path} is a running standby leader (${results.map((r) => `${r.instanceId}: ${lastLine(r.stdout) ?? 'no output'}`).join('; ')}): nothing promoted`,
    );
  }
  const backup = await stackBackup(target, 'full', 3600, deps).catch((err: unknown) => ({ error: oneLine(err) }));
  return { cluster: cluster.clusterName, primary, primaryCheck, fence: lastLine(fenced!.stdout) ?? '', leaderInstance: leader.instanceId, backup };
}
