import * as vm from 'node:vm';
import { Template } from 'aws-cdk-lib/assertions';
import { PatroniTiming } from '../../lib';
import { MEMBER_SET_HANDLER_JS, MEMBER_SET_ID_PREFIX, REASON_LIMIT } from '../../lib/patroni/member-set-handler';
import { MemberSetGuard } from '../../lib/patroni/member-set-guard';
import { setupCluster as setup } from './cluster-fixture';

type Answer = { Status: string; Reason: string; PhysicalResourceId: string; StackId: string; RequestId: string; LogicalResourceId: string };
type Member = { Name: string; Address: string };

/** Runs the inline handler as Lambda does, with CloudFormation's presigned URL answered by `status`. */
async function invoke(event: Record<string, unknown>, status = 200): Promise<Answer> {
  const puts: { url: string; init: { method: string; body: string } }[] = [];
  const module = { exports: {} as { handler: (e: unknown) => Promise<void> } };
  vm.runInNewContext(MEMBER_SET_HANDLER_JS, {
    module,
    exports: module.exports,
    require,
    console: { log: () => undefined },
    fetch: async (url: string, init: { method: string; body: string }) => {
      puts.push({ url, init });
      return { ok: status < 300, status };
    },
  });
  await module.exports.handler({ ResponseURL: 'https://cfn.example/answer', StackId: 'stack-1', RequestId: 'req-1', LogicalResourceId: 'DbMemberSet', ...event });
  expect(puts).toHaveLength(1);
  expect(puts[0]!.url).toBe('https://cfn.example/answer');
  expect(puts[0]!.init.method).toBe('PUT');
  return JSON.parse(puts[0]!.init.body) as Answer;
}

const three: Member[] = [0, 1, 2].map((i) => ({ Name: `orders-${i}`, Address: `10.0.${i}.10` }));
const five: Member[] = [0, 1, 2, 3, 4].map((i) => ({ Name: `orders-${i}`, Address: `10.0.${i}.10` }));
const props = (members: unknown) => ({ Cluster: 'Test/Db', Members: members, ServiceToken: 'arn:fn' });

describe('member-set guard: the handler', () => {
  let createdId: string;
  beforeAll(async () => {
    createdId = (await invoke({ RequestType: 'Create', ResourceProperties: props(three) })).PhysicalResourceId;
  });

  test('create: SUCCESS, the physical ID a digest of the members, the request echoed back', async () => {
    const a = await invoke({ RequestType: 'Create', ResourceProperties: props(three) });
    expect(a).toMatchObject({ Status: 'SUCCESS', StackId: 'stack-1', RequestId: 'req-1', LogicalResourceId: 'DbMemberSet' });
    expect(a.PhysicalResourceId).toMatch(new RegExp(`^${MEMBER_SET_ID_PREFIX}[0-9a-f]{32}$`));
    expect(a.PhysicalResourceId).toBe(createdId); // the same members, the same ID
    expect((await invoke({ RequestType: 'Create', ResourceProperties: props(five) })).PhysicalResourceId).not.toBe(createdId);
  });

  test('update with the same members (another property changed): SUCCESS, the same physical ID', async () => {
    const a = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: { ...props(three), Cluster: 'Test/Renamed' }, OldResourceProperties: props(three) });
    expect(a).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: createdId });
  });

  test.each([
    ['a node count change, 3 to 5', five],
    ['a changed cluster name', three.map((m) => ({ ...m, Name: m.Name.replace('orders', 'billing') }))],
    ['a moved address (a subnet change)', three.map((m, i) => (i === 1 ? { ...m, Address: '10.0.9.10' } : m))],
  ])('update with %s: FAILED, naming both member sets and the supported path; the physical ID kept', async (_what, members) => {
    const a = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: props(members), OldResourceProperties: props(three) });
    expect(a.Status).toBe('FAILED');
    expect(a.PhysicalResourceId).toBe(createdId);
    expect(a.Reason).toContain('PatroniCluster Test/Db: the member set of a running cluster cannot change');
    expect(a.Reason).toContain('Deployed: orders-0 (10.0.0.10), orders-1 (10.0.1.10), orders-2 (10.0.2.10).');
    expect(a.Reason).toContain(`This deploy: ${members.map((m) => `${m.Name} (${m.Address})`).join(', ')}.`);
    expect(a.Reason).toContain('Nothing on the nodes was changed; the update rolls back.');
    expect(a.Reason).toContain('with standbyOf this one, then promote it');
  });

  test("the rollback's update (the deployed members again, after a refused one): SUCCESS", async () => {
    const a = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: props(three), OldResourceProperties: props(five) });
    expect(a).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: createdId });
  });

  test('delete: SUCCESS whatever the members (the cluster leaves the stack)', async () => {
    expect(await invoke({ RequestType: 'Delete', PhysicalResourceId: createdId, ResourceProperties: props(five) })).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: createdId });
  });

  test.each([
    ['no Members', undefined],
    ['an empty list', []],
    ['a string', 'orders-0'],
  ])('bad input (%s): FAILED with the reason, still answered', async (_what, members) => {
    const a = await invoke({ RequestType: 'Create', ResourceProperties: props(members) });
    expect(a).toMatchObject({ Status: 'FAILED', Reason: "Members must list the cluster's nodes" });
  });

  test('a handler error is answered as FAILED (CloudFormation is never left waiting)', async () => {
    const a = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: props([null]) });
    expect(a.Status).toBe('FAILED');
    expect(a.Reason).toMatch(/^member-set guard: TypeError/);
  });

  test('a long member list is cut to what a CloudFormation answer holds', async () => {
    const many = Array.from({ length: 200 }, (_, i) => ({ Name: `orders-${i}`, Address: `10.0.0.${i}` }));
    const a = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: props(many), OldResourceProperties: props(three) });
    expect(a.Status).toBe('FAILED');
    expect(a.Reason).toHaveLength(REASON_LIMIT);
  });

  test('an answer CloudFormation refuses is an error of the invocation (Lambda logs it)', async () => {
    await expect(invoke({ RequestType: 'Create', ResourceProperties: props(three) }, 403)).rejects.toThrow('CloudFormation refused the answer: HTTP 403');
  });
});

describe('member-set guard: in the cluster', () => {
  const base = setup();
  const guards = (t: Template) => t.findResources('Custom::CdkFailoverMemberSet');

  test('one guard per cluster, listing every node by name and address, with the cluster path', () => {
    const found = guards(base.template);
    expect(Object.keys(found)).toEqual([expect.stringMatching(/^DbMemberSet[0-9A-F]{8}$/)]);
    const p = Object.values(found)[0]!.Properties;
    expect(p.Cluster).toBe('Test/Db');
    expect(p.Members).toHaveLength(3);
    p.Members.forEach((m: { Name: string; Address: unknown }, i: number) => {
      expect(m.Name).toBe(`orders-${i}`);
      expect(m.Address).toEqual({ 'Fn::GetAtt': [expect.stringMatching(new RegExp(`^DbNode${i}NetworkInterface`)), 'PrimaryPrivateIpAddress'] });
    });
  });

  test('its function runs the inline handler on Node.js 24, with its own log group', () => {
    base.template.hasResourceProperties('AWS::Lambda::Function', { Code: { ZipFile: MEMBER_SET_HANDLER_JS }, Handler: 'index.handler', Runtime: 'nodejs24.x' });
    expect(MEMBER_SET_HANDLER_JS.length).toBeLessThan(4096); // CloudFormation's inline code limit
  });

  test('every instance and data volume waits for the check (a refused update changes no node)', () => {
    const [guardId] = Object.keys(guards(base.template));
    for (const type of ['AWS::EC2::Instance', 'AWS::EC2::Volume']) {
      const found = base.template.findResources(type);
      expect(Object.keys(found)).toHaveLength(3);
      for (const r of Object.values(found)) expect(r.DependsOn).toEqual(expect.arrayContaining([guardId]));
    }
  });

  test('day two: a node count change updates the same guard (same logical ID) with the new members, which its handler refuses', () => {
    const grown = setup({ nodes: 5 });
    const [before, after] = [guards(base.template), guards(grown.template)];
    expect(Object.keys(after)).toEqual(Object.keys(before));
    expect(Object.values(after)[0]!.Properties.Members).toHaveLength(5);
  });

  test('day two: a dynamic change (timing) leaves the guard as it is', () => {
    expect(guards(setup({ timing: PatroniTiming.FAST }).template)).toEqual(guards(base.template));
  });

  test('bad input: no nodes is refused', () => {
    expect(() => new MemberSetGuard(base.stack, 'Empty', { clusterPath: 'x', nodes: [] })).toThrow('nodes must name at least one node');
  });
});
