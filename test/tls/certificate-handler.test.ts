import { X509Certificate } from 'node:crypto';
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { CertificateEvent, CertificateResourceProperties, handleCertificateEvent } from '../../lib/tls/certificate-handler';
import { issueClusterCertificates } from '../../lib/tls/cluster-certificates';
import { NodeTlsSecret, OperatorTlsSecret, UNISSUED } from '../../lib/tls/secret-format';

const ARN = {
  ca: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-ca-AbCdEf',
  node: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-node-AbCdEf',
  operator: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-operator-AbCdEf',
};
const PROPS: CertificateResourceProperties = {
  ClusterName: 'orders',
  Nodes: [
    { Name: 'pg-0', Address: '10.0.1.10' },
    { Name: 'pg-1', Address: '10.0.2.10' },
  ],
  EndpointNames: ['orders-nlb.elb.eu-west-1.amazonaws.com'],
  Days: '365',
  Rotation: '0',
  CaSecretArn: ARN.ca,
  NodeSecretArn: ARN.node,
  OperatorSecretArn: ARN.operator,
};
const event = (RequestType: CertificateEvent['RequestType'], props: Partial<CertificateResourceProperties> = {}): CertificateEvent => ({
  RequestType,
  ...(RequestType === 'Create' ? {} : { PhysicalResourceId: 'orders-certificates' }),
  ResourceProperties: { ...PROPS, ...props },
});

/** A Secrets Manager holding `initial` per ARN, which keeps what is put. */
function secrets(initial: Record<string, string>) {
  const store = new Map(Object.entries(initial));
  const mock = mockClient(SecretsManagerClient);
  let version = 0;
  mock.on(GetSecretValueCommand).callsFake((input: { SecretId: string }) => ({ SecretString: store.get(input.SecretId) }));
  mock.on(PutSecretValueCommand).callsFake((input: { SecretId: string; SecretString: string }) => {
    store.set(input.SecretId, input.SecretString);
    return { VersionId: `v${++version}` };
  });
  return { client: new SecretsManagerClient({ region: 'eu-west-1' }), store, mock };
}

const read = <T>(store: Map<string, string>, arn: string): T => JSON.parse(store.get(arn)!) as T;
const cert = (text: string) => new X509Certificate(text);

describe('the certificate handler', () => {
  test('Create: new CAs into the CA secret; each node its own certificate for its address; the database one for every address and the endpoint', async () => {
    const { client, store } = secrets({ [ARN.ca]: UNISSUED, [ARN.node]: UNISSUED, [ARN.operator]: UNISSUED });
    const response = await handleCertificateEvent(event('Create'), client);
    expect(response).toEqual({ PhysicalResourceId: 'orders-certificates', Data: { NodeSecretVersion: 'v2' } });
    const nodes = read<NodeTlsSecret>(store, ARN.node);
    const ca = cert(nodes.caCert);
    expect(Object.keys(nodes.nodes)).toEqual(['pg-0', 'pg-1']);
    for (const [name, address] of [['pg-0', '10.0.1.10'], ['pg-1', '10.0.2.10']]) {
      const own = cert(nodes.nodes[name]!.cert);
      expect(own.verify(ca.publicKey)).toBe(true);
      expect(own.checkIP(address)).toBe(address);
      // The address as a DNS name too, for pgBackRest 2.45, which checks the host it dials against DNS names only.
      expect(own.subjectAltName).toBe(`DNS:${address}, IP Address:${address}`);
      expect(nodes.nodes[name]!.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    }
    const database = cert(nodes.databaseCert);
    expect(database.verify(cert(nodes.databaseCaCert).publicKey)).toBe(true);
    expect(database.verify(ca.publicKey)).toBe(false);
    expect(database.checkHost('orders-nlb.elb.eu-west-1.amazonaws.com')).toBe('orders-nlb.elb.eu-west-1.amazonaws.com');
    expect(database.checkIP('10.0.2.10')).toBe('10.0.2.10');
    const operator = read<OperatorTlsSecret>(store, ARN.operator);
    expect(cert(operator.cert).verify(ca.publicKey)).toBe(true);
    // The CA keys stay in the CA secret: neither the nodes' nor the operators' secret holds one.
    const caKeys = read<{ ca: { privateKeyPem: string }; databaseCa: { privateKeyPem: string } }>(store, ARN.ca);
    // (A key's second base64 line is key material only: its first holds the PKCS #8 header every P-256 key shares.)
    for (const arn of [ARN.node, ARN.operator]) {
      for (const key of [caKeys.ca.privateKeyPem, caKeys.databaseCa.privateKeyPem]) expect(store.get(arn)).not.toContain(key.split('\n')[2]);
    }
  });

  test('Update (a rotation, or a node with a new address): the CAs renewed with their keys, new certificates from them, old and new trusted alike', async () => {
    const { client, store, mock } = secrets({ [ARN.ca]: UNISSUED, [ARN.node]: UNISSUED, [ARN.operator]: UNISSUED });
    await handleCertificateEvent(event('Create'), client);
    const before = read<NodeTlsSecret>(store, ARN.node);
    const caSecretBefore = read<{ ca: { privateKeyPem: string }; databaseCa: { privateKeyPem: string } }>(store, ARN.ca);
    mock.resetHistory();
    const response = await handleCertificateEvent(event('Update', { Rotation: '1', Nodes: [...PROPS.Nodes, { Name: 'pg-2', Address: '10.0.3.10' }] }), client);
    expect(response.PhysicalResourceId).toBe('orders-certificates');
    const after = read<NodeTlsSecret>(store, ARN.node);
    for (const [old, renewed] of [[before.caCert, after.caCert], [before.databaseCaCert, after.databaseCaCert]] as const) {
      expect(cert(renewed).serialNumber).not.toBe(cert(old).serialNumber);
      expect(cert(renewed).subject).toBe(cert(old).subject);
      expect(cert(renewed).publicKey.export({ type: 'spki', format: 'der' })).toEqual(cert(old).publicKey.export({ type: 'spki', format: 'der' }));
    }
    // Old certificates under the renewed CA, new ones under the CA certificate clients had before.
    expect(cert(before.nodes['pg-0']!.cert).checkIssued(cert(after.caCert))).toBe(true);
    expect(cert(before.nodes['pg-0']!.cert).verify(cert(after.caCert).publicKey)).toBe(true);
    expect(cert(after.nodes['pg-0']!.cert).checkIssued(cert(before.caCert))).toBe(true);
    expect(cert(after.nodes['pg-0']!.cert).verify(cert(before.caCert).publicKey)).toBe(true);
    expect(cert(after.databaseCert).verify(cert(before.databaseCaCert).publicKey)).toBe(true);
    expect(cert(after.nodes['pg-0']!.cert).serialNumber).not.toBe(cert(before.nodes['pg-0']!.cert).serialNumber);
    expect(cert(after.nodes['pg-2']!.cert).checkIP('10.0.3.10')).toBe('10.0.3.10');
    const caSecretAfter = read<{ ca: { privateKeyPem: string; certificatePem: string }; databaseCa: { privateKeyPem: string } }>(store, ARN.ca);
    expect(caSecretAfter.ca.privateKeyPem).toBe(caSecretBefore.ca.privateKeyPem);
    expect(caSecretAfter.databaseCa.privateKeyPem).toBe(caSecretBefore.databaseCa.privateKeyPem);
    expect(caSecretAfter.ca.certificatePem).toBe(after.caCert);
    expect(mock.commandCalls(PutSecretValueCommand).map((c) => c.args[0].input.SecretId)).toEqual([ARN.ca, ARN.node, ARN.operator]);
  });

  test('an update renews CAs that would end before the new certificates, or have ended: twice Days from now', async () => {
    const { client, store } = secrets({ [ARN.ca]: UNISSUED, [ARN.node]: UNISSUED, [ARN.operator]: UNISSUED });
    await handleCertificateEvent(event('Create', { Days: '100' }), client);
    await handleCertificateEvent(event('Update', { Days: '365' }), client);
    const days = (pem: string) => (new Date(cert(pem).validTo).getTime() - Date.now()) / 86_400_000;
    const after = read<NodeTlsSecret>(store, ARN.node);
    expect(days(after.caCert)).toBeGreaterThan(729);
    expect(days(after.caCert)).toBeLessThan(731);
    expect(days(after.databaseCaCert)).toBeGreaterThan(729);
    expect(days(after.nodes['pg-1']!.cert)).toBeGreaterThan(364);
    // CAs (and certificates) that ended a year ago: the issuer renews them, keys unchanged (getting them onto nodes that no longer trust each other is another matter: docs/security.md).
    const expired = issueClusterCertificates({ clusterName: 'orders', nodes: [{ name: 'pg-0', address: '10.0.1.10' }], days: 300, now: new Date(Date.now() - 965 * 86_400_000) });
    const late = secrets({ [ARN.ca]: JSON.stringify({ ca: expired.ca, databaseCa: expired.databaseCa }), [ARN.node]: UNISSUED, [ARN.operator]: UNISSUED });
    expect(days(expired.ca.certificatePem)).toBeLessThan(0);
    await handleCertificateEvent(event('Update', { Rotation: '2' }), late.client);
    const rescued = read<NodeTlsSecret>(late.store, ARN.node);
    expect(days(rescued.caCert)).toBeGreaterThan(729);
    expect(cert(rescued.nodes['pg-0']!.cert).verify(cert(expired.ca.certificatePem).publicKey)).toBe(true);
  });

  test('Delete writes nothing: the secrets follow their removal policy', async () => {
    const { client, mock } = secrets({});
    expect(await handleCertificateEvent(event('Delete'), client)).toEqual({ PhysicalResourceId: 'orders-certificates' });
    expect(mock.calls()).toHaveLength(0);
  });

  test('a CA secret that is neither issued nor the unissued mark is refused: never new CAs over ones that exist', async () => {
    const { client, mock } = secrets({ [ARN.ca]: '{"ca":{"certificatePem":"x"}}' });
    await expect(handleCertificateEvent(event('Update'), client)).rejects.toThrow(
      `the CA secret ${ARN.ca} holds neither the CAs nor the unissued mark: restore it, or put {"issued":false} in it to issue new CAs`,
    );
    expect(mock.commandCalls(PutSecretValueCommand)).toHaveLength(0);
  });

  test('bad properties are refused with the property and the value, before any call', async () => {
    const { client, mock } = secrets({});
    await expect(handleCertificateEvent(event('Create', { Days: '0' }), client)).rejects.toThrow("Days must be a whole number from 1 to 3650, got '0'");
    await expect(handleCertificateEvent(event('Create', { Days: 'ten' }), client)).rejects.toThrow("Days must be a whole number from 1 to 3650, got 'ten'");
    await expect(handleCertificateEvent(event('Create', { Nodes: [] }), client)).rejects.toThrow('Nodes must name at least one node');
    expect(mock.calls()).toHaveLength(0);
    // An address lib/tls cannot put in a certificate fails the deploy with its reason.
    const ok = secrets({ [ARN.ca]: UNISSUED });
    await expect(handleCertificateEvent(event('Create', { Nodes: [{ Name: 'pg-0', Address: 'fe80::1%eth0' }] }), ok.client)).rejects.toThrow(/fe80::1%eth0/);
  });
});
