// Writes a construct's outputs as the output contract defines them.
import { CfnOutput, Fn } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { OUTPUT_LIST_SEPARATOR, OutputKind, outputDescription, OutputSpec } from './output-contract';

/** One CfnOutput per key of `specs` that has a value, in the contract's order, under `scope`. */
export function addFailoverOutputs<K extends string>(
  scope: IConstruct,
  kind: OutputKind,
  specs: Readonly<Record<K, OutputSpec>>,
  values: { readonly [key in K]?: string },
): void {
  for (const key of Object.keys(specs) as K[]) {
    const value = values[key];
    if (value === undefined) continue;
    new CfnOutput(scope, specs[key].id, { value, description: outputDescription(kind, scope.node.path, key) });
  }
}

/** A list (maybe of tokens) as one output value. */
export function joinOutputList(values: readonly string[]): string {
  return Fn.join(OUTPUT_LIST_SEPARATOR, [...values]);
}
