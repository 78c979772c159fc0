// What a runbook needs to know of the stack a construct is in: its name and region, the values
// known at synth, and for the values only known at deploy time, the output or resource that
// holds them and the command that reads it.
import { CfnElement, CfnOutput, CfnResource, Stack, Token } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { inlineCode } from './markdown';
import { OutputKind, parseOutputDescription } from '../util/output-contract';

/** One of the `cdk-failover:<Kind>:<path>:<key>` outputs of a construct. */
export interface OutputRef {
  /** The key at the end of the description, e.g. `primaryHealthCheckId`. */
  readonly key: string;
  /** The output's logical ID (its OutputKey in `describe-stacks`). */
  readonly logicalId: string;
  /** The full description, `cdk-failover:<Kind>:<path>:<key>`. */
  readonly description: string;
  /** The value when known at synth, else undefined. */
  readonly value?: string;
}

// A description used inside a double-quoted shell string around a JMESPath raw string literal.
const QUERY_SAFE = /^[A-Za-z0-9_./:@+=, -]+$/;

/** The stack of a construct, as the runbook's commands address it. */
export class RunbookContext {
  /** The context of the stack `scope` is in. */
  public static of(scope: IConstruct): RunbookContext {
    return new RunbookContext(Stack.of(scope));
  }

  /** The stack's name. */
  public readonly stackName: string;
  /** The stack's region, when known at synth. */
  public readonly region: string | undefined;
  /** The region as a command-line word: the region, or `"$AWS_REGION"` for an environment-agnostic stack. */
  public readonly regionArg: string;

  private constructor(public readonly stack: Stack) {
    if (Token.isUnresolved(stack.stackName)) {
      throw new Error(`${stack.node.path}: the runbook needs the stack's name at synth, but it is a token`);
    }
    this.stackName = stack.stackName;
    this.region = Token.isUnresolved(stack.region) ? undefined : stack.region;
    this.regionArg = this.region ?? '"$AWS_REGION"';
  }

  /** "stack `X` (eu-west-1)". */
  public get describe(): string {
    return `stack ${inlineCode(this.stackName)} (${this.region ?? 'environment-agnostic: the region you deployed it to, as `$AWS_REGION`'})`;
  }

  /** A value's synth-time string or number (as a string), or undefined when it is only known at deploy time. */
  public concrete(value: unknown): string | undefined {
    let resolved: unknown;
    try {
      resolved = this.stack.resolve(value);
    } catch {
      return undefined;
    }
    if (typeof resolved === 'string') return Token.isUnresolved(resolved) ? undefined : resolved;
    if (typeof resolved === 'number' || typeof resolved === 'boolean') return String(resolved);
    return undefined;
  }

  /** A list's synth-time strings, or undefined unless every element is known. */
  public concreteList(value: unknown): string[] | undefined {
    let resolved: unknown;
    try {
      resolved = this.stack.resolve(value);
    } catch {
      return undefined;
    }
    if (!Array.isArray(resolved)) return undefined;
    const items = resolved.map((v) => this.concrete(v));
    return items.every((v): v is string => v !== undefined) ? items : undefined;
  }

  /** The element's logical ID (overrides included). */
  public logicalId(element: CfnElement): string {
    return this.stack.resolve(element.logicalId) as string;
  }

  /** The resource's properties as the template will have them: overrides applied, tokens resolved. */
  public properties(resource: CfnResource): Record<string, unknown> {
    const rendered = this.stack.resolve(resource._toCloudFormation()) as { Resources?: Record<string, { Properties?: Record<string, unknown> }> };
    const entry = rendered.Resources?.[this.logicalId(resource)];
    return entry?.Properties ?? {};
  }

  /** The construct's `cdk-failover:<kind>:<path>:<key>` outputs, by key. */
  public outputsOf(construct: IConstruct, kind: OutputKind): Map<string, OutputRef> {
    const found = new Map<string, OutputRef>();
    for (const child of construct.node.findAll()) {
      if (!(child instanceof CfnOutput) || Stack.of(child) !== this.stack) continue;
      const parsed = parseOutputDescription(child.description);
      if (!parsed || parsed.kind !== kind || parsed.path !== construct.node.path) continue;
      found.set(parsed.key, { key: parsed.key, logicalId: this.logicalId(child), description: child.description!, value: this.concrete(child.value) });
    }
    return found;
  }

  /** "the value of stack output `X` (description key `k`)". */
  public outputPhrase(ref: OutputRef): string {
    return `the value of stack output ${inlineCode(ref.logicalId)} (description key ${inlineCode(ref.key)})`;
  }

  /** A shell line setting `variable` to the output's value, read with `describe-stacks`. */
  public outputFetch(ref: OutputRef, variable: string): string {
    const query = QUERY_SAFE.test(ref.description)
      ? `"Stacks[0].Outputs[?Description=='${ref.description}'].OutputValue"`
      : `"Stacks[0].Outputs[?OutputKey=='${ref.logicalId}'].OutputValue"`;
    return (
      `${variable}="$(aws cloudformation describe-stacks --stack-name ${this.stackName} --region ${this.regionArg} ` +
      `--query ${query} --output text)"`
    );
  }

  /** A shell line setting `variable` to a resource's physical ID, read with `describe-stack-resource`. */
  public resourceFetch(element: CfnElement | string, variable: string): string {
    const logicalId = typeof element === 'string' ? element : this.logicalId(element);
    return (
      `${variable}="$(aws cloudformation describe-stack-resource --stack-name ${this.stackName} --region ${this.regionArg} ` +
      `--logical-resource-id ${logicalId} --query StackResourceDetail.PhysicalResourceId --output text)"`
    );
  }
}
