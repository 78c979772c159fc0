// Jest global setup of the projects that drive real programs (`tools`, `cluster`): installs the
// Debian packages they need, once, before any suite runs. Where it cannot (not root, no apt-get,
// not Debian) it stops the run with one line that names the packages and the command. The cluster
// project also needs root itself (network namespaces); SKIP_CLUSTER=1 skips it on purpose.
import * as fs from 'node:fs';
import { ensurePackages, installCommand, missingPackages, TEST_PACKAGES } from '../../lib/local/packages';
import { oneLine } from '../../lib/util/one-line';

export interface Machine {
  readonly linux: boolean;
  /** CAP_NET_ADMIN and CAP_SYS_ADMIN in the effective set (namespaces, links, netns mounts). */
  readonly netAdmin: boolean;
  readonly hasDpkg: boolean;
  readonly hasAptGet: boolean;
  readonly root: boolean;
}

/** Why the cluster suites cannot run on this machine, or undefined. */
export function clusterPrecondition(machine: Machine): string | undefined {
  if (!machine.linux) return 'the cluster tests need Linux (network namespaces); set SKIP_CLUSTER=1 to skip them on purpose';
  if (!machine.root) return 'the cluster tests need root (network namespaces, PostgreSQL as postgres): run npm test as root, or set SKIP_CLUSTER=1 to skip them on purpose';
  if (!machine.netAdmin) {
    return 'the cluster tests need CAP_NET_ADMIN and CAP_SYS_ADMIN (network namespaces), which this root lacks (a container? systemd-nspawn needs --capability=CAP_NET_ADMIN,CAP_SYS_ADMIN), or set SKIP_CLUSTER=1 to skip them on purpose';
  }
  return undefined;
}

/** What to do about `missing` packages on this machine: nothing, install them, or stop and say why. */
export function packagePlan(machine: Machine, missing: readonly string[]): { install: string[] } | { stop: string } {
  if (!machine.hasDpkg) {
    return { stop: `these suites drive Debian 12's packages (${TEST_PACKAGES.join(' ')}); this machine has no dpkg. Run them on Debian 12, or run npm run test:unit` };
  }
  if (missing.length > 0 && (!machine.root || !machine.hasAptGet)) {
    const why = machine.root ? 'there is no apt-get to install them' : 'only root can install them';
    return { stop: `missing Debian packages: ${missing.join(' ')} (${why}). Install them as root: ${installCommand(missing)}; npm test as root installs them itself` };
  }
  return { install: [...missing] };
}

/** Whether the effective capability set holds CAP_NET_ADMIN (12) and CAP_SYS_ADMIN (21). */
export function hasNetAdmin(procStatus: string): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(procStatus)?.[1];
  if (!hex) return false;
  const caps = BigInt(`0x${hex}`);
  return ((caps >> 12n) & 1n) === 1n && ((caps >> 21n) & 1n) === 1n;
}

function stop(message: string): never {
  process.stderr.write(`\ncdk-failover tests: ${message}\n`);
  process.exit(1);
}

export default async function installTestPackages(_global: unknown, project: { displayName?: { name?: string } }): Promise<void> {
  const cluster = project.displayName?.name === 'cluster';
  if (cluster && process.env.SKIP_CLUSTER === '1') return; // each cluster suite says it was skipped
  const machine: Machine = {
    linux: process.platform === 'linux',
    netAdmin: process.platform === 'linux' && hasNetAdmin(fs.readFileSync('/proc/self/status', 'utf8')),
    hasDpkg: process.platform === 'linux' && fs.existsSync('/usr/bin/dpkg-query'),
    hasAptGet: fs.existsSync('/usr/bin/apt-get'),
    root: process.getuid?.() === 0,
  };
  const cannot = cluster ? clusterPrecondition(machine) : undefined;
  if (cannot) stop(cannot);
  const missing = machine.hasDpkg ? await missingPackages(TEST_PACKAGES).catch((err: unknown) => stop(oneLine(err))) : [];
  const plan = packagePlan(machine, missing);
  if ('stop' in plan) stop(plan.stop);
  if (plan.install.length === 0) return;
  const started = Date.now();
  process.stderr.write(`\ncdk-failover tests: installing ${plan.install.join(' ')} with apt-get (once; a few minutes)\n`);
  await ensurePackages(plan.install).catch((err: unknown) => stop(`${oneLine(err)}; install them by hand: ${installCommand(plan.install)}`));
  process.stderr.write(`cdk-failover tests: installed in ${Math.round((Date.now() - started) / 1000)} s\n`);
}
