// The exit codes of the CLI's commands, and the two wrappers that keep them: an action's error is
// one line on stderr (never a stack trace), and commander's own usage errors exit 2.
import type { Command, CommanderError } from 'commander';
import { oneLine, UsageError } from '../ops/errors';

/** Success (a healthy status, a passed or dry-run drill). */
export const EXIT_OK = 0;
/** A drill failed, the cluster is unhealthy, or an error. */
export const EXIT_FAILED = 1;
/** A usage error: what was asked cannot be done as asked. */
export const EXIT_USAGE = 2;

/** Runs an action: its result is the exit code; an error is one line on stderr, exit 1 (2 for a UsageError). */
export function act<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      process.exitCode = (await fn(...args)) ?? EXIT_OK;
    } catch (err) {
      console.error(`failover: ${oneLine(err)}`);
      process.exitCode = err instanceof UsageError ? EXIT_USAGE : EXIT_FAILED;
    }
  };
}

/** Commander has printed the message (or the help): usage errors exit 2. */
export function usageExitCodes(cmd: Command): Command {
  return cmd.exitOverride((err: CommanderError) => {
    process.exit(err.exitCode === 0 ? EXIT_OK : EXIT_USAGE);
  });
}
