import * as fs from 'node:fs';
import { oneLine } from '../util/one-line';
import { start } from '../util/command';
import { LocalClusterError } from './errors';
import { sleep } from './exec';
import { namespacePids } from './network';

/** A process the local cluster started, recorded in the state file. */
export interface ProcessRecord {
  readonly pid: number;
  readonly argv: readonly string[];
  readonly startedAt: string;
  readonly logFile: string;
}

export interface RunAs {
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

export interface StartDetachedOptions {
  readonly namespace: string;
  readonly argv: readonly string[];
  /** stdout and stderr are appended here. */
  readonly logFile: string;
  /** Drop to this user with setpriv (which execs, so the recorded PID is the program itself). */
  readonly runAs?: RunAs;
  readonly cwd?: string;
}

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Starts a long-running program inside a namespace, in its own session, with its output in a log
 * file, and lets this process exit without it. `ip netns exec` and `setpriv` both exec, so the PID
 * returned is the program's own.
 */
export async function startDetached(options: StartDetachedOptions): Promise<ProcessRecord> {
  const prefix = options.runAs
    ? ['setpriv', `--reuid=${options.runAs.uid}`, `--regid=${options.runAs.gid}`, '--init-groups', '--']
    : [];
  // TZ=UTC: Patroni logs in local time, and the drills read its timestamps against PostgreSQL's.
  const env: NodeJS.ProcessEnv = options.runAs
    ? { PATH, LANG: 'C.UTF-8', TZ: 'UTC', HOME: options.runAs.home, USER: options.runAs.user, LOGNAME: options.runAs.user }
    : { PATH, LANG: 'C.UTF-8', TZ: 'UTC', HOME: '/root' };
  const out = fs.openSync(options.logFile, 'a', 0o640);
  if (options.runAs) fs.fchownSync(out, options.runAs.uid, options.runAs.gid);
  try {
    const command = start('ip', ['netns', 'exec', options.namespace, ...prefix, ...options.argv], {
      detached: true,
      stdio: ['ignore', out, out],
      env,
      cwd: options.cwd ?? '/',
    });
    const pid = await command.started().catch((err: unknown) => {
      throw new LocalClusterError(`could not start ${options.argv[0]}: ${oneLine(err)}`);
    });
    command.detach();
    return { pid, argv: [...options.argv], startedAt: new Date().toISOString(), logFile: options.logFile };
  } finally {
    fs.closeSync(out);
  }
}

/** True while the PID runs (a zombie or a missing PID is not running). */
export function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** True when the process is stopped (SIGSTOP), as `ps` shows `T`. */
export function isStopped(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
  } catch {
    return false;
  }
}

/** Sends a signal, ignoring a PID that has already gone. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** The recorded PID, if it still runs inside the given namespace (never a reused PID elsewhere). */
export async function recordedPidInNamespace(record: ProcessRecord | undefined, namespace: string): Promise<number | undefined> {
  if (!record || !isRunning(record.pid)) return undefined;
  return (await namespacePids(namespace)).includes(record.pid) ? record.pid : undefined;
}

/** Signals every process in a namespace. Returns how many were signalled. */
export async function signalNamespace(namespace: string, sig: NodeJS.Signals): Promise<number> {
  const pids = await namespacePids(namespace);
  for (const pid of pids) signal(pid, sig);
  return pids.length;
}

/**
 * SIGKILLs everything in a namespace until nothing is left (a process may fork between the listing
 * and the kill), bounded by `timeoutMs`.
 */
export async function killNamespace(namespace: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; round < 200; round++) {
    const pids = (await namespacePids(namespace)).filter(isRunning);
    if (pids.length === 0) return;
    if (Date.now() > deadline) {
      throw new LocalClusterError(`processes ${pids.join(', ')} in namespace ${namespace} survived SIGKILL for ${timeoutMs / 1000} s`);
    }
    for (const pid of pids) signal(pid, 'SIGKILL');
    await sleep(100);
  }
  throw new LocalClusterError(`could not empty namespace ${namespace}`);
}

/** Waits, bounded, until none of the PIDs runs. Returns those still running. */
export async function waitForExitOf(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(isRunning);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(100);
    alive = alive.filter(isRunning);
  }
  return alive;
}
