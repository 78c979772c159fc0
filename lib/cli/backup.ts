// `failover backup [list]` and `failover restore`: a cluster's pgBackRest backups. A deployed
// stack's backups run on its nodes, reached through Systems Manager Run Command; a restore of a
// deployed stack is a new cluster deployed with `backup.restoreFrom`, rehearsed here with --local.
import { Command, InvalidArgumentError, Option } from 'commander';
import { LocalCluster } from '../local/cluster';
import { listBackups, parseRestoreTarget, takeBackup } from '../local/backup/operations';
import { DEFAULT_STATE_ROOT } from '../local/layout';
import { TIMING_PROFILES, type TimingProfileName } from '../local/profiles';
import { BACKUP_TYPES, type BackupType } from '../patroni/config/backup-runner';
import { oneLine, UsageError } from '../ops/errors';
import { stackBackup, stackBackupList, type StackBackupTarget } from '../ops/stack-backup';
import { act, usageExitCodes } from './exit';
import { printStatus } from './local';

export interface Target {
  readonly local?: boolean;
  readonly stack?: string;
  readonly region?: string;
  readonly construct?: string;
  readonly cluster: string;
  readonly stateRoot: string;
}

type Resolved = { readonly kind: 'local'; readonly cluster: string; readonly stateRoot: string } | ({ readonly kind: 'stack' } & StackBackupTarget);

export function withTarget(cmd: Command): Command {
  cmd
    .option('--local', 'the local rehearsal cluster (made with failover local up --backup)')
    .option('--stack <name>', "a deployed stack: its PatroniCluster's nodes, through Systems Manager Run Command")
    .option('--region <region>', "with --stack: the stack's region (default: AWS_REGION)")
    .option('--construct <path>', 'with --stack: which PatroniCluster, by construct path or its last part (default: the only one)')
    .option('--cluster <name>', 'with --local: the local cluster\'s name', 'local')
    .option('--state-root <dir>', 'with --local: where local clusters keep their files', DEFAULT_STATE_ROOT)
    .addHelpText('after', '\nExit codes: 0 done, 1 failed (one line on stderr), 2 usage.');
  return usageExitCodes(cmd);
}

/** The cluster the options name: the local one or a deployed stack's, never both. */
export function resolveTarget(opts: Target, what: string): Resolved {
  if (opts.local && opts.stack !== undefined) throw new UsageError('give either --local or --stack, not both');
  if (opts.stack !== undefined) return { kind: 'stack', stack: opts.stack, region: opts.region, construct: opts.construct };
  if (!opts.local) throw new UsageError(`give --local [--cluster NAME] or --stack NAME [--region R]: which cluster ${what} is for`);
  if (opts.region !== undefined || opts.construct !== undefined) throw new UsageError('--region and --construct go with --stack, not --local');
  return { kind: 'local', cluster: opts.cluster, stateRoot: opts.stateRoot };
}

/** `fn`'s value; its error, a bad value given on the command line, as a UsageError (exit 2). */
function usage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new UsageError(oneLine(err));
  }
}

export function progress(line: string): void {
  console.error(line);
}

/** `failover backup [--type]` and `failover backup list`. */
export function backupCommand(): Command {
  const backup = withTarget(new Command('backup'))
    .enablePositionalOptions()
    .description("take a backup now, as the nodes' timers do (from a streaming replica, else the leader); 'backup list' lists them")
    .addOption(new Option('--type <type>', 'backup type').choices([...BACKUP_TYPES]).default('full'))
    .addOption(new Option('--timeout-minutes <n>', 'with --stack: how long the backup may run on the node').argParser(minutes).default(240))
    .action(
      act(async (opts: Target & { type: BackupType; timeoutMinutes: number }) => {
        const target = resolveTarget(opts, 'a backup');
        if (target.kind === 'stack') {
          const { instanceId, seconds } = await stackBackup(target, opts.type, opts.timeoutMinutes * 60, { progress });
          progress(`${opts.type} backup taken on ${instanceId} in ${seconds.toFixed(0)} s`);
          return;
        }
        const cluster = LocalCluster.open({ clusterName: target.cluster, stateRoot: target.stateRoot, log: progress });
        const { node, standby, seconds } = await takeBackup(cluster, opts.type);
        progress(`${opts.type} backup taken on ${node} (${standby ? 'a replica: the leader spared' : 'the leader'}) in ${seconds.toFixed(1)} s`);
      }),
    );
  withTarget(backup.command('list'))
    .description('the backups and the archived WAL range (JSON)')
    .action(
      act(async (opts: Target) => {
        const target = resolveTarget(opts, 'listing backups');
        if (target.kind === 'stack') {
          console.log(JSON.stringify(await stackBackupList(target, { progress }), null, 2));
          return;
        }
        const cluster = LocalCluster.open({ clusterName: target.cluster, stateRoot: target.stateRoot, log: progress });
        console.log(JSON.stringify(await listBackups(cluster), null, 2));
      }),
    );
  return backup;
}

function minutes(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 2880) throw new InvalidArgumentError("must be a whole number of minutes from 1 to 2880 (48 h, Run Command's limit).");
  return n;
}

/** `failover restore --local --to <time|latest> --into NAME`. */
export function restoreCommand(): Command {
  return withTarget(new Command('restore'))
    .description("make a new cluster (--into) from a cluster's backups and archived WAL, up to --to; the source is not touched")
    .requiredOption('--to <time>', "'latest', or an ISO-8601 time with a zone (2026-11-30T12:00:00Z)")
    .requiredOption('--into <name>', "the new cluster's name (must not exist)")
    .addOption(new Option('--timing <profile>', 'timing profile of the new cluster').choices(Object.keys(TIMING_PROFILES)).default('default'))
    .action(
      act(async (opts: Target & { to: string; into: string; timing: TimingProfileName }) => {
        const source = resolveTarget(opts, 'a restore');
        if (source.kind === 'stack') {
          throw new UsageError(
            `a restore of a deployed stack (--stack ${source.stack}) is a new PatroniCluster deployed with backup.restoreFrom (docs/backups.md); rehearse it here with --local`,
          );
        }
        const target = usage(() => parseRestoreTarget(opts.to));
        const cluster = await LocalCluster.up({
          clusterName: opts.into,
          stateRoot: source.stateRoot,
          timing: opts.timing,
          restoreFrom: { cluster: source.cluster, target },
          log: progress,
        });
        printStatus(await cluster.status());
      }),
    );
}
