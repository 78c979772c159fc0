// `failover promote`: a standby cluster becomes a primary (regional recovery). Rehearsed with
// --local on a standby made by `failover local up --standby-of`.
import { Command } from 'commander';
import { LocalCluster } from '../local/cluster';
import { LocalClusterError } from '../local/errors';
import { promoteStandby } from '../local/standby';
import { UsageError } from '../ops/errors';
import { progress, resolveTarget, withTarget, type Target } from './backup';
import { act } from './exit';

export function promoteCommand(): Command {
  return withTarget(new Command('promote'))
    .description(
      'turn a standby cluster into a primary: refused while any node of its primary still runs (--force stops that primary first); then its first full backup',
    )
    .option('--force', 'promote although the primary still runs: kill every node of it first (never two writable clusters)')
    .action(
      act(async (opts: Target & { force?: boolean }) => {
        const target = resolveTarget(opts, 'the promotion');
        if (target.kind === 'stack') {
          throw new UsageError(`promoting a deployed stack (--stack ${target.stack}) is not built yet: docs/regional-recovery.md gives the procedure; rehearse it here with --local`);
        }
        const open = (clusterName: string) => {
          try {
            return LocalCluster.open({ clusterName, stateRoot: target.stateRoot, log: progress });
          } catch (err) {
            if (err instanceof LocalClusterError) return undefined;
            throw err;
          }
        };
        const standby = LocalCluster.open({ clusterName: target.cluster, stateRoot: target.stateRoot, log: progress });
        const result = await promoteStandby(standby, { force: opts.force, open });
        console.log(JSON.stringify(result, null, 2));
      }),
    );
}
