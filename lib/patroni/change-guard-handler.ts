// The change guard's Lambda code (Node.js, inline): a CloudFormation custom resource that refuses
// an update a running cluster cannot take. It compares the members a deploy asks for with what it
// was created with, which its physical ID records (a digest of the members and the launch image;
// one kept from an earlier version holds the instance type too), so a rollback (the deployed values
// again) passes. It answers the image the instances were launched with (LaunchImageId), kept
// across image changes, which reach the nodes as root volume replacements. A new instance type passes: CloudFormation stops and
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

/** The guard's `NodeImage` value saying every node's agent replaces its root volume from a new image. */
export const NODE_IMAGE_ROOT_VOLUME = 'root-volume';

/** The guard's attribute: the image the instances were launched with (their template's ImageId, kept). */
export const LAUNCH_IMAGE_ATTRIBUTE = 'LaunchImageId';

/** Between the digest and the launch image, in an ID that records one other than the deployed image. */
export const LAUNCH_IMAGE_SEPARATOR = ':';

// Inside (comments here: the inline code counts against CloudFormation's 4096 characters):
// - guardId digests a canonical form (no object key order) of the members and the launch image: a
//   deployed guard's digest must stay the same. legacyId is the digest of earlier versions, which
//   held the instance type too: an update from such a guard with the same members passes.
// - The launch image: the instances' ImageId (LaunchImageId), never changed (a new ImageId
//   replaces an instance, and a new instance cannot take over the node's interface). A plain ID
//   (guardId or legacyId) was given while the deployed image was the launch image, so that is
//   ImageId of the old properties. Once a deploy asks for another image, the ID becomes guardId,
//   the launch image and the image asked for, joined by LAUNCH_IMAGE_SEPARATOR: later updates know
//   both from it (not from the old properties, which a rollback after a refused update fills with
//   the refused values); back to the launch image (a rollback too), the plain guardId returns.
// - An image and an instance type changed at once are refused (against the image the ID says is
//   deployed, so the rollback's update, which asks for that image, passes): CloudFormation would
//   stop every instance while agents replace root volumes, and a type of another architecture
//   cannot run the deployed image (the default image follows the type's architecture). A changed physical ID is a
//   replacement to CloudFormation, which then deletes the old one: answered SUCCESS.
// - A legacy ID is kept (answered unchanged) while it holds the instance type asked for: an earlier
//   version's handler (a downgrade) accepts only its own ID for the values asked for. Only a change
//   that passes switches to another form. After that a downgrade is refused by the earlier handler
//   (its ID form differs), which would have refused the change itself.
// - Members are checked against the ID, so a rollback (asking for the deployed ones) passes.
// - A new image is refused only when the deployed properties lack NodeImage: NODE_IMAGE_ROOT_VOLUME,
//   and a new instance type only when they lack NodeStop: NODE_STOP_DRAIN. A deploy waits until
//   every node applied its generation, so a template that sent them means every node has the agent
//   that replaces its root volume and the drain unit's file (enabled within 20 s; a node whose
//   enable fails only logs it, and would go down undrained).
// - The launch image of a plain ID is whichever of the old and the new ImageId its digest holds
//   (not always the old one: a rollback after a refused update sends the refused values as old).
export const CHANGE_GUARD_HANDLER_JS = `'use strict';
const crypto = require('node:crypto');
const PREFIX = ${JSON.stringify(CHANGE_GUARD_ID_PREFIX)};
const SEP = ${JSON.stringify(LAUNCH_IMAGE_SEPARATOR)};
const digest = (x) => PREFIX + crypto.createHash('sha256').update(JSON.stringify(x)).digest('hex').slice(0, 32);
const pairs = (p) => p.Members.map((m) => [String(m.Name), String(m.Subnet)]);
const guardId = (p, image) => digest([pairs(p), String(image)]);
const legacyId = (p, type, image) => digest([pairs(p), String(type), String(image)]);
const show = (v) => (v === undefined ? 'unknown' : String(v));
const members = (m) => (Array.isArray(m) ? m.map((x) => x.Name + ' (' + x.Subnet + ')').join(', ') : 'unknown');
const EARLIER = 'nodes set up by an earlier version cannot ';

function decide(event) {
  const p = event.ResourceProperties || {};
  const id = event.PhysicalResourceId;
  if (event.RequestType === 'Delete') return { status: 'SUCCESS', id };
  if (!Array.isArray(p.Members) || p.Members.length === 0) return { status: 'FAILED', reason: 'Members is empty', id: id || 'none' };
  if (event.RequestType === 'Create') return { status: 'SUCCESS', id: guardId(p, p.ImageId), launch: String(p.ImageId) };
  const old = event.OldResourceProperties || {};
  const [base, pinned, ran] = String(id).split(SEP);
  const ids = (x) => (pinned ? [guardId(p, x)] : [guardId(p, x), legacyId(p, p.InstanceType, x), legacyId(p, old.InstanceType, x)]);
  const launch = (pinned ? [pinned] : [String(old.ImageId), String(p.ImageId)]).find((x) => ids(x).includes(base));
  const image = String(p.ImageId) !== (ran || launch);
  const no = [];
  const refuse = (k, name, f, why, then) => no.push(['its ' + name + ' (deployed: ' + f(old[k]) + '; this deploy: ' + f(p[k]) + '): ' + why, then]);
  const type = show(old.InstanceType) !== show(p.InstanceType);
  if (!launch) {
    refuse('Members', 'members', members, 'a node count, cluster name or subnet change makes new members, unknown to etcd and Patroni',
      'Keep the deployed members, or deploy a new PatroniCluster with standbyOf this one and promote it (docs/regional-recovery.md).');
  } else if (image && type) {
    refuse('ImageId', 'image with its instance type', show, 'one rollout at a time', 'Deploy one, then the other (another architecture: a standby cluster, promoted).');
  } else if (image && old.NodeImage !== ${JSON.stringify(NODE_IMAGE_ROOT_VOLUME)}) {
    refuse('ImageId', 'image', show, EARLIER + 'replace their root volumes yet', 'Deploy this version once with the deployed image, then change it.');
  }
  if (type && old.NodeStop !== ${JSON.stringify(NODE_STOP_DRAIN)}) {
    refuse('InstanceType', 'instance type', show, EARLIER + 'be stopped one at a time yet', 'Deploy this version once with the deployed instance type, then change it.');
  }
  if (no.length) {
    const reason = 'PatroniCluster ' + p.Cluster + ': a running cluster cannot change ' + no.map((x) => x[0]).join('; and ') + '. Nothing in the cluster changed. ';
    return { status: 'FAILED', id, reason: reason + no.map((x) => x[1]).join(' ') };
  }
  if (String(p.ImageId) !== launch) return { status: 'SUCCESS', id: [guardId(p, launch), launch, p.ImageId].join(SEP), launch };
  return { status: 'SUCCESS', id: ids(launch).slice(0, 2).includes(id) ? id : guardId(p, launch), launch };
}

exports.decide = decide;
exports.handler = async (event) => {
  let answer;
  try {
    answer = decide(event);
  } catch (err) {
    answer = { status: 'FAILED', reason: 'change guard: ' + err, id: event.PhysicalResourceId || 'none' };
  }
  console.log(JSON.stringify({ request: event.RequestType, ...answer }));
  const body = JSON.stringify({
    Status: answer.status,
    Reason: (answer.reason || 'ok').slice(0, ${REASON_LIMIT}),
    PhysicalResourceId: answer.id,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    ...(answer.launch ? { Data: { ${LAUNCH_IMAGE_ATTRIBUTE}: answer.launch } } : {}),
  });
  const response = await fetch(event.ResponseURL, { method: 'PUT', headers: { 'content-type': '' }, body });
  if (!response.ok) throw new Error('CloudFormation refused the answer: HTTP ' + response.status);
};
`;
