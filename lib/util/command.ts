// The one place that starts external programs (an ESLint rule keeps `child_process` out of every
// other file). A missing program (ENOENT), a signal or a timeout becomes a CommandError whose
// message is one readable line; no child process is ever left without an `error` listener.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { oneLine } from './one-line';

/** A program could not run, or ended badly; the message is one line that says which and why. */
export class CommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandError';
  }
}

export interface RunOptions {
  /** Kill the command (SIGKILL) after this long. @default 30_000 */
  readonly timeoutMs?: number;
  /** Resolve with a non-zero exit (or a signal, as 128 + its number) instead of throwing. @default false */
  readonly allowFailure?: boolean;
  /** @default - this process's environment */
  readonly env?: NodeJS.ProcessEnv;
  /** Written to the command's standard input, which is then closed. @default - empty input */
  readonly input?: string;
  readonly cwd?: string;
}

export interface RunResult {
  /** The exit code; 128 + the signal's number when a signal ended it. */
  readonly code: number;
  /** The signal that ended it, if one did. */
  readonly signal?: NodeJS.Signals;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program without a shell to its end, bounded in time, its output captured. */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const shown = commandLine(file, args);
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let failed: Error | undefined;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      failed = err;
    });
    // A command that exits without reading its input must not fail the run with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
    child.once('close', (exitCode, signal) => {
      clearTimeout(timer);
      if (failed) return reject(startError(file, failed));
      if (timedOut) return reject(new CommandError(`timed out after ${timeoutMs / 1000} s: ${shown}`));
      const code = exitCode ?? 128 + signalNumber(signal);
      const result: RunResult = { code, stdout, stderr, ...(signal ? { signal } : {}) };
      if (code === 0 || options.allowFailure) return resolve(result);
      reject(new CommandError(`${shown} ${signal ? `was killed by ${signal}` : `exited with ${code}`}${lastLine(stderr || stdout)}`));
    });
  });
}

export interface StartOptions {
  /** @default 'inherit' */
  readonly stdio?: StdioOptions;
  /** @default - this process's environment */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** In its own session and process group, able to outlive this process (see `RunningCommand.detach`). */
  readonly detached?: boolean;
}

/** A program started with `start`: its child process, and its end as a promise that says why. */
export class RunningCommand {
  private readonly ended: Promise<{ code: number } | { error: CommandError }>;
  private readonly began: Promise<CommandError | undefined>;

  constructor(
    public readonly child: ChildProcess,
    private readonly shown: string,
    file: string,
  ) {
    let error: CommandError | undefined;
    this.began = new Promise((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', (err) => {
        error ??= startError(file, err);
        resolve(error);
      });
    });
    this.ended = new Promise((resolve) => {
      child.once('error', () => {
        // A failed start never emits 'exit'; a failed kill() later is not an end.
        if (child.pid === undefined) resolve({ error: error! });
      });
      child.once('exit', (code, signal) => resolve({ code: code ?? 128 + signalNumber(signal) }));
    });
  }

  /** The PID, once started. */
  public get pid(): number | undefined {
    return this.child.pid;
  }

  /** Resolves with the PID once the program runs; rejects with a CommandError if it could not start. */
  public async started(): Promise<number> {
    const error = await this.began;
    if (error) throw error;
    return this.child.pid!;
  }

  /** Resolves with the exit code (128 + the signal's number after a signal); rejects if it never started. */
  public async exitCode(): Promise<number> {
    const end = await this.ended;
    if ('error' in end) throw end.error;
    return end.code;
  }

  /** True once the program has exited. */
  public get finished(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Sends a signal to this program only (never its group). */
  public kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL if it is still running after `graceMs`; resolves with its exit code. */
  public async stop(graceMs = 10_000): Promise<number> {
    if (this.child.pid === undefined) return this.exitCode().catch(() => 1);
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    try {
      return await this.exitCode();
    } finally {
      clearTimeout(timer);
    }
  }

  /** Lets this process exit while the program goes on (for `detached` programs). */
  public detach(): void {
    this.child.unref();
  }

  public toString(): string {
    return this.shown;
  }
}

/** Starts a program without a shell and returns at once; the caller owns it. */
export function start(file: string, args: readonly string[], options: StartOptions = {}): RunningCommand {
  const child = spawn(file, args, {
    stdio: options.stdio ?? 'inherit',
    env: options.env ?? process.env,
    cwd: options.cwd,
    detached: options.detached ?? false,
  });
  return new RunningCommand(child, commandLine(file, args), file);
}

function startError(file: string, err: NodeJS.ErrnoException): CommandError {
  if (err.code === 'ENOENT') return new CommandError(`${file}: not installed (no such program on PATH)`);
  if (err.code === 'EACCES') return new CommandError(`${file}: not executable (EACCES)`);
  return new CommandError(`${file}: could not start: ${oneLine(err)}`);
}

function commandLine(file: string, args: readonly string[]): string {
  const text = [file, ...args].join(' ');
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

function lastLine(text: string): string {
  const line = text.trim().split('\n').slice(-1)[0]?.trim() ?? '';
  return line ? `: ${line}` : '';
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return (signal && osConstants.signals[signal]) || 1;
}
