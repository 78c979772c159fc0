import * as path from 'node:path';

/**
 * How to run one of the local cluster's own Node programs (`<dir>/<base>.js`): compiled
 * JavaScript, or TypeScript through ts-node (tests, ts-node runs), which finds the project's
 * tsconfig from its working directory.
 */
export function entryCommand(dir: string, base: string, args: readonly string[]): { argv: string[]; cwd: string } {
  const ext = path.extname(__filename);
  const entry = path.join(dir, `${base}${ext}`);
  return ext === '.ts'
    ? { argv: [process.execPath, '-r', require.resolve('ts-node/register/transpile-only'), entry, ...args], cwd: path.resolve(__dirname, '../..') }
    : { argv: [process.execPath, entry, ...args], cwd: '/' };
}
