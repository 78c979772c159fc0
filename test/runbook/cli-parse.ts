// The runbooks' `npx failover` lines, parsed by the CLI's real commands. Not a test file itself.
import { Command, CommanderError } from 'commander';
import { backupCommand, restoreCommand } from '../../lib/cli/backup';
import { opsCommands } from '../../lib/cli/ops';
import { promoteCommand } from '../../lib/cli/promote';
import { inlineCodes, shellLines } from './markdown-support';

export interface Parsed {
  readonly command: string;
  readonly args: unknown[];
  readonly opts: Record<string, unknown>;
}

/** Parses `words` (after `npx failover`) with the real commands; their actions are replaced by a recorder. */
export function parse(words: string[]): Parsed {
  let parsed: Parsed | undefined;
  const program = new Command('failover').enablePositionalOptions().exitOverride();
  program.configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  const record = (command: Command, name: string) => {
    command.exitOverride((err: CommanderError) => {
      throw err;
    });
    command.configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
    command.action((...args: unknown[]) => {
      parsed = { command: name, args: args.slice(0, -2), opts: command.opts() };
    });
    // Subcommands (backup list) record their own name.
    for (const sub of command.commands) record(sub, `${name} ${sub.name()}`);
  };
  for (const command of [...opsCommands(), backupCommand(), restoreCommand(), promoteCommand()]) {
    record(command, command.name());
    program.addCommand(command);
  }
  program.parse(words, { from: 'user' });
  if (!parsed) throw new Error(`no command ran for: ${words.join(' ')}`);
  return parsed;
}

/** The `npx failover` command lines of a runbook: in code blocks, inside `watch '...'`, and inline. */
export function failoverLines(markdown: string): string[] {
  const fromBlocks = shellLines(markdown).flatMap((line) => {
    if (line.startsWith('npx failover ')) return [line];
    const watched = /^watch -n \d+ '(npx failover [^']+)'$/.exec(line);
    return watched ? [watched[1]] : [];
  });
  return [...fromBlocks, ...inlineCodes(markdown).filter((c) => c.startsWith('npx failover '))];
}

