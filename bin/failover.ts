#!/usr/bin/env node
// The operations CLI. Each command group lives in lib/cli/ and is registered here.
import { Command } from 'commander';
import { backupCommand, restoreCommand } from '../lib/cli/backup';
import { localCommands } from '../lib/cli/local';
import { opsCommands } from '../lib/cli/ops';
import { promoteCommand } from '../lib/cli/promote';

const program = new Command('failover')
  .description('operations CLI for cdk-failover')
  .enablePositionalOptions();

program.addCommand(localCommands());
for (const command of opsCommands()) program.addCommand(command);
program.addCommand(backupCommand());
program.addCommand(restoreCommand());
program.addCommand(promoteCommand());

program.parseAsync(process.argv).catch((err: unknown) => {
  // One readable line, no stack trace.
  const message = err instanceof Error ? err.message : String(err);
  console.error(`failover: ${message.replace(/\s*\n\s*/g, ' | ')}`);
  process.exit(1);
});
