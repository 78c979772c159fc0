// The `failover` CLI as a user runs it (bin/failover.ts through ts-node), for its bad-input tests.
import * as path from 'node:path';
import { run } from '../../lib/util/command';

const ROOT = path.resolve(__dirname, '../..');

export function failover(args: readonly string[]) {
  return run(process.execPath, ['-r', 'ts-node/register/transpile-only', 'bin/failover.ts', ...args], { cwd: ROOT, allowFailure: true, timeoutMs: 120_000 });
}
