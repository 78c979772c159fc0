import { CommandError, run, start, type RunningCommand, type RunOptions, type RunResult, type StartOptions } from '../util/command';

export { run, type RunOptions, type RunResult };

/** `ip netns exec NS argv...`: the command runs inside the namespace, as root. */
export function runInNamespace(namespace: string, argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  if (argv.length === 0) throw new CommandError('no command given');
  return run('ip', ['netns', 'exec', namespace, ...argv], options);
}

/** Starts `argv` inside a namespace; its PID is the command itself (`ip netns exec` execs). */
export function spawnInNamespace(namespace: string, argv: readonly string[], options: StartOptions = {}): RunningCommand {
  if (argv.length === 0) throw new CommandError('no command given');
  return start('ip', ['netns', 'exec', namespace, ...argv], options);
}

export { sleep } from '../ops/poll';
