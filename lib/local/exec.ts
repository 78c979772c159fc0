import { execFile, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { LocalClusterError } from './errors';

export interface RunOptions {
  /** Kill the command (SIGKILL) after this long. @default 30_000 */
  readonly timeoutMs?: number;
  /** Return a non-zero exit instead of throwing. @default false */
  readonly allowFailure?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: string;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command without a shell, bounded in time. */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const shown = [file, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, env: options.env, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error) {
          const e = error as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
          if (e.code === 'ENOENT') {
            reject(new LocalClusterError(`${file} not found on PATH`));
            return;
          }
          if (e.killed) {
            reject(new LocalClusterError(`timed out after ${timeoutMs / 1000} s: ${shown}`));
            return;
          }
          const code = typeof e.code === 'number' ? e.code : 1;
          if (options.allowFailure) {
            resolve({ code, stdout, stderr });
            return;
          }
          const detail = (stderr || stdout).trim().split('\n').slice(-1)[0] ?? '';
          reject(new LocalClusterError(`${shown} exited with ${code}${detail ? `: ${detail}` : ''}`));
          return;
        }
        resolve({ code: 0, stdout, stderr });
      },
    );
    if (options.input !== undefined) {
      child.stdin?.end(options.input);
    }
  });
}

/** `ip netns exec NS argv...`: the command runs inside the namespace, as root. */
export function runInNamespace(namespace: string, argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  if (argv.length === 0) throw new LocalClusterError('no command given');
  return run('ip', ['netns', 'exec', namespace, ...argv], options);
}

export interface SpawnInNamespaceOptions {
  readonly stdio?: StdioOptions;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** Starts `argv` inside a namespace and returns the child (whose PID is the command itself). */
export function spawnInNamespace(namespace: string, argv: readonly string[], options: SpawnInNamespaceOptions = {}): ChildProcess {
  if (argv.length === 0) throw new LocalClusterError('no command given');
  return spawn('ip', ['netns', 'exec', namespace, ...argv], {
    stdio: options.stdio ?? 'inherit',
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
}

/** Exit code of a finished child, shell-style: 128 + signal number when it was signalled. */
export function waitForExit(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(new LocalClusterError(err.code === 'ENOENT' ? 'ip not found on PATH' : err.message));
    });
    child.once('exit', (code, signal) => {
      if (code !== null) resolve(code);
      else resolve(128 + signalNumber(signal));
    });
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return (signal && osConstants.signals[signal]) || 1;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
