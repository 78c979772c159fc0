// The certificate handler's Lambda code, as a directory for lambda.Code.fromAsset: lib/tls's
// compiled JavaScript when this library runs compiled (the published package), or its TypeScript
// transpiled here when it runs under ts-node or jest (this repository's synth and tests). Nothing
// is bundled: the handler's one dependency, the AWS SDK's Secrets Manager client, is in Lambda's
// Node.js runtime.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The handler and what it imports, in lib/tls. */
const MODULES = ['der', 'x509', 'cluster-certificates', 'secret-format', 'certificate-handler'] as const;

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

/**
 * A directory holding the handler's JavaScript, named by its content's digest (so the asset's
 * hash changes only when the code does); written once, atomically.
 */
export function certificateHandlerDirectory(): string {
  const files = MODULES.map((name) => [`${name}.js`, javaScriptOf(name)] as const);
  const digest = createHash('sha256');
  for (const [name, text] of files) digest.update(name).update('\0').update(text).update('\0');
  const dir = path.join(os.tmpdir(), `cdk-failover-certificate-handler-${digest.digest('hex').slice(0, 16)}`);
  if (!fs.existsSync(dir)) {
    const staging = `${dir}.${process.pid}`;
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { recursive: true });
    for (const [name, text] of files) fs.writeFileSync(path.join(staging, name), text);
    try {
      fs.renameSync(staging, dir);
    } catch (err) {
      // Another synth wrote the same content first.
      fs.rmSync(staging, { recursive: true, force: true });
      if (!fs.existsSync(dir)) throw err;
    }
  }
  return dir;
}
