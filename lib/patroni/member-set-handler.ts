// The member-set guard's Lambda code (Node.js, inline): a CloudFormation custom resource that
// refuses an update which changes the cluster's members. It compares the members a deploy asks for
// with the ones it was created with, which its physical ID records (a digest), so a rollback (the
// old members again) passes. It answers CloudFormation itself (one PUT to the presigned URL) and
// always answers: a handler that threw without answering would hold the stack for an hour.

/** The physical ID's prefix; the digest after it must never change form (deployed IDs hold it). */
export const MEMBER_SET_ID_PREFIX = 'cdk-failover-members-';

/** What a CloudFormation Reason may hold, with room to spare (the whole answer is at most 4 KiB). */
export const REASON_LIMIT = 3000;

export const MEMBER_SET_HANDLER_JS = `'use strict';
const crypto = require('node:crypto');
const PREFIX = ${JSON.stringify(MEMBER_SET_ID_PREFIX)};
const memberId = (members) => PREFIX + crypto.createHash('sha256').update(JSON.stringify(members)).digest('hex').slice(0, 32);
const describe = (members) => (Array.isArray(members) ? members.map((m) => m.Name + ' (' + m.Address + ')').join(', ') : 'unknown');

function decide(event) {
  const p = event.ResourceProperties || {};
  const members = p.Members;
  if (!Array.isArray(members) || members.length === 0) return { status: 'FAILED', reason: 'Members must list the cluster\\'s nodes', id: event.PhysicalResourceId || 'none' };
  if (event.RequestType === 'Create') return { status: 'SUCCESS', id: memberId(members) };
  if (event.RequestType === 'Delete' || event.PhysicalResourceId === memberId(members)) return { status: 'SUCCESS', id: event.PhysicalResourceId };
  const was = describe((event.OldResourceProperties || {}).Members);
  return {
    status: 'FAILED',
    id: event.PhysicalResourceId,
    reason: 'PatroniCluster ' + p.Cluster + ': the member set of a running cluster cannot change (etcd and Patroni know each node by name and address; ' +
      'a node count, cluster name or subnet change makes new members). Deployed: ' + was + '. This deploy: ' + describe(members) + '. ' +
      'Nothing on the nodes was changed; the update rolls back. To resize or move the cluster, deploy a new PatroniCluster (another construct ID) ' +
      'with standbyOf this one, then promote it (docs/regional-recovery.md).',
  };
}

exports.decide = decide;
exports.handler = async (event) => {
  let answer;
  try {
    answer = decide(event);
  } catch (err) {
    answer = { status: 'FAILED', reason: 'member-set guard: ' + err, id: event.PhysicalResourceId || 'none' };
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
