import { createHash } from 'node:crypto';
import * as vm from 'node:vm';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { takeConsoleOutput } from '../setup/quiet-console';
import { PatroniTiming } from '../../lib';
import { CHANGE_GUARD_HANDLER_JS, CHANGE_GUARD_ID_PREFIX, REASON_LIMIT } from '../../lib/patroni/change-guard-handler';
import { ChangeGuard } from '../../lib/patroni/change-guard';
import { setupCluster as setup } from './cluster-fixture';

type Answer = { Status: string; Reason: string; PhysicalResourceId: string; StackId: string; RequestId: string; LogicalResourceId: string; Data?: Record<string, string> };
type Member = { Name: string; Subnet: string };

/**
 * The inline handler as an earlier version shipped it, before the physical ID changed form (the
 * instance type in its digest; `git show 903607c:lib/patroni/change-guard-handler.ts`), copied as
 * it was: a downgrade runs it against a guard this version deployed.
 */
const EARLIER_HANDLER_JS = `'use strict';
const crypto = require('node:crypto');
const PREFIX = ${JSON.stringify(CHANGE_GUARD_ID_PREFIX)};
const KEYS = ['Members', 'InstanceType', 'ImageId'];
// A canonical form (no object key order): the digest of a deployed guard must stay the same.
const canonical = (p) => JSON.stringify([p.Members.map((m) => [String(m.Name), String(m.Subnet)]), String(p.InstanceType), String(p.ImageId)]);
const guardId = (p) => PREFIX + crypto.createHash('sha256').update(canonical(p)).digest('hex').slice(0, 32);
const members = (m) => (Array.isArray(m) ? m.map((x) => x.Name + ' (' + x.Subnet + ')').join(', ') : 'unknown');
const WHY = {
  Members: ['members', members, 'etcd and Patroni know each node by name and address (from its subnet); a node count, cluster name or subnet change makes new members'],
  InstanceType: ['instance type', String, 'CloudFormation would stop and start every node at once (a full outage)'],
  ImageId: ['image', String, 'CloudFormation would replace every node, and a new instance cannot take over the node\\'s network interface'],
};

function decide(event) {
  const p = event.ResourceProperties || {};
  if (event.RequestType === 'Delete') return { status: 'SUCCESS', id: event.PhysicalResourceId };
  if (!Array.isArray(p.Members) || p.Members.length === 0) return { status: 'FAILED', reason: 'Members must list the cluster\\'s nodes', id: event.PhysicalResourceId || 'none' };
  if (event.RequestType === 'Create') return { status: 'SUCCESS', id: guardId(p) };
  if (event.PhysicalResourceId === guardId(p)) return { status: 'SUCCESS', id: event.PhysicalResourceId };
  const old = event.OldResourceProperties || {};
  const changed = KEYS.filter((k) => JSON.stringify(old[k]) !== JSON.stringify(p[k]));
  const what = (changed.length ? changed : KEYS).map((k) => {
    const [name, show, why] = WHY[k];
    return 'its ' + name + ' (deployed: ' + show(old[k]) + '; this deploy: ' + show(p[k]) + '): ' + why;
  });
  return {
    status: 'FAILED',
    id: event.PhysicalResourceId,
    reason: 'PatroniCluster ' + p.Cluster + ': a running cluster cannot change ' + what.join('; and ') + '. ' +
      'Nothing in the cluster was changed; the update rolls back. Keep the deployed value, or deploy a new PatroniCluster (another construct ID and ' +
      'clusterName) with standbyOf this one (which needs its backup) and promote it (docs/regional-recovery.md).',
  };
}

exports.decide = decide;
exports.handler = async (event) => {
  let answer;
  try {
    answer = decide(event);
  } catch (err) {
    answer = { status: 'FAILED', reason: 'change guard: ' + err, id: event.PhysicalResourceId || 'none' };
  }
  console.log(JSON.stringify({ request: event.RequestType, status: answer.status, reason: answer.reason }));
  const body = JSON.stringify({
    Status: answer.status,
    Reason: (answer.reason || 'ok').slice(0, ${REASON_LIMIT}),
    PhysicalResourceId: answer.id,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
  });
  const response = await fetch(event.ResponseURL, { method: 'PUT', headers: { 'content-type': '' }, body });
  if (!response.ok) throw new Error('CloudFormation refused the answer: HTTP ' + response.status);
};
`;

/** Runs the inline handler as Lambda does, with CloudFormation's presigned URL answered by `status`. */
async function invoke(event: Record<string, unknown>, status = 200, code = CHANGE_GUARD_HANDLER_JS): Promise<Answer> {
  const puts: { url: string; init: { method: string; body: string } }[] = [];
  const module = { exports: {} as { handler: (e: unknown) => Promise<void> } };
  vm.runInNewContext(code, {
    module,
    exports: module.exports,
    require,
    console: { log: () => undefined },
    fetch: async (url: string, init: { method: string; body: string }) => {
      puts.push({ url, init });
      return { ok: status < 300, status };
    },
  });
  await module.exports.handler({ ResponseURL: 'https://cfn.example/answer', StackId: 'stack-1', RequestId: 'req-1', LogicalResourceId: 'DbChangeGuard', ...event });
  expect(puts).toHaveLength(1);
  expect(puts[0]!.url).toBe('https://cfn.example/answer');
  expect(puts[0]!.init.method).toBe('PUT');
  return JSON.parse(puts[0]!.init.body) as Answer;
}

const three: Member[] = [0, 1, 2].map((i) => ({ Name: `orders-${i}`, Subnet: `subnet-${i}` }));
const five: Member[] = [0, 1, 2, 3, 4].map((i) => ({ Name: `orders-${i}`, Subnet: `subnet-${i % 3}` }));
/** A guard's properties as this version sends them (NodeStop: its nodes drain when stopped; NodeImage: they replace their root volume from a new image). */
const props = (members: unknown, more: Record<string, string> = {}) => ({
  Cluster: 'Test/Db',
  Members: members,
  InstanceType: 'm7i.large',
  ImageId: 'ami-0123456789abcdef0',
  NodeStop: 'drain',
  NodeImage: 'root-volume',
  ServiceToken: 'arn:fn',
  ...more,
});
/** As an earlier version sent them: no NodeStop, no NodeImage (its nodes have neither). */
const legacyProps = (members: unknown, more: Record<string, string> = {}): Record<string, unknown> => {
  const p: Record<string, unknown> = props(members, more);
  delete p.NodeStop;
  delete p.NodeImage;
  return p;
};
const IMAGE_A = 'ami-0123456789abcdef0';
const IMAGE_B = 'ami-0fedcba9876543210';
const IMAGE_C = 'ami-0aaaabbbbccccdddd';
/** The physical ID an earlier version gave: the digest held the instance type too. */
const legacyId = (p: { Members: Member[]; InstanceType: string; ImageId: string }) =>
  CHANGE_GUARD_ID_PREFIX +
  createHash('sha256')
    .update(JSON.stringify([p.Members.map((m) => [m.Name, m.Subnet]), p.InstanceType, p.ImageId]))
    .digest('hex')
    .slice(0, 32);
const DEPLOY_FIRST = 'Deploy this version once with the deployed instance type, then change it.';

/** The plain physical ID of a guard over `three` launched with `image`. */
const createdIdOf = (image: string) =>
  CHANGE_GUARD_ID_PREFIX + createHash('sha256').update(JSON.stringify([three.map((m) => [m.Name, m.Subnet]), image])).digest('hex').slice(0, 32);

describe('change guard: the handler', () => {
  let createdId: string;
  beforeAll(async () => {
    createdId = (await invoke({ RequestType: 'Create', ResourceProperties: props(three) })).PhysicalResourceId;
  });

  test('create: SUCCESS, the physical ID a digest of the members, the request echoed back', async () => {
    const a = await invoke({ RequestType: 'Create', ResourceProperties: props(three) });
    expect(a).toMatchObject({ Status: 'SUCCESS', StackId: 'stack-1', RequestId: 'req-1', LogicalResourceId: 'DbChangeGuard' });
    expect(a.PhysicalResourceId).toMatch(new RegExp(`^${CHANGE_GUARD_ID_PREFIX}[0-9a-f]{32}$`));
    expect(a.PhysicalResourceId).toBe(createdId); // the same members, the same ID
    expect((await invoke({ RequestType: 'Create', ResourceProperties: props(five) })).PhysicalResourceId).not.toBe(createdId);
    expect((await invoke({ RequestType: 'Create', ResourceProperties: props(three, { ImageId: 'ami-0fedcba9876543210' }) })).PhysicalResourceId).not.toBe(createdId);
  });

  test('the physical ID digests a canonical form of the refused values alone (members, image): not the instance type', async () => {
    const digest = createHash('sha256').update(JSON.stringify([three.map((m) => [m.Name, m.Subnet]), 'ami-0123456789abcdef0'])).digest('hex').slice(0, 32);
    expect(createdId).toBe(CHANGE_GUARD_ID_PREFIX + digest);
    expect((await invoke({ RequestType: 'Create', ResourceProperties: props(three, { InstanceType: 'm7g.xlarge' }) })).PhysicalResourceId).toBe(createdId);
  });

  test('update with the same members (another property changed): SUCCESS, the same physical ID', async () => {
    const a = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: { ...props(three), Cluster: 'Test/Renamed' }, OldResourceProperties: props(three) });
    expect(a).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: createdId });
  });

  test.each([
    ['a node count change, 3 to 5', five],
    ['a changed cluster name', three.map((m) => ({ ...m, Name: m.Name.replace('orders', 'billing') }))],
    ['a node moved to another subnet', three.map((m, i) => (i === 1 ? { ...m, Subnet: 'subnet-9' } : m))],
  ])('update with %s: FAILED, naming both member sets, why, and the supported path; the physical ID kept', async (_what, members) => {
    const a = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: props(members), OldResourceProperties: props(three) });
    expect(a.Status).toBe('FAILED');
    expect(a.PhysicalResourceId).toBe(createdId);
    expect(a.Reason).toBe(
      'PatroniCluster Test/Db: a running cluster cannot change its members (deployed: orders-0 (subnet-0), orders-1 (subnet-1), orders-2 (subnet-2); ' +
        `this deploy: ${members.map((m) => `${m.Name} (${m.Subnet})`).join(', ')}): a node count, cluster name or subnet change makes new members, ` +
        'unknown to etcd and Patroni. Nothing in the cluster changed. ' +
        'Keep the deployed members, or deploy a new PatroniCluster with standbyOf this one and promote it (docs/regional-recovery.md).',
    );
  });

  test('create: answers the image asked for as the launch image (the instances\' ImageId)', async () => {
    expect((await invoke({ RequestType: 'Create', ResourceProperties: props(three) })).Data).toEqual({ LaunchImageId: IMAGE_A });
    expect((await invoke({ RequestType: 'Create', ResourceProperties: props(three, { ImageId: IMAGE_B }) })).Data).toEqual({ LaunchImageId: IMAGE_B });
  });

  describe('image changes: the instances keep the image they were launched with (a new one reaches the nodes as root volume replacements)', () => {
    const update = (id: string, image: string, before: string, more: Record<string, string> = {}) =>
      invoke({ RequestType: 'Update', PhysicalResourceId: id, ResourceProperties: props(three, { ImageId: image, ...more }), OldResourceProperties: props(three, { ImageId: before }) });
    /** The ID once the image asked for (`image`) is not the launch image A: the digest, A, the image. */
    const pinned = (image: string) => `${createdIdOf(IMAGE_A)}:${IMAGE_A}:${image}`;

    test('A to B: SUCCESS, the launch image A answered, the physical ID records it and B after the digest', async () => {
      const a = await update(createdId, IMAGE_B, IMAGE_A);
      expect(a).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: pinned(IMAGE_B), Data: { LaunchImageId: IMAGE_A } });
      expect(pinned(IMAGE_B).startsWith(createdId + ':')).toBe(true);
    });

    test('then B to C, and the rollback C to B (CloudFormation sends the failed values as old): SUCCESS, still A, the ID naming the image asked for', async () => {
      expect(await update(pinned(IMAGE_B), IMAGE_C, IMAGE_B)).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: pinned(IMAGE_C), Data: { LaunchImageId: IMAGE_A } });
      expect(await update(pinned(IMAGE_C), IMAGE_B, IMAGE_C)).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: pinned(IMAGE_B), Data: { LaunchImageId: IMAGE_A } });
    });

    test('back to A (a rollback of A to B too): SUCCESS, the plain ID of the create again', async () => {
      expect(await update(pinned(IMAGE_B), IMAGE_A, IMAGE_B)).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: createdId, Data: { LaunchImageId: IMAGE_A } });
    });

    test('the rollback of a refused update on the plain ID (the refused image sent as old): SUCCESS, A, the ID kept', async () => {
      const back = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: props(three), OldResourceProperties: props(five, { ImageId: IMAGE_B }) });
      expect(back).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: createdId, Data: { LaunchImageId: IMAGE_A } });
    });

    test('an image with another instance type (another architecture, with the default image): FAILED, one at a time; the rollback passes', async () => {
      for (const id of [createdId, pinned(IMAGE_B)]) {
        const deployed = id === createdId ? IMAGE_A : IMAGE_B;
        const a = await update(id, IMAGE_C, deployed, { InstanceType: 'm7g.large' });
        expect(a).toMatchObject({ Status: 'FAILED', PhysicalResourceId: id });
        expect(a.Reason).toBe(
          `PatroniCluster Test/Db: a running cluster cannot change its image with its instance type (deployed: ${deployed}; this deploy: ${IMAGE_C}): one rollout at a time. ` +
            'Nothing in the cluster changed. Deploy one, then the other (another architecture: a standby cluster, promoted).',
        );
        // The rollback's update: the deployed values asked for, the refused ones sent as old.
        const back = await invoke({ RequestType: 'Update', PhysicalResourceId: id, ResourceProperties: props(three, { ImageId: deployed }), OldResourceProperties: props(three, { ImageId: IMAGE_C, InstanceType: 'm7g.large' }) });
        expect(back).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: id });
      }
      // The type alone, or the image alone, passes.
      expect((await update(pinned(IMAGE_B), IMAGE_B, IMAGE_B, { InstanceType: 'm7i.xlarge' })).Status).toBe('SUCCESS');
    });

    test('new members after an image change: FAILED, naming the members, the recorded ID kept', async () => {
      const a = await invoke({ RequestType: 'Update', PhysicalResourceId: pinned(IMAGE_B), ResourceProperties: props(five, { ImageId: IMAGE_C }), OldResourceProperties: props(three, { ImageId: IMAGE_B }) });
      expect(a).toMatchObject({ Status: 'FAILED', PhysicalResourceId: pinned(IMAGE_B) });
      expect(a.Reason).toContain('cannot change its members');
      expect(a.Reason).not.toContain('its image');
      expect(a.Data).toBeUndefined();
    });

    test('an ID whose digest is not of these members and its launch image: FAILED (members)', async () => {
      const a = await update(`${createdIdOf(IMAGE_B)}:${IMAGE_A}:${IMAGE_B}`, IMAGE_C, IMAGE_B);
      expect(a.Status).toBe('FAILED');
      expect(a.Reason).toContain('cannot change its members');
    });

    test('a deployed guard without NodeImage (its nodes cannot replace their root volume): FAILED with the one deploy first, the ID kept', async () => {
      const before = { ...props(three) } as Record<string, unknown>;
      delete before.NodeImage;
      const a = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: props(three, { ImageId: IMAGE_B }), OldResourceProperties: before });
      expect(a).toMatchObject({ Status: 'FAILED', PhysicalResourceId: createdId });
      expect(a.Reason).toBe(
        `PatroniCluster Test/Db: a running cluster cannot change its image (deployed: ${IMAGE_A}; this deploy: ${IMAGE_B}): nodes set up by an earlier version ` +
          'cannot replace their root volumes yet. Nothing in the cluster changed. Deploy this version once with the deployed image, then change it.',
      );
    });

    test('a downgrade after an image change: the earlier handler refuses it (its ID form differs)', async () => {
      const a = await invoke({ RequestType: 'Update', PhysicalResourceId: pinned(IMAGE_B), ResourceProperties: legacyProps(three, { ImageId: IMAGE_B }), OldResourceProperties: props(three, { ImageId: IMAGE_B }) }, 200, EARLIER_HANDLER_JS);
      expect(a.Status).toBe('FAILED');
    });
  });

  test('update with another instance type, the deployed guard saying its nodes drain (NodeStop): SUCCESS, the same physical ID', async () => {
    const a = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: props(three, { InstanceType: 'm7i.xlarge' }), OldResourceProperties: props(three) });
    expect(a).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: createdId });
  });

  test('update with another instance type, the deployed guard from an earlier version (no NodeStop): FAILED, naming the type and the one deploy first', async () => {
    const a = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: props(three, { InstanceType: 'm7i.xlarge' }), OldResourceProperties: legacyProps(three) });
    expect(a).toMatchObject({ Status: 'FAILED', PhysicalResourceId: createdId });
    expect(a.Reason).toBe(
      'PatroniCluster Test/Db: a running cluster cannot change its instance type (deployed: m7i.large; this deploy: m7i.xlarge): nodes set up by an earlier ' +
        `version cannot be stopped one at a time yet. Nothing in the cluster changed. ${DEPLOY_FIRST}`,
    );
  });

  test('a deployed guard with a NodeStop other than drain does not let a new instance type pass', async () => {
    const a = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: props(three, { InstanceType: 'm7i.xlarge' }), OldResourceProperties: props(three, { NodeStop: 'none' }) });
    expect(a.Status).toBe('FAILED');
  });

  test('two changes at once: both named, each with its own way out', async () => {
    const a = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: props(five, { InstanceType: 'm7i.xlarge' }), OldResourceProperties: legacyProps(three) });
    expect(a.Status).toBe('FAILED');
    expect(a.Reason).toMatch(/cannot change its members \(.*\): .* unknown to etcd and Patroni; and its instance type \(deployed: m7i\.large; this deploy: m7i\.xlarge\): nodes set up by an earlier/);
    expect(a.Reason).toContain(`(docs/regional-recovery.md). ${DEPLOY_FIRST}`);
  });

  test('members changed with a new instance type on a guard that drains: only the members are refused', async () => {
    const a = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: props(five, { InstanceType: 'm7i.xlarge' }), OldResourceProperties: props(three) });
    expect(a.Status).toBe('FAILED');
    expect(a.Reason).toContain('cannot change its members');
    expect(a.Reason).not.toContain('instance type');
  });

  describe('a guard deployed by an earlier version (its physical ID digests the instance type too, no NodeStop)', () => {
    const deployed = legacyProps(three);
    const oldId = legacyId(deployed as Parameters<typeof legacyId>[0]);

    test('the upgrade (the same values, NodeStop added): SUCCESS, the old physical ID kept (a new one would be a replacement to CloudFormation)', async () => {
      expect(oldId).not.toBe(createdId);
      const a = await invoke({ RequestType: 'Update', PhysicalResourceId: oldId, ResourceProperties: props(three), OldResourceProperties: deployed });
      expect(a).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: oldId });
    });

    test('an update that changes none of its values (another property changed): SUCCESS, the old physical ID kept', async () => {
      for (const [asked, before] of [[deployed, deployed], [{ ...deployed, Cluster: 'Test/Renamed' }, deployed], [{ ...props(three), Cluster: 'Test/Renamed' }, props(three)]]) {
        const a = await invoke({ RequestType: 'Update', PhysicalResourceId: oldId, ResourceProperties: asked, OldResourceProperties: before });
        expect(a).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: oldId });
      }
    });

    test('once upgraded (the deployed guard sent NodeStop), a new instance type: SUCCESS with the new physical ID (CloudFormation deletes the old one: answered SUCCESS)', async () => {
      const a = await invoke({ RequestType: 'Update', PhysicalResourceId: oldId, ResourceProperties: props(three, { InstanceType: 'm7i.xlarge' }), OldResourceProperties: props(three) });
      expect(a).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: createdId });
      expect(await invoke({ RequestType: 'Delete', PhysicalResourceId: oldId, ResourceProperties: props(three) })).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: oldId });
      // Its rollback (a later resource failed): the new ID, which does not hold the type, passes as it is.
      const back = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: props(three), OldResourceProperties: props(three, { InstanceType: 'm7i.xlarge' }) });
      expect(back).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: createdId });
    });

    test('a new image: still FAILED, the old physical ID kept', async () => {
      const a = await invoke({ RequestType: 'Update', PhysicalResourceId: oldId, ResourceProperties: props(three, { ImageId: 'ami-0fedcba9876543210' }), OldResourceProperties: deployed });
      expect(a).toMatchObject({ Status: 'FAILED', PhysicalResourceId: oldId });
      expect(a.Reason).toContain('cannot change its image (deployed: ami-0123456789abcdef0; this deploy: ami-0fedcba9876543210)');
    });

    test('new members: still FAILED', async () => {
      const a = await invoke({ RequestType: 'Update', PhysicalResourceId: oldId, ResourceProperties: props(five), OldResourceProperties: deployed });
      expect(a).toMatchObject({ Status: 'FAILED', PhysicalResourceId: oldId });
      expect(a.Reason).toContain('cannot change its members');
    });

    test('a new instance type: FAILED with the one deploy first, not the members or the image', async () => {
      const a = await invoke({ RequestType: 'Update', PhysicalResourceId: oldId, ResourceProperties: props(three, { InstanceType: 'm7i.xlarge' }), OldResourceProperties: deployed });
      expect(a).toMatchObject({ Status: 'FAILED', PhysicalResourceId: oldId });
      expect(a.Reason).toContain('cannot change its instance type (deployed: m7i.large; this deploy: m7i.xlarge)');
      expect(a.Reason).not.toMatch(/its (members|image)/);
    });

    test("the rollback's update after a refused new image, type or members, or after the upgrade (the deployed values again): SUCCESS, the old physical ID kept", async () => {
      for (const before of [props(three, { ImageId: 'ami-0fedcba9876543210' }), props(three, { InstanceType: 'm7i.xlarge' }), props(five), props(three)]) {
        const a = await invoke({ RequestType: 'Update', PhysicalResourceId: oldId, ResourceProperties: deployed, OldResourceProperties: before });
        expect(a).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: oldId });
      }
    });

    describe('a downgrade: the earlier handler (903607c) on the ID this version answered', () => {
      test('the copy is that handler: its create answers the legacy ID', async () => {
        expect(await invoke({ RequestType: 'Create', ResourceProperties: deployed }, 200, EARLIER_HANDLER_JS)).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: oldId });
      });

      test('after an upgrade that kept the ID: the downgrade (NodeStop gone, the same values) passes', async () => {
        const upgraded = await invoke({ RequestType: 'Update', PhysicalResourceId: oldId, ResourceProperties: props(three), OldResourceProperties: deployed });
        const a = await invoke({ RequestType: 'Update', PhysicalResourceId: upgraded.PhysicalResourceId, ResourceProperties: deployed, OldResourceProperties: props(three) }, 200, EARLIER_HANDLER_JS);
        expect(a).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: oldId });
      });

      test('after a new instance type passed (the new ID form): the downgrade is refused, naming all three values (documented)', async () => {
        const upgraded = await invoke({ RequestType: 'Update', PhysicalResourceId: oldId, ResourceProperties: props(three), OldResourceProperties: deployed });
        const bigger = props(three, { InstanceType: 'm7i.xlarge' });
        const changed = await invoke({ RequestType: 'Update', PhysicalResourceId: upgraded.PhysicalResourceId, ResourceProperties: bigger, OldResourceProperties: props(three) });
        const downgrade = legacyProps(three, { InstanceType: 'm7i.xlarge' }); // NodeStop gone
        const a = await invoke({ RequestType: 'Update', PhysicalResourceId: changed.PhysicalResourceId, ResourceProperties: downgrade, OldResourceProperties: bigger }, 200, EARLIER_HANDLER_JS);
        expect(a.Status).toBe('FAILED');
        expect(a.Reason).toMatch(/cannot change its members \(deployed: .*; and its instance type \(deployed: m7i\.xlarge; this deploy: m7i\.xlarge\).*; and its image \(deployed: ami-0123456789abcdef0; this deploy: ami-0123456789abcdef0\)/);
      });
    });
  });

  test('a refused update without the old properties (never sent by CloudFormation) still names every value asked for', async () => {
    const a = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: props(five) });
    expect(a.Status).toBe('FAILED');
    expect(a.Reason).toContain('its members (deployed: unknown; this deploy: orders-0 (subnet-0)');
  });

  test("the rollback's update (the deployed values again, after a refused one): SUCCESS", async () => {
    const a = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: props(three), OldResourceProperties: props(five, { ImageId: 'ami-0fedcba9876543210' }) });
    expect(a).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: createdId });
  });

  test("the rollback's update after a new instance type passed (a later resource failed): SUCCESS", async () => {
    const a = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: props(three), OldResourceProperties: props(three, { InstanceType: 'm7i.xlarge' }) });
    expect(a).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: createdId });
  });

  test('the physical ID does not depend on the order of keys CloudFormation delivers', async () => {
    const reordered = three.map((m) => ({ Subnet: m.Subnet, Name: m.Name }));
    const a = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: { NodeStop: 'drain', ImageId: 'ami-0123456789abcdef0', InstanceType: 'm7i.large', Members: reordered, Cluster: 'Test/Db' }, OldResourceProperties: props(three) });
    expect(a).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: createdId });
  });

  test('delete after a create that failed on bad input: SUCCESS (nothing to remove)', async () => {
    expect(await invoke({ RequestType: 'Delete', PhysicalResourceId: 'none', ResourceProperties: props(undefined) })).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: 'none' });
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
    expect(a).toMatchObject({ Status: 'FAILED', Reason: 'Members is empty' });
  });

  test('a handler error is answered as FAILED (CloudFormation is never left waiting)', async () => {
    const a = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: props([null]) });
    expect(a.Status).toBe('FAILED');
    expect(a.Reason).toMatch(/^change guard: TypeError/);
  });

  test('a long member list is cut to what a CloudFormation answer holds', async () => {
    const many = Array.from({ length: 200 }, (_, i) => ({ Name: `orders-${i}`, Subnet: `subnet-${i}` }));
    const a = await invoke({ RequestType: 'Update', PhysicalResourceId: createdId, ResourceProperties: props(many), OldResourceProperties: props(three) });
    expect(a.Status).toBe('FAILED');
    expect(a.Reason).toHaveLength(REASON_LIMIT);
  });

  test('an answer CloudFormation refuses is an error of the invocation (Lambda logs it)', async () => {
    await expect(invoke({ RequestType: 'Create', ResourceProperties: props(three) }, 403)).rejects.toThrow('CloudFormation refused the answer: HTTP 403');
  });
});

describe('change guard: in the cluster', () => {
  const base = setup();
  const guards = (t: Template) => t.findResources('Custom::CdkFailoverChangeGuard');

  test('one guard per cluster, listing every node by name and the subnet it takes its address from, the instance type and the image the instances get, that the nodes drain on stop, with the cluster path', () => {
    const found = guards(base.template);
    expect(Object.keys(found)).toEqual([expect.stringMatching(/^DbChangeGuard[0-9A-F]{8}$/)]);
    const p = Object.values(found)[0]!.Properties;
    expect(p.Cluster).toBe('Test/Db');
    expect(p.Members).toHaveLength(3);
    const interfaces = Object.values(base.template.findResources('AWS::EC2::NetworkInterface'));
    p.Members.forEach((m: { Name: string; Subnet: unknown }, i: number) => {
      expect(m.Name).toBe(`orders-${i}`);
      expect(m.Subnet).toEqual(interfaces[i]!.Properties.SubnetId);
      expect(m.Subnet).toEqual({ Ref: expect.stringMatching(/^VpcdbSubnet\dSubnet/) });
    });
    expect(p.InstanceType).toBe('m7i.large');
    expect(p.NodeStop).toBe('drain');
    expect(p.NodeImage).toBe('root-volume');
    // The floating image: the parameter CloudFormation resolves at each deploy. The instances get
    // the guard's launch image, the nodes' configuration the image asked for.
    expect(p.ImageId).toEqual({ Ref: expect.stringMatching(/^SsmParameterValue/) });
    const [guardId] = Object.keys(found);
    for (const instance of Object.values(base.template.findResources('AWS::EC2::Instance'))) {
      expect(instance.Properties.ImageId).toEqual({ 'Fn::GetAtt': [guardId, 'LaunchImageId'] });
      expect(instance.Metadata['cdk-failover:node'].image).toEqual(p.ImageId);
    }
  });

  test('its function runs the inline handler on Node.js 24, with its own log group', () => {
    base.template.hasResourceProperties('AWS::Lambda::Function', { Code: { ZipFile: CHANGE_GUARD_HANDLER_JS }, Handler: 'index.handler', Runtime: 'nodejs24.x' });
    expect(CHANGE_GUARD_HANDLER_JS.length).toBeLessThan(4096); // CloudFormation's inline code limit
  });

  test('every resource of the cluster but the guard\'s own waits for the check (a refused update changes nothing in it)', () => {
    const [guardId] = Object.keys(guards(base.template));
    const resources = base.template.toJSON().Resources as Record<string, { Type: string; DependsOn?: string[] }>;
    const own = Object.keys(resources).filter((id) => id.startsWith('DbChangeGuard'));
    expect(own.sort()).toEqual([guardId, expect.stringMatching(/^DbChangeGuardFunction/), expect.stringMatching(/^DbChangeGuardFunction/), expect.stringMatching(/^DbChangeGuardFunction/)].sort());
    const cluster = Object.entries(resources).filter(([id]) => id.startsWith('Db') && !own.includes(id));
    expect(cluster.length).toBeGreaterThan(40);
    for (const [id, r] of cluster) expect({ id, dependsOn: r.DependsOn }).toEqual({ id, dependsOn: expect.arrayContaining([guardId]) });
    // The VPC is not the cluster's: it does not wait.
    for (const [id, r] of Object.entries(resources).filter(([id]) => id.startsWith('Vpc'))) expect({ id, dependsOn: r.DependsOn ?? [] }).not.toEqual({ id, dependsOn: expect.arrayContaining([guardId]) });
  });

  test('resources added to the cluster after it was made wait too', () => {
    const late = setup({}, undefined, (_stack, _vpc, cluster) => {
      new iam.Role(cluster, 'Extra', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    });
    const [guardId] = Object.keys(guards(late.template));
    const extra = Object.entries(late.template.findResources('AWS::IAM::Role')).find(([id]) => id.startsWith('DbExtra'))!;
    expect(extra[1].DependsOn).toEqual(expect.arrayContaining([guardId]));
  });

  test('day two: a node count change updates the same guard (same logical ID) with the new members, which its handler refuses', () => {
    const grown = setup({ nodes: 5 });
    const [before, after] = [guards(base.template), guards(grown.template)];
    expect(Object.keys(after)).toEqual(Object.keys(before));
    expect(Object.values(after)[0]!.Properties.Members).toHaveLength(5);
  });

  test.each([
    ['instanceType', 'passes (when the deployed guard sent NodeStop)', { instanceType: new ec2.InstanceType('m7i.xlarge') }, 'InstanceType', 'm7i.xlarge'],
    ['machineImage', 'passes (when the deployed guard sent NodeImage)', { machineImage: ec2.MachineImage.genericLinux({ 'eu-west-1': 'ami-0fedcba9876543210' }) }, 'ImageId', 'ami-0fedcba9876543210'],
  ] as const)('day two: a changed %s reaches the same guard, which its handler then %s', (_prop, _then, change, key, value) => {
    const changed = guards(setup(change).template);
    expect(Object.keys(changed)).toEqual(Object.keys(guards(base.template)));
    expect(Object.values(changed)[0]!.Properties[key]).toEqual(value);
    expect(Object.values(changed)[0]!.Properties.NodeStop).toBe('drain');
    expect(Object.values(changed)[0]!.Properties.NodeImage).toBe('root-volume');
    takeConsoleOutput(); // the validator's W9010 on a literal image ID
  });

  test('day two: a dynamic change (timing) leaves the guard as it is', () => {
    expect(guards(setup({ timing: PatroniTiming.FAST }).template)).toEqual(guards(base.template));
  });

  test('bad input: no nodes is refused', () => {
    expect(() => new ChangeGuard(base.stack, 'Empty', { clusterPath: 'x', nodes: [], instanceType: 'm7i.large', imageId: 'ami-0123456789abcdef0' })).toThrow('nodes must name at least one node');
  });
});
