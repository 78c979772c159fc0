// `failover promote`: a standby cluster becomes a primary (regional recovery). Rehearsed with
// --local on a standby made by `failover local up --standby-of`.
import { Command } from 'commander';
import { LocalCluster } from '../local/cluster';
import * as fs from 'node:fs';
import { LocalClusterError } from '../local/errors';
import { stateFile } from '../local/layout';
import { promoteStandby } from '../local/standby';
import { stackPromote } from '../ops/stack-promote';
import { leftoversExist } from '../local/teardown';
import { UsageError } from '../ops/errors';
import { progress, resolveTarget, withTarget, type Target } from './backup';
import { act } from './exit';

/**
 * The primary of a promotion, or undefined when nothing of it is left on this machine (the lost
 * region). A state that cannot be read, or processes and namespaces left without a state, cannot
 * be checked or fenced: refused, never taken for a lost region.
 */
export async function openPrimary(clusterName: string, stateRoot: string): Promise<LocalCluster | undefined> {
  if (fs.existsSync(stateFile(stateRoot, clusterName))) return LocalCluster.open({ clusterName, stateRoot, log: progress });
  if (await leftoversExist(clusterName, stateRoot)) {
    throw new LocalClusterError(
      `the primary '${clusterName}' has no state but processes or namespaces left: it cannot be checked or fenced; remove them first ('failover local down --cluster ${clusterName}')`,
    );
  }
  return undefined;
}

export function promoteCommand(): Command {
  return withTarget(new Command('promote'))
    .description(
      'turn a standby cluster into a primary: refused while any node of its primary still runs (--force stops that primary first, --planned drains it first); ' +
        'fences the old primary in its repository (it promotes no more), then takes the first full backup',
    )
    .option('--force', 'promote although the primary still runs: kill every node of it first (never two writable clusters)')
    .option('--planned', 'a planned switch (fail-back) from a primary that runs: stop its HAProxy, wait until its last WAL is replayed here, stop it, promote: no acknowledged write lost')
    .option('--primary-stack <name>', "with --stack: the primary's stack, looked at first (refused while it runs; --force stops it)")
    .option('--primary-region <region>', "with --primary-stack: the primary's region")
    .action(
      act(async (opts: Target & { force?: boolean; planned?: boolean; primaryStack?: string; primaryRegion?: string }) => {
        if (opts.planned && opts.force) {
          throw new UsageError('--planned and --force exclude each other: a planned switch loses nothing, a forced one stops the primary as it is');
        }
        const target = resolveTarget(opts, 'the promotion');
        if (opts.primaryRegion !== undefined && opts.primaryStack === undefined) throw new UsageError('--primary-region goes with --primary-stack');
        if (target.kind === 'stack') {
          if (opts.planned) throw new UsageError('--planned is rehearsed with --local only: a deployed fail-back is the runbook\'s procedure (docs/regional-recovery.md)');
          const result = await stackPromote(target, { force: opts.force, primaryStack: opts.primaryStack, primaryRegion: opts.primaryRegion }, { progress });
          console.log(JSON.stringify(result, null, 2));
          return;
        }
        if (opts.primaryStack !== undefined || opts.primaryRegion !== undefined) throw new UsageError('--primary-stack and --primary-region go with --stack');
        const open = (clusterName: string) => openPrimary(clusterName, target.stateRoot);
        const standby = LocalCluster.open({ clusterName: target.cluster, stateRoot: target.stateRoot, log: progress });
        const result = await promoteStandby(standby, { force: opts.force, planned: opts.planned, open });
        console.log(JSON.stringify(result, null, 2));
      }),
    );
}
