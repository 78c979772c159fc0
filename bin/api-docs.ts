// npm run api-docs: regenerates API.md from the construct library's TSDoc (jsii-docgen).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { oneLine } from '../lib/util/one-line';
import { buildJsiiProject, generateApiReference, ROOT } from './jsii-project';

async function main(): Promise<void> {
  const project = await buildJsiiProject();
  try {
    fs.writeFileSync(path.join(ROOT, 'API.md'), await generateApiReference(project));
    console.log('api-docs: wrote API.md');
  } finally {
    project.remove();
  }
}

main().catch((err: unknown) => {
  console.error(`api-docs: ${oneLine(err)}`);
  process.exit(1);
});
