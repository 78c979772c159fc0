import { gunzipSync } from 'node:zlib';
import { REHEARSAL_REGION, rehearsalVolumeId, resolveIntrinsic, synthesizeRehearsalStack } from '../../lib/local/boot/rehearsal-stack';
import { REHEARSAL_IMAGE_ID, rehearsalWaitHandleUrl } from '../../lib/local/boot/rehearsal-names';
import { FAST_TIMING } from '../../lib/patroni/config/timing-profiles';
import { NODE_METADATA_KEY } from '../../lib/patroni/user-data';

const ADDRESSES = ['10.213.77.11', '10.213.77.12', '10.213.77.13'];
const FRONT = '10.213.77.200';
const VERSION = 'c0ffee00-0000-4000-8000-00000000beef';
// AWS's own key (the default) stands in for the rehearsal's, which is made with gnupg at boot.
const CERTIFICATES = { endpointAddress: FRONT, nodeSecretVersion: VERSION, ssmAgent: {} };

/** The node's configuration document in its instance's metadata, and its bundle's text. */
function unpack(metadata: unknown): { values: Record<string, string>; waitHandle: string; text: string } {
  const document = (metadata as Record<string, { values: Record<string, string>; waitHandle: string; bundle: string }>)[NODE_METADATA_KEY];
  return { values: document.values, waitHandle: document.waitHandle, text: gunzipSync(Buffer.from(document.bundle, 'base64')).toString('utf8') };
}

describe('synthesizeRehearsalStack', () => {
  const stack = synthesizeRehearsalStack({ clusterName: 'bt', nodeAddresses: ADDRESSES, vpcCidr: '10.213.77.0/24', timing: FAST_TIMING, ...CERTIFICATES });

  test('gives each node the user data and metadata of its instance in the template, every deploy-time value resolved', () => {
    expect(stack.nodes.map((n) => [n.name, n.address, n.volumeId])).toEqual([
      ['bt-0', ADDRESSES[0], rehearsalVolumeId(0)],
      ['bt-1', ADDRESSES[1], rehearsalVolumeId(1)],
      ['bt-2', ADDRESSES[2], rehearsalVolumeId(2)],
    ]);
    stack.nodes.forEach((node, i) => {
      expect(node.userData.startsWith('#!/bin/bash\n')).toBe(true);
      expect(node.userData).toContain(`stack='Rehearsal' resource='${node.logicalId}'`);
      const { values, text, waitHandle } = unpack(node.metadata);
      expect(waitHandle).toBe(rehearsalWaitHandleUrl(stack.waitHandle));
      expect(values.__DATA_VOLUME_ID__).toBe(rehearsalVolumeId(i));
      expect(values.__AWS_REGION__).toBe(REHEARSAL_REGION);
      expect(values.__CLUSTER_CIDR__).toBe('10.213.77.0/24');
      expect(values.__SUPERUSER_SECRET__).toBe(stack.secretArns.superuser);
      ADDRESSES.forEach((a, j) => expect(values[`__NODE${j}_ADDRESS__`]).toBe(a));
      expect(Object.values(values).join('\n')).not.toMatch(/Ref|Fn::|\$\{Token/);
      expect(values.__TLS_SECRET__).toBe(stack.certificates.NodeSecretArn);
      expect(values.__TLS_SECRET_VERSION__).toBe(VERSION);
      expect(text).toContain(`node bt-${i} of cluster bt`);
    });
  });

  test('the secrets are distinct ARNs of the rehearsal account and region; the spec keeps its placeholders for the harness', () => {
    const arns = Object.values(stack.secretArns);
    expect(new Set(arns).size).toBe(4);
    for (const arn of arns) expect(arn).toMatch(/^arn:aws:secretsmanager:eu-west-1:111122223333:secret:[A-Za-z0-9]+-Rh3a5l$/);
    expect(stack.spec.credentials.superuser.password).toBe('__SUPERUSER_PASSWORD__');
    expect(stack.spec.timing).toEqual(FAST_TIMING);
    expect(stack.spec.watchdogMode).toBe('off');
  });

  test("the certificate issuer's request, as CloudFormation would send it: the nodes' names and addresses, the front as the load balancer's name, three distinct secrets", () => {
    const properties = stack.certificates;
    expect(properties).toMatchObject({
      ClusterName: 'bt',
      Nodes: ADDRESSES.map((a, i) => ({ Name: `bt-${i}`, Address: a })),
      EndpointNames: [FRONT],
      Days: '365',
      Rotation: '0',
    });
    expect(properties).not.toHaveProperty('ServiceToken');
    const arns = [properties.CaSecretArn, properties.NodeSecretArn, properties.OperatorSecretArn];
    expect(new Set([...arns, ...Object.values(stack.secretArns)]).size).toBe(7);
    for (const arn of arns) expect(arn).toMatch(/^arn:aws:secretsmanager:eu-west-1:111122223333:secret:DatabaseCertificates\w+Secret[0-9A-F]{8}-Rh3a5l$/);
  });

  test('a changed parameter changes the metadata and the wait condition, never the user data (day two)', () => {
    const changed = synthesizeRehearsalStack({
      clusterName: 'bt',
      nodeAddresses: ADDRESSES,
      vpcCidr: '10.213.77.0/24',
      timing: FAST_TIMING,
      postgresParameters: { work_mem: '8MB' },
      ...CERTIFICATES,
    });
    expect(changed.nodes.map((n) => n.userData)).toEqual(stack.nodes.map((n) => n.userData));
    expect(changed.waitHandle).not.toBe(stack.waitHandle);
    expect(unpack(changed.nodes[0].metadata).text).toContain('work_mem');
    expect(unpack(stack.nodes[0].metadata).text).not.toContain('work_mem');
  });

  test("an image change: each node's configuration names the new image, the user data stays, the wait condition changes (the rehearsal's image otherwise)", () => {
    const image = (n: { metadata: unknown }) => (n.metadata as Record<string, { image?: string }>)[NODE_METADATA_KEY].image;
    expect([stack.imageId, ...stack.nodes.map(image)]).toEqual(Array(4).fill(REHEARSAL_IMAGE_ID));
    const changed = synthesizeRehearsalStack({ clusterName: 'bt', nodeAddresses: ADDRESSES, vpcCidr: '10.213.77.0/24', timing: FAST_TIMING, imageId: 'ami-0fedcba9876543210', ...CERTIFICATES });
    expect([changed.imageId, ...changed.nodes.map(image)]).toEqual(Array(4).fill('ami-0fedcba9876543210'));
    expect(changed.nodes.map((n) => n.userData)).toEqual(stack.nodes.map((n) => n.userData));
    expect(changed.waitHandle).not.toBe(stack.waitHandle);
  });

  test('volume IDs have EC2\'s shape and differ per node', () => {
    expect(rehearsalVolumeId(0)).toMatch(/^vol-[0-9a-f]{17}$/);
    expect(rehearsalVolumeId(10)).toMatch(/^vol-[0-9a-f]{17}$/);
    expect(rehearsalVolumeId(1)).not.toBe(rehearsalVolumeId(0));
  });
});

describe('resolveIntrinsic', () => {
  const r = { refs: new Map([['Vol', 'vol-1']]), atts: new Map([['Eni.PrimaryPrivateIpAddress', '10.0.0.1']]), pseudo: { 'AWS::Region': 'eu-west-1' } };

  test('resolves Fn::Base64, Fn::Join, Ref and Fn::GetAtt', () => {
    const value = { 'Fn::Base64': { 'Fn::Join': ['', ['a ', { Ref: 'Vol' }, ' ', { 'Fn::GetAtt': ['Eni', 'PrimaryPrivateIpAddress'] }, ' ', { Ref: 'AWS::Region' }]] } };
    expect(resolveIntrinsic(value, 'x', r)).toBe('a vol-1 10.0.0.1 eu-west-1');
  });

  test.each([
    ['an unknown Ref', { Ref: 'Other' }],
    ['an unknown attribute', { 'Fn::GetAtt': ['Eni', 'SecondaryPrivateIpAddresses'] }],
    ['another function', { 'Fn::Sub': 'x' }],
    ['a malformed join', { 'Fn::Join': ['', 'not a list'] }],
    ['a number', 7],
  ])('refuses %s, naming where it was and what it can resolve', (_, value) => {
    expect(() => resolveIntrinsic(value, 'Node0Instance.UserData', r)).toThrow(
      /^Node0Instance\.UserData: the rehearsal cannot resolve .* \(only the node addresses, secret ARNs, volume IDs, wait condition handle, VPC CIDR, load balancer name, certificates' version, process role, stack and region\)$/,
    );
  });
});
