// A booted node's container: systemd-nspawn booting the node's root with systemd as PID 1, in the
// node's network namespace, its data volume passed in as a block device. Started detached, so it
// outlives the CLI; found again through its recorded PID.
import * as fs from 'node:fs';
import { start, run, type RunOptions, type RunResult, type StartOptions, type RunningCommand } from '../../util/command';
import { oneLine } from '../../util/one-line';
import { LocalClusterError } from '../errors';
import { isRunning, signal, waitForExitOf, type ProcessRecord } from '../processes';
import { poll, found, notYet } from '../../ops/poll';

export interface ContainerOptions {
  /** Machine name: `cdkfo-<cluster>-<node>`. */
  readonly machine: string;
  readonly root: string;
  readonly namespace: string;
  /** host:container bind mounts of block devices (the data volume). */
  readonly devices: readonly string[];
  /** host:container read-only bind mounts (the APT repository). */
  readonly readOnlyBinds: readonly string[];
  /** The console: the boot's and the user data's output. */
  readonly logFile: string;
}

/** Boots the container in the background; returns nspawn's record. */
export async function startContainer(o: ContainerOptions): Promise<ProcessRecord> {
  const argv = [
    'systemd-nspawn',
    '--boot',
    `--directory=${o.root}`,
    `--machine=${o.machine}`,
    '--register=no',
    '--keep-unit',
    `--network-namespace-path=/run/netns/${o.namespace}`,
    // An instance's root may change its own firewall (the IMDS table); nspawn keeps CAP_NET_ADMIN
    // only with --private-network. The namespace is the node's own: nothing else is reachable.
    '--capability=CAP_NET_ADMIN',
    '--resolv-conf=off',
    '--timezone=off',
    '--link-journal=no',
    '--console=read-only',
    ...o.devices.map((d) => `--bind=${d}`),
    ...o.readOnlyBinds.map((b) => `--bind-ro=${b}`),
  ];
  const out = fs.openSync(o.logFile, 'a', 0o600);
  try {
    const command = start(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', out, out], cwd: '/' });
    const pid = await command.started().catch((err: unknown) => {
      throw new LocalClusterError(`could not start systemd-nspawn for ${o.machine}: ${oneLine(err)}`);
    });
    command.detach();
    return { pid, argv, startedAt: new Date().toISOString(), logFile: o.logFile };
  } finally {
    fs.closeSync(out);
  }
}

/** Whether `pid` runs systemd-nspawn (a recorded PID may have been reused by another program). */
export function isNspawn(pid: number): boolean {
  if (!isRunning(pid)) return false;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!.endsWith('systemd-nspawn');
  } catch {
    return false;
  }
}

/** The container's PID 1 (nspawn's child), if the container runs. */
export function containerInit(nspawnPid: number): number | undefined {
  if (!isNspawn(nspawnPid)) return undefined;
  try {
    const children = fs.readFileSync(`/proc/${nspawnPid}/task/${nspawnPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return children.find((pid) => fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'systemd');
  } catch {
    return undefined;
  }
}

/** `nsenter` into every namespace of the container's PID 1, as root with a login-like PATH. */
export function nsenterArgs(init: number, argv: readonly string[]): string[] {
  if (argv.length === 0) throw new LocalClusterError('no command given');
  return ['--target', String(init), '--all', '--', '/usr/bin/env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8', 'HOME=/root', 'TERM=dumb', ...argv];
}

export function runInContainer(init: number, argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return run('nsenter', nsenterArgs(init, argv), options);
}

export function spawnInContainer(init: number, argv: readonly string[], options: StartOptions = {}): RunningCommand {
  return start('nsenter', nsenterArgs(init, argv), options);
}

/**
 * Until the container's systemd answers (`is-system-running` prints a state): it has started
 * booting. Boot itself, user data included, is for the caller to wait on.
 */
export async function waitForInit(nspawnPid: number, timeoutMs: number): Promise<number> {
  return poll(
    'the container to start',
    async () => {
      if (!isNspawn(nspawnPid)) throw new LocalClusterError('systemd-nspawn exited while the container started (its console log says why)');
      const init = containerInit(nspawnPid);
      if (!init) return notYet('no PID 1 yet');
      const r = await runInContainer(init, ['systemctl', 'is-system-running'], { allowFailure: true, timeoutMs: 10_000 });
      return r.stdout.trim() ? found(init) : notYet('systemd not answering');
    },
    { timeoutMs, intervalMs: 250 },
  );
}

/**
 * Shuts the container down cleanly: SIGTERM to nspawn asks its systemd to power off (as an
 * instance stop does); SIGKILL to PID 1 after `graceMs` ends the whole container.
 */
export async function stopContainer(nspawnPid: number, graceMs = 90_000): Promise<'clean' | 'killed' | 'not running'> {
  if (!isNspawn(nspawnPid)) return 'not running';
  signal(nspawnPid, 'SIGTERM');
  if ((await waitForExitOf([nspawnPid], graceMs)).length === 0) return 'clean';
  const init = containerInit(nspawnPid);
  if (init) signal(init, 'SIGKILL');
  if ((await waitForExitOf([nspawnPid], 15_000)).length) throw new LocalClusterError(`systemd-nspawn ${nspawnPid} did not exit`);
  return 'killed';
}
