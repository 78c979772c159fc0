// DESIGN.md: lib/client is runtime code: it never loads aws-cdk-lib or constructs, and its only
// package import is pg (a peer dependency).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from '../../lib/util/command';

const CLIENT_DIR = path.resolve(__dirname, '../../lib/client');

test('lib/client imports only pg, node built-ins and its own files', () => {
  const imports = new Set<string>();
  for (const file of fs.readdirSync(CLIENT_DIR).filter((f) => f.endsWith('.ts'))) {
    const source = fs.readFileSync(path.join(CLIENT_DIR, file), 'utf8');
    for (const m of source.matchAll(/\bfrom\s+'([^']+)'|\brequire\('([^']+)'\)|\bimport\('([^']+)'\)/g)) imports.add(m[1] ?? m[2] ?? m[3]!);
  }
  const foreign = [...imports].filter((i) => !i.startsWith('./') && i !== 'pg' && !i.startsWith('node:'));
  expect(foreign).toEqual([]);
});

test('loading cdk-failover/client loads neither aws-cdk-lib nor constructs', async () => {
  const script = [
    "require('ts-node').register({ transpileOnly: true });",
    `require(${JSON.stringify(CLIENT_DIR)});`,
    "const loaded = Object.keys(require.cache).filter((f) => /node_modules[\\\\/](aws-cdk-lib|constructs)[\\\\/]/.test(f));",
    'process.stdout.write(JSON.stringify(loaded));',
  ].join('\n');
  const { stdout } = await run(process.execPath, ['-e', script], { cwd: path.resolve(__dirname, '../..'), timeoutMs: 60_000 });
  expect(JSON.parse(stdout)).toEqual([]);
}, 60_000);
