// The change guard's Lambda code (Node.js, inline): a CloudFormation custom resource that refuses
// an update a running cluster cannot take. It compares what a deploy asks for (members, image)
// with what it was created with, which its physical ID records (a digest of those two alone; one
// kept from an earlier version holds the instance type too), so a rollback (the deployed values
// again) passes. A new instance type passes: CloudFormation stops and
// starts the nodes, whose drain on stop takes them down one at a time, the leader last. Only nodes
// set up by an earlier library version lack that drain: when the deployed properties do not carry
// NodeStop: NODE_STOP_DRAIN, a new instance type is refused until one deploy with the deployed type
// has given them it. It answers CloudFormation itself (one PUT to the presigned URL) and always
// answers: a handler that threw without answering would hold the stack for an hour.

/** The physical ID's prefix; the digest after it must never change form (deployed IDs hold it). */
export const CHANGE_GUARD_ID_PREFIX = 'cdk-failover-guard-';

/** What a CloudFormation Reason may hold, with room to spare (the whole answer is at most 4 KiB). */
export const REASON_LIMIT = 3000;

/** The guard's `NodeStop` value saying every node drains when CloudFormation stops it. */
export const NODE_STOP_DRAIN = 'drain';

// Inside (comments here: the inline code counts against CloudFormation's 4096 characters):
// - guardId digests a canonical form (no object key order) of the members and the image: a deployed
//   guard's digest must stay the same. legacyId is the digest of earlier versions, which held the
//   instance type too: an update from such a guard with the same members and image passes.
// - A legacy ID is kept (answered unchanged) while it holds the instance type asked for: a changed
//   physical ID is a replacement to CloudFormation (it deletes the old ID, in a rollback too), and
//   an earlier version's handler (a downgrade) accepts only its own ID for the values asked for.
//   Only an instance type change that passes switches to guardId (the form does not hold the
//   type, so the ID would go stale). After that a downgrade is refused by the earlier handler
//   (its ID form differs; it names members, instance type and image as changed), but that handler
//   would have refused the type change itself.
// - The ID holds the deployed members and image, so a rollback (asking for them again) passes.
// - A new instance type is refused only when the deployed properties lack NodeStop: NODE_STOP_DRAIN.
//   A deploy waits until every node applied its generation, so a template that sent NodeStop means
//   the nodes have the drain unit's file; their agents enable it within one period (20 s) after.
//   A node whose enable fails only logs it (and retries): that node would go down undrained.
export const CHANGE_GUARD_HANDLER_JS = `'use strict';
const crypto = require('node:crypto');
const PREFIX = ${JSON.stringify(CHANGE_GUARD_ID_PREFIX)};
const digest = (x) => PREFIX + crypto.createHash('sha256').update(JSON.stringify(x)).digest('hex').slice(0, 32);
const pairs = (p) => p.Members.map((m) => [String(m.Name), String(m.Subnet)]);
const guardId = (p) => digest([pairs(p), String(p.ImageId)]);
const legacyId = (p, type) => digest([pairs(p), String(type), String(p.ImageId)]);
const show = (v) => (v === undefined ? 'unknown' : String(v));
const members = (m) => (Array.isArray(m) ? m.map((x) => x.Name + ' (' + x.Subnet + ')').join(', ') : 'unknown');
const WHY = {
  Members: ['members', members, 'etcd and Patroni know each node by name and address (from its subnet); a node count, cluster name or subnet change makes new members'],
  ImageId: ['image', show, 'CloudFormation would replace every node, and a new instance cannot take over the node\\'s network interface'],
  InstanceType: ['instance type', show, 'set up by an earlier cdk-failover version, the nodes cannot yet be stopped one at a time (CloudFormation would stop them all at once)'],
};

function decide(event) {
  const p = event.ResourceProperties || {};
  const id = event.PhysicalResourceId;
  if (event.RequestType === 'Delete') return { status: 'SUCCESS', id };
  if (!Array.isArray(p.Members) || p.Members.length === 0) return { status: 'FAILED', reason: 'Members must list the cluster\\'s nodes', id: id || 'none' };
  if (event.RequestType === 'Create') return { status: 'SUCCESS', id: guardId(p) };
  const old = event.OldResourceProperties || {};
  const refused = [];
  const then = [];
  const kept = id === guardId(p) || id === legacyId(p, p.InstanceType);
  if (!kept && id !== legacyId(p, old.InstanceType)) {
    const changed = ['Members', 'ImageId'].filter((k) => JSON.stringify(old[k]) !== JSON.stringify(p[k]));
    refused.push(...(changed.length ? changed : ['Members', 'ImageId']));
    then.push('Keep the deployed value, or deploy a new PatroniCluster (another construct ID and clusterName) with standbyOf this one (which needs its backup) and promote it (docs/regional-recovery.md).');
  }
  if (show(old.InstanceType) !== show(p.InstanceType) && old.NodeStop !== ${JSON.stringify(NODE_STOP_DRAIN)}) {
    refused.push('InstanceType');
    then.push('Deploy this version once with the deployed instance type (the nodes get their drain on stop), then change the type.');
  }
  if (refused.length === 0) return { status: 'SUCCESS', id: kept ? id : guardId(p) };
  const what = refused.map((k) => {
    const [name, show, why] = WHY[k];
    return 'its ' + name + ' (deployed: ' + show(old[k]) + '; this deploy: ' + show(p[k]) + '): ' + why;
  });
  return {
    status: 'FAILED',
    id,
    reason: 'PatroniCluster ' + p.Cluster + ': a running cluster cannot change ' + what.join('; and ') + '. Nothing in the cluster was changed; the update rolls back. ' + then.join(' '),
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
