// Writing the runbooks to disk: into the cloud assembly beside the templates, or any directory.
import * as fs from 'fs';
import * as path from 'path';
import { Stack, Stage } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { renderStackRunbook, runbookFileName } from './stack-runbook';

/**
 * Writes `<stackName>.runbook.md` for every stack under `scope` (an App or a Stage) and returns
 * the paths written, sorted. With `outdir`, every runbook goes there; without, each goes beside
 * its stack's template, in the cloud assembly directory of the stack's stage (call this after
 * `app.synth()`).
 */
export function writeRunbooks(scope: IConstruct, outdir?: string): string[] {
  const written: string[] = [];
  const stacks = scope.node.findAll().filter((c): c is Stack => Stack.isStack(c) && !c.nested);
  for (const stack of stacks) {
    const dir = outdir ?? Stage.of(stack)?.outdir;
    if (!dir) throw new Error(`${stack.node.path}: no output directory (the stack is not in an App or Stage)`);
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, runbookFileName(stack));
    if (written.includes(file)) {
      throw new Error(`two stacks would write ${file}: stack names must be unique where their runbooks go`);
    }
    fs.writeFileSync(file, renderStackRunbook(stack));
    written.push(file);
  }
  return written.sort();
}
