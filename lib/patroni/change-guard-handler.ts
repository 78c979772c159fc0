// The change guard's Lambda code (Node.js, inline): a CloudFormation custom resource that refuses
// an update a running cluster cannot take. It compares what a deploy asks for (members, instance
// type, image) with what it was created with, which its physical ID records (a digest), so a
// rollback (the deployed values again) passes. It answers CloudFormation itself (one PUT to the
// presigned URL) and always answers: a handler that threw without answering would hold the stack
// for an hour.

/** The physical ID's prefix; the digest after it must never change form (deployed IDs hold it). */
export const CHANGE_GUARD_ID_PREFIX = 'cdk-failover-guard-';

/** What a CloudFormation Reason may hold, with room to spare (the whole answer is at most 4 KiB). */
export const REASON_LIMIT = 3000;

export const CHANGE_GUARD_HANDLER_JS = `'use strict';
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
