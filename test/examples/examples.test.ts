import { Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { addExampleStacks } from '../../examples/all';
import { testApp } from '../app';

// Every example stack bin/app.ts synthesizes: snapshot-stable and cdk-nag clean.
function exampleApp() {
  const app = testApp();
  addExampleStacks(app);
  return app;
}

describe('example stacks', () => {
  const app = exampleApp();
  const stacks = app.node.children.filter((c): c is Stack => c instanceof Stack);

  test('bin/app.ts synthesizes the expected stacks', () => {
    expect(stacks.map((s) => s.stackName).sort()).toEqual(expect.arrayContaining(['DnsFailoverAliasExample', 'DnsFailoverExample']));
  });

  test.each(stacks.map((s) => [s.stackName, s] as const))('%s matches its snapshot', (_name, stack) => {
    expect(Template.fromStack(stack).toJSON()).toMatchSnapshot();
  });

  test('the snapshot is stable: a second synth gives the same templates', () => {
    const again = exampleApp();
    for (const stack of stacks) {
      const twin = again.node.findChild(stack.node.id) as Stack;
      expect(Template.fromStack(twin).toJSON()).toEqual(Template.fromStack(stack).toJSON());
    }
  });

  // Tests do not print annotations (test/app.ts); this keeps an unexpected one from going unseen.
  // One synthesis per app, as `cdk synth` does: aws-cdk-lib's IMDSv2 aspect warns about the launch
  // template it made itself when the same app is synthesized a second time.
  test.each(stacks.map((s) => [s.stackName] as const))('%s: one synthesis carries no warning and no error annotation', (name) => {
    const stack = exampleApp().node.findChild(name) as Stack;
    const annotations = Annotations.fromStack(stack);
    const found = [...annotations.findWarning('*', Match.anyValue()), ...annotations.findError('*', Match.anyValue())];
    expect(found.map((m) => `${m.id}: ${String(m.entry.data)}`)).toEqual([]);
  });

  test('cdk-nag AwsSolutions reports no unacknowledged finding', () => {
    const report = new AwsSolutionsChecks().validateScope(exampleApp());
    expect(report.violations).toEqual([]);
    expect(report.success).toBe(true);
  });

  test('the cdk-nag check can fail: an unencrypted queue in an example stack is reported', () => {
    const app = exampleApp();
    new sqs.Queue(app.node.findChild('DnsFailoverExample'), 'PlainQueue');
    const report = new AwsSolutionsChecks().validateScope(app);
    expect(report.violations.map((v) => v.ruleName)).toEqual(expect.arrayContaining([expect.stringContaining('AwsSolutions-SQS4')]));
  });
});
