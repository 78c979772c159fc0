// The package as jsii builds it (`npm run build` runs jsii after tsc), in a temporary folder so that
// tests leave no .jsii or dist/ behind: lib/ with the package's own manifest. tsconfig.jsii.json
// includes only lib/index.ts, so the runtime (ops, local cluster, client, CLI) never enters the
// assembly; its dependencies are bundled, as jsii requires of non-jsii dependencies.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../lib/util/command';

export const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'node_modules/.bin');

export interface JsiiProject {
  readonly dir: string;
  /** The `.jsii` assembly, parsed. */
  readonly assembly: { readonly name: string; readonly types: Record<string, { readonly kind: string }> };
  remove(): void;
}

/** The package's own manifest, without its scripts (pacmak packs the folder; nothing to build there). */
function manifest(): object {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  delete pkg.scripts;
  return pkg;
}

/** Compiles the construct library with jsii; throws with jsii's own messages when it refuses. */
export async function buildJsiiProject(): Promise<JsiiProject> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-failover-jsii-'));
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    fs.cpSync(path.join(ROOT, 'lib'), path.join(dir, 'lib'), { recursive: true, filter: (f) => !f.endsWith('.md') });
    for (const file of ['tsconfig.jsii.json', 'README.md']) fs.copyFileSync(path.join(ROOT, file), path.join(dir, file));
    fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(manifest(), null, 2)}\n`);
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
    const jsii = await run(path.join(BIN, 'jsii'), ['--silence-warnings=reserved-word'], { cwd: dir, timeoutMs: 600_000, allowFailure: true });
    if (jsii.code !== 0) throw new Error(`jsii refused the construct library:\n${(jsii.stdout + jsii.stderr).trim()}`);
    const assembly = JSON.parse(fs.readFileSync(path.join(dir, '.jsii'), 'utf8'));
    return { dir, assembly, remove };
  } catch (err) {
    remove();
    throw err;
  }
}

/** Python sources from the assembly (`--code-only`: building a wheel needs PyPI). */
export async function generatePython(project: JsiiProject): Promise<string> {
  const out = path.join(project.dir, 'dist');
  await run(path.join(BIN, 'jsii-pacmak'), ['--code-only', '--targets', 'python', '--outdir', out], { cwd: project.dir, timeoutMs: 600_000 });
  return path.join(out, 'python');
}

/** API.md from the assembly's TSDoc, as cdklabs libraries publish it. */
export async function generateApiReference(project: JsiiProject): Promise<string> {
  const file = path.join(project.dir, 'API.md');
  await run(path.join(BIN, 'jsii-docgen'), ['--output', file], { cwd: project.dir, timeoutMs: 600_000 });
  return fs.readFileSync(file, 'utf8');
}
