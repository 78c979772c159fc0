// Registers the ops commands exactly as bin/failover.ts registers its command groups, so the
// tests drive the real CLI (exit codes, one-line errors) before bin/failover.ts wires them in.
import { Command } from 'commander';
import { opsCommands } from '../../lib/cli/ops';

const program = new Command('failover').description('operations CLI for cdk-failover').enablePositionalOptions();
for (const command of opsCommands()) program.addCommand(command);

program.parseAsync(process.argv).catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  console.error(`failover: ${message.replace(/\s*\n\s*/g, ' | ')}`);
  process.exit(1);
});
