// Every TypeScript block in README.md, CONTRIBUTING.md and docs/ type-checks against the package
// (`cdk-failover` and `cdk-failover/client` resolved to lib/). A block may use names an earlier
// block or the reader's app defines (`app`, `stack`, `db`...): the fixture below declares them,
// typed; a name neither the block nor the fixture declares fails the test.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import * as lib from '../../lib';
import * as clientLib from '../../lib/client';
import { markdownFiles, ROOT } from './markdown-files';

/** Names a block may take from the surrounding text, with their types. */
const FIXTURE: Record<string, string> = {
  app: '__cdk.App',
  stack: '__cdk.Stack',
  vpc: '__ec2.IVpc',
  zone: '__route53.IHostedZone',
  api: '__lib.DnsFailover',
  db: '__lib.PatroniCluster',
  appSecurityGroup: '__ec2.ISecurityGroup',
  dbLbDnsName: 'string',
  dbLbSecurityGroupId: 'string',
  zoneId: 'string',
  primaryId: 'string',
  secondaryId: 'string',
  i0: 'string',
  i1: 'string',
  i2: 'string',
  password: 'string',
  writerEndpoint: 'string',
  readerEndpoint: 'string',
  customer: 'string',
  sku: 'string',
  total: 'number',
  log: '{ warn(...args: unknown[]): void }',
  metrics: '{ count(name: string, tags?: object): void; timing(name: string, ms: number): void }',
  randomUUID: '() => string',
};
// Under names no block uses, so that a block's own imports never clash with them.
const FIXTURE_IMPORTS = [
  "import type * as __cdk from 'aws-cdk-lib';",
  "import type * as __ec2 from 'aws-cdk-lib/aws-ec2';",
  "import type * as __route53 from 'aws-cdk-lib/aws-route53';",
  "import type * as __lib from 'cdk-failover';",
];

interface Block {
  readonly file: string;
  readonly line: number;
  readonly code: string;
}

function tsBlocks(): Block[] {
  const blocks: Block[] = [];
  for (const file of markdownFiles()) {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!/^```(ts|typescript)\s*$/.test(lines[i]!)) continue;
      const end = lines.findIndex((l, j) => j > i && l.startsWith('```'));
      blocks.push({ file: path.relative(ROOT, file), line: i + 1, code: lines.slice(i + 1, end).join('\n') });
      i = end;
    }
  }
  return blocks;
}

const barrel = new Set(Object.keys(lib));
const client = new Set(Object.keys(clientLib));

/** Type-checks the blocks as modules with the given preludes; diagnostics per block. */
function check(blocks: Block[], preludes: string[]): ts.Diagnostic[][] {
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    esModuleInterop: true,
    types: ['node'],
    baseUrl: ROOT,
    paths: { 'cdk-failover': ['lib/index.ts'], 'cdk-failover/client': ['lib/client/index.ts'] },
  };
  const names = blocks.map((_, i) => path.join(ROOT, 'test/docs', `__block${i}.ts`));
  const sources = new Map(names.map((n, i) => [n, `${preludes[i]}\n${blocks[i]!.code}\nexport {};\n`]));
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.fileExists = (f) => sources.has(f) || fs.existsSync(f);
  host.readFile = (f) => sources.get(f) ?? readFile(f);
  host.getSourceFile = (f, v, onError) =>
    sources.has(f) ? ts.createSourceFile(f, sources.get(f)!, v, true) : getSourceFile(f, v, onError);
  const program = ts.createProgram(names, options, host);
  return names.map((n) => [...program.getSyntacticDiagnostics(program.getSourceFile(n)), ...program.getSemanticDiagnostics(program.getSourceFile(n))]);
}

function missingNames(diagnostics: readonly ts.Diagnostic[]): string[] {
  return [
    ...new Set(
      diagnostics
        .filter((d) => d.code === 2304 || d.code === 2552) // Cannot find name (did you mean...)
        .map((d) => /'([^']+)'/.exec(ts.flattenDiagnosticMessageText(d.messageText, ' '))![1]!),
    ),
  ];
}

function prelude(missing: readonly string[]): string {
  const lines = [...FIXTURE_IMPORTS];
  const fromBarrel = missing.filter((n) => !(n in FIXTURE) && barrel.has(n));
  const fromClient = missing.filter((n) => !(n in FIXTURE) && !barrel.has(n) && client.has(n));
  if (fromBarrel.length) lines.push(`import { ${fromBarrel.join(', ')} } from 'cdk-failover';`);
  if (fromClient.length) lines.push(`import { ${fromClient.join(', ')} } from 'cdk-failover/client';`);
  for (const name of missing) if (name in FIXTURE) lines.push(`declare const ${name}: ${FIXTURE[name]};`);
  // One line, so that the block's own line numbers stay readable in messages.
  return lines.join(' ');
}

describe('TypeScript in the documentation', () => {
  const blocks = tsBlocks();

  test('there are blocks to check (README and docs)', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(6);
  });

  test('every block type-checks against the package, with only the fixture\'s names from outside', () => {
    const first = check(blocks, blocks.map(() => 'export {};'));
    const missing = first.map(missingNames);
    const unknown = blocks.flatMap((b, i) =>
      missing[i]!.filter((n) => !(n in FIXTURE) && !barrel.has(n) && !client.has(n)).map((n) => `${b.file}:${b.line}: '${n}' is declared neither by the block nor by the fixture`),
    );
    expect(unknown).toEqual([]);
    const second = check(blocks, blocks.map((_, i) => prelude(missing[i]!)));
    const errors = blocks.flatMap((b, i) =>
      second[i]!.map((d) => {
        const at = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : 0;
        return `${b.file}:${b.line + at}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
      }),
    );
    expect(errors).toEqual([]);
  }, 120_000);
});
