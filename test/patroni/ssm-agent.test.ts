import * as fs from 'fs';
import * as path from 'path';
import { Lazy } from 'aws-cdk-lib';
import { AWS_SSM_AGENT_KEY_FINGERPRINTS } from '../../lib';
import { SSM_AGENT_INSTALLER_PATH } from '../../lib/patroni/config/ssm-agent';
import { ssmAgentSpec } from '../../lib/patroni/ssm-agent';
import { dearmorPublicKey, normalizeFingerprint, primaryKeyFingerprint } from '../../lib/util/openpgp';
import { setupCluster } from './cluster-fixture';
import { unpackNode } from './user-data-helpers';

// A throwaway RSA key made with gpg for these tests (its fingerprint as gpg prints it).
const OTHER_KEY = fs.readFileSync(path.join(__dirname, 'fixtures', 'other-signing-key.asc'), 'utf8');
const OTHER_FINGERPRINT = 'B23E C724 67BF EE4A AA2D  9891 AAE7 19B3 1271 96B1';
const AWS_2023 = 'DE92C7DA3E56E92331D62A36BC1F495C97DD04ED';
const AWS = '2BC7C7C267BBD505EAA491E6DD81A61756BAA549';

describe('OpenPGP public keys', () => {
  test("the fingerprints of AWS's two published keys and of another key, as gpg prints them; the keyring holds exactly those keys", () => {
    expect(primaryKeyFingerprint(dearmorPublicKey(OTHER_KEY))).toBe(normalizeFingerprint(OTHER_FINGERPRINT));
    const spec = ssmAgentSpec()!;
    expect(spec.fingerprints).toEqual([AWS_2023, AWS]);
    expect(AWS_SSM_AGENT_KEY_FINGERPRINTS.map(normalizeFingerprint)).toEqual([AWS_2023, AWS]);
    expect(spec.required).toBe(false);
    const one = ssmAgentSpec({ signingKey: OTHER_KEY, signingKeyFingerprint: OTHER_FINGERPRINT, required: true })!;
    expect(one).toEqual({ keyring: dearmorPublicKey(OTHER_KEY).toString('base64'), fingerprints: [normalizeFingerprint(OTHER_FINGERPRINT)], required: true });
  });

  test('a changed character fails the armor checksum; a block without a checksum is read as it is', () => {
    const lines = OTHER_KEY.split('\n');
    const i = lines.findIndex((l) => l.startsWith('mQEN'));
    const changed = [...lines];
    changed[i + 1] = `${changed[i + 1]![0] === 'A' ? 'B' : 'A'}${changed[i + 1]!.slice(1)}`;
    expect(() => dearmorPublicKey(changed.join('\n'))).toThrow('fails its armor checksum (a changed or truncated copy)');
    const withoutChecksum = lines.filter((l) => !/^=[A-Za-z0-9+/]{4}$/.test(l)).join('\n');
    expect(dearmorPublicKey(withoutChecksum)).toEqual(dearmorPublicKey(OTHER_KEY));
  });

  test.each([
    ['a PEM certificate', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----', 'is not an ASCII-armored OpenPGP public key'],
    ['no base64 inside', '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot base64!\n-----END PGP PUBLIC KEY BLOCK-----', 'has a key block that is not base64'],
    ['an empty block', '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n-----END PGP PUBLIC KEY BLOCK-----', 'has a key block that is not base64'],
  ])('refuses %s', (_what, text, message) => {
    expect(() => dearmorPublicKey(text)).toThrow(message);
  });

  test.each([
    ['no packet at all', Buffer.from([0x00, 0x01]), 'does not start with an OpenPGP packet'],
    ['a signature packet (tag 2)', Buffer.from([0x88, 0x01, 0x04]), 'starts with an OpenPGP packet of tag 2, not a public key (tag 6)'],
    ['a truncated key packet', Buffer.from([0x99, 0x01, 0x0d, 0x04, 0x00]), 'is truncated inside its public key packet'],
    ['a version 3 key', Buffer.from([0x98, 0x02, 0x03, 0x00]), 'holds a version 3 public key; only version 4 keys are supported'],
  ])('refuses %s', (_what, key, message) => {
    expect(() => primaryKeyFingerprint(key)).toThrow(message);
  });

  test.each([
    ['2BC7 C7C2 67BB D505 EAA4  91E6 DD81 A617 56BA A549', AWS],
    ['0x2bc7c7c267bbd505eaa491e6dd81a61756baa549', AWS],
    ['56BAA549', undefined],
    ['2BC7 C7C2 67BB D505 EAA4 91E6 DD81 A617 56BA A54G', undefined],
  ])('normalizeFingerprint(%j)', (text, expected) => {
    expect(normalizeFingerprint(text)).toBe(expected);
  });
});

describe('PatroniCluster ssmAgent', () => {
  test("by default every node's bundle has the installer, pinned to AWS's key, and the agent knows where it is", () => {
    const { template, cluster } = setupCluster();
    const node = unpackNode(template, 1, cluster);
    const installer = node.bundle.files.find((f) => f.path === SSM_AGENT_INSTALLER_PATH)!;
    expect(installer).toMatchObject({ mode: '0755', owner: 'root', onChange: [] });
    expect(installer.content).toContain(`readonly fingerprints='${AWS_2023}|${AWS}'`);
    expect(installer.content).toContain("readonly region='__AWS_REGION__'");
    expect(node.bundle.ssmAgent).toEqual({ installer: SSM_AGENT_INSTALLER_PATH, program: '/usr/bin/amazon-ssm-agent', unit: 'amazon-ssm-agent.service', required: false });
  });

  test('install: false leaves the installer out; another key with its fingerprint is pinned instead', () => {
    const off = unpackNode(setupCluster({ ssmAgent: { install: false } }).template, 0);
    expect(off.bundle.files.map((f) => f.path)).not.toContain(SSM_AGENT_INSTALLER_PATH);
    expect(off.bundle.ssmAgent).toBeUndefined();
    const other = unpackNode(setupCluster({ ssmAgent: { signingKey: OTHER_KEY, signingKeyFingerprint: OTHER_FINGERPRINT } }).template, 0);
    expect(other.bundle.files.find((f) => f.path === SSM_AGENT_INSTALLER_PATH)!.content).toContain(`readonly fingerprints='${normalizeFingerprint(OTHER_FINGERPRINT)}'`);
  });

  test.each([
    [{ signingKey: OTHER_KEY }, 'ssmAgent: signingKey and signingKeyFingerprint go together (the fingerprint AWS publishes next to the key pins it)'],
    [{ signingKeyFingerprint: OTHER_FINGERPRINT }, 'ssmAgent: signingKey and signingKeyFingerprint go together'],
    [{ signingKey: OTHER_KEY, signingKeyFingerprint: AWS_SSM_AGENT_KEY_FINGERPRINTS[1]! }, `ssmAgent.signingKey is the key with fingerprint ${normalizeFingerprint(OTHER_FINGERPRINT)}, not ${AWS} (signingKeyFingerprint): copy both from AWS's page`],
    [{ signingKey: OTHER_KEY, signingKeyFingerprint: '56BAA549' }, "ssmAgent.signingKeyFingerprint must be 40 hex digits (spaces allowed), got '56BAA549'"],
    [{ signingKey: 'ssh-rsa AAAA', signingKeyFingerprint: AWS }, 'ssmAgent.signingKey is not an ASCII-armored OpenPGP public key'],
    [{ install: false, signingKey: OTHER_KEY, signingKeyFingerprint: OTHER_FINGERPRINT }, 'ssmAgent: signingKey, signingKeyFingerprint and required have no effect with install: false; remove them'],
    [{ install: false, required: true }, 'ssmAgent: signingKey, signingKeyFingerprint and required have no effect with install: false'],
    [{ signingKey: Lazy.string({ produce: () => OTHER_KEY }), signingKeyFingerprint: OTHER_FINGERPRINT }, 'ssmAgent: signingKey and signingKeyFingerprint must be literal strings, not tokens'],
  ])('refuses %j at synth, naming the prop', (ssmAgent, message) => {
    expect(() => setupCluster({ ssmAgent })).toThrow(message);
  });

  test('day two: turning the agent off, changing its key or requiring it changes the nodes\' bundle (metadata), never an instance', () => {
    const instances = (t: ReturnType<typeof setupCluster>['template']) =>
      Object.values(t.findResources('AWS::EC2::Instance')).map((r) => r.Properties);
    const before = setupCluster().template;
    for (const ssmAgent of [{ install: false }, { signingKey: OTHER_KEY, signingKeyFingerprint: OTHER_FINGERPRINT }, { required: true }]) {
      const after = setupCluster({ ssmAgent }).template;
      expect(instances(after)).toEqual(instances(before));
      expect(unpackNode(after, 0).document.generation).not.toBe(unpackNode(before, 0).document.generation);
    }
  });
});
