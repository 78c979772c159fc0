// `failover backup [list] --stack S`: the backup runner the nodes' timers run, started on every node
// of a deployed cluster through Run Command. As with the timers, the node the runner names (a
// streaming replica, else the leader) takes the backup and the others step aside.
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { SSMClient } from '@aws-sdk/client-ssm';
import { backupRunnerPath } from '../patroni/config/pgbackrest';
import { debianNodePaths } from '../patroni/config/paths';
import { RUNNER_BACKUP_DONE, runnerFailureCause, type BackupType } from '../patroni/config/backup-runner';
import { OpsError, UsageError } from './errors';
import { lastLine, runOnNodes, type NodeCommandResult } from './node-commands';
import { readStackOutputsIn, selectConstruct, stackRegion, type PatroniClusterOutputs } from './stack-outputs';

export interface StackBackupTarget {
  readonly stack: string;
  /** @default - AWS_REGION, else AWS_DEFAULT_REGION */
  readonly region?: string;
  /** Which PatroniCluster of the stack, by construct path or its last part. @default - the only one */
  readonly construct?: string;
}

export interface StackBackupDependencies {
  readonly env?: NodeJS.ProcessEnv;
  readonly cloudFormation?: (region: string | undefined) => CloudFormationClient;
  readonly ssm?: (region: string | undefined) => SSMClient;
  readonly signal?: AbortSignal;
  readonly progress?: (line: string) => void;
  /** @default 5000 */
  readonly pollIntervalMs?: number;
}

/** Where the runner is on an EC2 node (the construct installs PostgreSQL 15 with Debian's layout). */
const RUNNER = backupRunnerPath(debianNodePaths(15));
const NO_BACKUPS = 'cdk-failover: this node has no backup runner (the cluster was deployed without the backup prop)';

function guarded(command: string): string[] {
  return [`if [ ! -x ${RUNNER} ]; then echo '${NO_BACKUPS}' >&2; exit 3; fi`, `${RUNNER} ${command}`];
}

/** Systems Manager in `region`: the dependency's, or the SDK's with its standard retries (`maxAttempts` tries). */
export function ssmClient(region: string, deps: StackBackupDependencies, maxAttempts = 5): SSMClient {
  return deps.ssm ? deps.ssm(region) : new SSMClient({ region, maxAttempts });
}

export async function deployedCluster(target: StackBackupTarget, deps: StackBackupDependencies): Promise<{ cluster: PatroniClusterOutputs; ssm: SSMClient }> {
  const env = deps.env ?? process.env;
  const region = stackRegion(target.region, env);
  if (!region) throw new UsageError(`give --region (or AWS_REGION): which region stack ${target.stack} is in`);
  const outputs = await readStackOutputsIn(region, target.stack, deps.cloudFormation, deps.signal);
  const cluster = selectConstruct(outputs.clusters, target.construct, 'PatroniCluster', target.stack);
  return { cluster, ssm: ssmClient(region, deps) };
}

/** Why a node's run failed, as one line: Run Command's detail, the exit code, and the runner's (or pgBackRest's) reason. */
export function why(failed: NodeCommandResult): string {
  const cause = runnerFailureCause(failed.stderr) ?? lastLine(failed.stderr) ?? lastLine(failed.stdout) ?? 'no output';
  return `${failed.instanceId}: ${failed.statusDetails} (exit ${failed.exitCode}): ${cause}`;
}

/** The first failed node's reason, as one line. */
function failure(results: readonly NodeCommandResult[]): string | undefined {
  const failed = results.find((r) => r.status !== 'Success');
  return failed && why(failed);
}

/** Takes a `type` backup on the node the runner names; returns that node and how long it took. */
export async function stackBackup(
  target: StackBackupTarget,
  type: BackupType,
  timeoutSeconds: number,
  deps: StackBackupDependencies = {},
): Promise<{ readonly instanceId: string; readonly seconds: number }> {
  const { cluster, ssm } = await deployedCluster(target, deps);
  const started = Date.now();
  deps.progress?.(`${cluster.path}: ${type} backup started on ${cluster.nodeInstanceIds.join(', ')} (the runner picks the node)`);
  const results = await runOnNodes(ssm, cluster.nodeInstanceIds, guarded(`backup ${type} --once`), {
    comment: `cdk-failover: ${type} backup of ${cluster.clusterName}`,
    executionTimeoutSeconds: timeoutSeconds,
    pollIntervalMs: deps.pollIntervalMs,
    signal: deps.signal,
    onProgress: deps.progress,
  });
  const taker = results.find((r) => r.status === 'Success' && RUNNER_BACKUP_DONE.test(r.stderr));
  if (taker) {
    // The backup is there: a node that could not take part (stopped, its agent offline) is a warning.
    for (const r of results.filter((x) => x.status !== 'Success')) deps.progress?.(`warning: ${why(r)}`);
    return { instanceId: taker.instanceId, seconds: (Date.now() - started) / 1000 };
  }
  const failed = failure(results);
  if (failed) throw new OpsError(`the ${type} backup of ${cluster.path} failed on ${failed}`);
  throw new OpsError(`no node of ${cluster.path} took the ${type} backup: ${lastLine(results[0]!.stderr) ?? 'the runner said nothing'}`);
}

/** The repository's backups and archived WAL range, as `pgbackrest info --output=json` gives them (from the first node that answers). */
export async function stackBackupList(target: StackBackupTarget, deps: StackBackupDependencies = {}): Promise<unknown> {
  const { cluster, ssm } = await deployedCluster(target, deps);
  const results = await runOnNodes(ssm, cluster.nodeInstanceIds, guarded('info'), {
    comment: `cdk-failover: backup list of ${cluster.clusterName}`,
    executionTimeoutSeconds: 300,
    pollIntervalMs: deps.pollIntervalMs,
    signal: deps.signal,
    onProgress: deps.progress,
  });
  for (const r of results.filter((x) => x.status === 'Success')) {
    try {
      return JSON.parse(r.stdout) as unknown;
    } catch {
      // Run Command keeps only the first 24,000 characters: a long list is cut; try the next node.
    }
  }
  throw new OpsError(`no node of ${cluster.path} listed its backups: ${failure(results) ?? 'the output was cut or not JSON (Run Command keeps 24,000 characters): run the runbook\'s pgbackrest info on a node'}`);
}
