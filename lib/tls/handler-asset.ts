// The certificate handler's Lambda code, as a directory for lambda.Code.fromAsset: lib/tls's
// compiled JavaScript when this library runs compiled (the published package), or its TypeScript
// transpiled here when it runs under ts-node or jest (this repository's synth and tests). Nothing
// is bundled: the handler's one dependency, the AWS SDK's Secrets Manager client, is in Lambda's
// Node.js runtime.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The handler and what it imports, in lib/tls. */
const MODULES = ['der', 'x509', 'cluster-certificates', 'secret-format', 'issue-into-secrets', 'certificate-handler'] as const;

/** The Lambda handler, as `handler` of the runtime takes it. */
export const CERTIFICATE_HANDLER = 'certificate-handler.handler';

function javaScriptOf(name: string): string {
  const compiled = path.join(__dirname, `${name}.js`);
  if (fs.existsSync(compiled)) return fs.readFileSync(compiled, 'utf8');
  // The sources are here, so typescript (a development dependency) is too.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require('typescript') as typeof import('typescript');
  const source = fs.readFileSync(path.join(__dirname, `${name}.ts`), 'utf8');
  return ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    fileName: `${name}.ts`,
  }).outputText;
}

let written: string | undefined;

/**
 * A fresh directory (mkdtemp: 0700, this user's) holding the handler's JavaScript, written once
 * per process. Never a shared, predictable path: another user could put code there first, to be
 * deployed as the function that holds the CA keys. The asset's hash is the content's, so the path
 * does not matter to CloudFormation.
 */
export function certificateHandlerDirectory(): string {
  if (written && fs.existsSync(path.join(written, 'certificate-handler.js'))) return written;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-failover-certificate-handler-'));
  for (const name of MODULES) fs.writeFileSync(path.join(dir, `${name}.js`), javaScriptOf(name));
  written = dir;
  return dir;
}
