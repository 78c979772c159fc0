// `failover backup [list]` and `failover restore`: a cluster's pgBackRest backups. The local
// rehearsal cluster only: a deployed stack's backups run on its nodes, and the CLI has no way
// onto the nodes yet (Debian's image has no SSM agent).
import { Command, Option } from 'commander';
import { LocalCluster } from '../local/cluster';
import { listBackups, parseRestoreTarget, takeBackup } from '../local/backup/operations';
import { DEFAULT_STATE_ROOT } from '../local/layout';
import { TIMING_PROFILES, type TimingProfileName } from '../local/profiles';
import { BACKUP_TYPES, type BackupType } from '../patroni/config/backup-runner';
import { oneLine, UsageError } from '../ops/errors';
import { act, usageExitCodes } from './exit';
import { printStatus } from './local';

interface Target {
  readonly local?: boolean;
  readonly stack?: string;
  readonly cluster: string;
  readonly stateRoot: string;
}

function withTarget(cmd: Command): Command {
  cmd
    .option('--local', 'the local rehearsal cluster (made with failover local up --backup)')
    .option('--stack <name>', 'a deployed stack (not yet: see the error it gives)')
    .option('--cluster <name>', 'the local cluster\'s name', 'local')
    .option('--state-root <dir>', 'where local clusters keep their files', DEFAULT_STATE_ROOT)
    .addHelpText('after', '\nExit codes: 0 done, 1 failed (one line on stderr), 2 usage.');
  return usageExitCodes(cmd);
}

/** The local cluster the options name; a stack, or no target, is refused with the way round it. */
function localTarget(opts: Target, what: string): { readonly cluster: string; readonly stateRoot: string } {
  if (opts.stack !== undefined) {
    throw new UsageError(
      `${what} of a deployed stack (--stack ${opts.stack}) runs on its nodes, and this CLI cannot reach them yet (no SSM agent on the image): ` +
        "follow the runbook's 'Backups and point-in-time recovery' on a node, or rehearse with --local",
    );
  }
  if (!opts.local) throw new UsageError(`give --local [--cluster NAME]: ${what} is rehearsed on a local cluster`);
  return { cluster: opts.cluster, stateRoot: opts.stateRoot };
}

/** `fn`'s value; its error, a bad value given on the command line, as a UsageError (exit 2). */
function usage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new UsageError(oneLine(err));
  }
}

function progress(line: string): void {
  console.error(line);
}

/** `failover backup [--type]` and `failover backup list`. */
export function backupCommand(): Command {
  const backup = withTarget(new Command('backup'))
    .enablePositionalOptions()
    .description("take a backup now, as the nodes' timers do (from a streaming replica, else the leader); 'backup list' lists them")
    .addOption(new Option('--type <type>', 'backup type').choices([...BACKUP_TYPES]).default('full'))
    .action(
      act(async (opts: Target & { type: BackupType }) => {
        const target = localTarget(opts, 'a backup');
        const cluster = LocalCluster.open({ clusterName: target.cluster, stateRoot: target.stateRoot, log: progress });
        const { node, standby, seconds } = await takeBackup(cluster, opts.type);
        progress(`${opts.type} backup taken on ${node} (${standby ? 'a replica: the leader spared' : 'the leader'}) in ${seconds.toFixed(1)} s`);
      }),
    );
  withTarget(backup.command('list'))
    .description('the backups and the archived WAL range (JSON)')
    .action(
      act(async (opts: Target) => {
        const target = localTarget(opts, 'listing backups');
        const cluster = LocalCluster.open({ clusterName: target.cluster, stateRoot: target.stateRoot, log: progress });
        console.log(JSON.stringify(await listBackups(cluster), null, 2));
      }),
    );
  return backup;
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
        const source = localTarget(opts, 'a restore');
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
