import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { issueClusterCertificates } from '../../lib/tls/cluster-certificates';
import { issueCertificate, issueCertificateAuthority, renewCertificateAuthority } from '../../lib/tls/x509';

const NOW = new Date('2026-12-01T09:00:00Z');

describe('issueCertificateAuthority', () => {
  const ca = issueCertificateAuthority({ commonName: 'orders-db cluster CA', days: 730, now: NOW });
  const cert = new X509Certificate(ca.certificatePem);

  test('is a self-signed CA for the named subject, valid from 5 minutes before now for the days asked', () => {
    expect(cert.subject).toBe('CN=orders-db cluster CA');
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.ca).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(new Date(cert.validFrom).toISOString()).toBe('2026-12-01T08:55:00.000Z');
    expect(new Date(cert.validTo).toISOString()).toBe('2028-11-30T09:00:00.000Z');
  });

  test('holds an EC P-256 key that matches its certificate', () => {
    const key = createPrivateKey(ca.privateKeyPem);
    expect(key.asymmetricKeyType).toBe('ec');
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(cert.checkPrivateKey(key)).toBe(true);
  });

  test('writes dates from 2050 on as GeneralizedTime, which parsers read back', () => {
    const late = new X509Certificate(issueCertificateAuthority({ commonName: 'late', days: 30, now: new Date('2049-12-20T00:00:00Z') }).certificatePem);
    expect(new Date(late.validTo).toISOString()).toBe('2050-01-19T00:00:00.000Z');
  });

  test('gives every certificate a new serial', () => {
    const again = new X509Certificate(issueCertificateAuthority({ commonName: 'orders-db cluster CA', days: 730, now: NOW }).certificatePem);
    expect(again.serialNumber).not.toBe(cert.serialNumber);
  });

  test.each([
    [{ commonName: '', days: 1 }, 'commonName must be 1-64 printable characters, got ""'],
    [{ commonName: 'x'.repeat(65), days: 1 }, 'commonName must be 1-64 printable characters'],
    [{ commonName: 'a\nb', days: 1 }, 'commonName must be 1-64 printable characters, got "a\\nb"'],
    [{ commonName: 'ca', days: 0 }, 'days must be a whole number from 1 to 36500, got 0'],
    [{ commonName: 'ca', days: 1.5 }, 'days must be a whole number from 1 to 36500, got 1.5'],
  ])('refuses %j', (options, message) => {
    expect(() => issueCertificateAuthority(options)).toThrow(message);
  });
});

describe('renewCertificateAuthority', () => {
  const ca = issueCertificateAuthority({ commonName: 'orders-db cluster CA', days: 730, now: NOW });
  const old = new X509Certificate(ca.certificatePem);
  const leaf = issueCertificate(ca, { commonName: 'orders-db pg-0', ipAddresses: ['10.0.1.10'], usage: 'peer', days: 365, now: NOW });
  const later = new Date('2027-11-01T00:00:00Z');
  const renewed = renewCertificateAuthority(ca, { days: 730, now: later });
  const cert = new X509Certificate(renewed.certificatePem);

  test('signs the same subject and key again, with a new serial, valid the days asked from now', () => {
    expect(renewed.privateKeyPem).toBe(ca.privateKeyPem);
    expect(cert.raw.equals(old.raw)).toBe(false);
    expect(cert.subject).toBe(old.subject);
    expect(cert.issuer).toBe(old.subject);
    expect(cert.ca).toBe(true);
    expect(cert.serialNumber).not.toBe(old.serialNumber);
    expect(cert.verify(old.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(ca.privateKeyPem))).toBe(true);
    expect(new Date(cert.validTo).toISOString()).toBe('2029-10-31T00:00:00.000Z');
  });

  test('what the CA signed before verifies under the renewed certificate, and what it signs after under the old one', () => {
    const leafCert = new X509Certificate(leaf.certificatePem);
    expect(leafCert.checkIssued(cert)).toBe(true);
    expect(leafCert.verify(cert.publicKey)).toBe(true);
    const after = new X509Certificate(issueCertificate(renewed, { commonName: 'orders-db pg-0', ipAddresses: ['10.0.1.10'], usage: 'peer', days: 365, now: later }).certificatePem);
    expect(after.checkIssued(old)).toBe(true);
    expect(after.verify(old.publicKey)).toBe(true);
  });

  test('refuses a certificate that is no CA, and a key that is not the CA\'s', () => {
    expect(() => renewCertificateAuthority(leaf, { days: 1 })).toThrow('certificate "CN=orders-db pg-0" is not a CA: there is nothing to renew');
    const other = issueCertificateAuthority({ commonName: 'other', days: 1 });
    expect(() => renewCertificateAuthority({ certificatePem: ca.certificatePem, privateKeyPem: other.privateKeyPem }, { days: 1 })).toThrow(
      'the CA private key does not match the CA certificate',
    );
    expect(() => renewCertificateAuthority(ca, { days: 0 })).toThrow('days must be a whole number from 1 to 36500, got 0');
  });
});

describe('issueCertificate', () => {
  const ca = issueCertificateAuthority({ commonName: 'orders-db cluster CA', days: 730, now: NOW });
  const caCert = new X509Certificate(ca.certificatePem);
  const node = issueCertificate(ca, { commonName: 'orders-db pg-0', ipAddresses: ['10.0.1.10', 'fd00::a:1'], dnsNames: ['Pg-0.Internal'], usage: 'peer', days: 365, now: NOW });
  const cert = new X509Certificate(node.certificatePem);

  test('is signed by the CA, names it as issuer, and is no CA itself', () => {
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.issuer).toBe('CN=orders-db cluster CA');
    expect(cert.subject).toBe('CN=orders-db pg-0');
    expect(cert.ca).toBe(false);
  });

  test('is valid for its addresses and names, and for nothing else', () => {
    expect(cert.subjectAltName).toBe('DNS:pg-0.internal, IP Address:10.0.1.10, IP Address:FD00:0:0:0:0:0:A:1');
    expect(cert.checkIP('10.0.1.10')).toBe('10.0.1.10');
    expect(cert.checkIP('10.0.1.11')).toBeUndefined();
    expect(cert.checkHost('pg-0.internal')).toBe('pg-0.internal');
    expect(cert.checkHost('pg-1.internal')).toBeUndefined();
  });

  test('a peer certificate serves and is a client (etcd peers are both); a server certificate only serves; an operator certificate is a client only', () => {
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    const server = new X509Certificate(issueCertificate(ca, { commonName: 'db', ipAddresses: ['10.0.1.10'], usage: 'server', days: 30, now: NOW }).certificatePem);
    expect(server.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    const operator = new X509Certificate(issueCertificate(ca, { commonName: 'operator', usage: 'client', days: 30, now: NOW }).certificatePem);
    expect(operator.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(operator.subjectAltName).toBeUndefined();
  });

  test('has a key of its own, not the CA\'s', () => {
    expect(cert.checkPrivateKey(createPrivateKey(node.privateKeyPem))).toBe(true);
    expect(createPublicKey(node.privateKeyPem).export({ format: 'jwk' })).not.toEqual(createPublicKey(ca.privateKeyPem).export({ format: 'jwk' }));
  });

  test('is not valid under another CA', () => {
    const other = new X509Certificate(issueCertificateAuthority({ commonName: 'orders-db cluster CA', days: 730, now: NOW }).certificatePem);
    expect(cert.verify(other.publicKey)).toBe(false);
  });

  test('refuses bad input, naming it', () => {
    const base = { commonName: 'n', usage: 'server' as const, days: 30, now: NOW };
    for (const ip of ['10.0.1.300', 'fe80::1%eth0', '::ffff:10.0.0.1']) {
      expect(() => issueCertificate(ca, { ...base, ipAddresses: [ip] })).toThrow(`ipAddresses: ${JSON.stringify(ip)} is not an IPv4 address or a plain IPv6 address`);
    }
    expect(() => issueCertificate(ca, { ...base, ipAddresses: ['10.0.0.1'], usage: 'both' as never })).toThrow('usage must be one of peer, server, client, got "both"');
    expect(() => issueCertificate(ca, { ...base, dnsNames: ['bad name'] })).toThrow('dnsNames: "bad name" is not a DNS name');
    expect(() => issueCertificate(ca, base)).toThrow('certificate n: a server certificate needs at least one IP address or DNS name');
    expect(() => issueCertificate(ca, { ...base, usage: 'peer' })).toThrow('certificate n: a server certificate needs at least one IP address or DNS name');
    expect(() => issueCertificate(ca, { ...base, ipAddresses: ['10.0.0.1'], days: 800 })).toThrow(
      'certificate n: 800 days would outlive the CA (valid until 2028-11-30T09:00:00.000Z)',
    );
    expect(() => issueCertificate(node, { ...base, ipAddresses: ['10.0.0.1'] })).toThrow('certificate "CN=orders-db pg-0" is not a CA: it cannot sign');
    const otherKey = issueCertificateAuthority({ commonName: 'x', days: 10, now: NOW }).privateKeyPem;
    expect(() => issueCertificate({ certificatePem: ca.certificatePem, privateKeyPem: otherKey }, { ...base, ipAddresses: ['10.0.0.1'] })).toThrow(
      'the CA private key does not match the CA certificate',
    );
  });
});

describe('issueClusterCertificates', () => {
  test('a CA living twice as long as the node and operator certificates it signs, one per node for its address', () => {
    const set = issueClusterCertificates({ clusterName: 'orders-db', nodes: [{ name: 'pg-0', address: '10.0.1.10' }, { name: 'pg-1', address: '10.0.2.10' }], days: 90, now: NOW });
    const ca = new X509Certificate(set.ca.certificatePem);
    expect(new Date(ca.validTo).toISOString()).toBe('2027-05-30T09:00:00.000Z');
    expect(Object.keys(set.nodes)).toEqual(['pg-0', 'pg-1']);
    const pg1 = new X509Certificate(set.nodes['pg-1']!.certificatePem);
    expect(pg1.subject).toBe('CN=orders-db pg-1');
    // The address as a DNS name too: pgBackRest 2.45 checks the host it dials against DNS names only.
    expect(pg1.subjectAltName).toBe('DNS:10.0.2.10, IP Address:10.0.2.10');
    expect(pg1.verify(ca.publicKey)).toBe(true);
    expect(new X509Certificate(set.operator.certificatePem).verify(ca.publicKey)).toBe(true);
  });

  test("the database certificate carries every node's address and the endpoints' names (clients reach whichever node leads)", () => {
    const set = issueClusterCertificates({
      clusterName: 'orders-db',
      nodes: [{ name: 'pg-0', address: '10.0.1.10' }, { name: 'pg-1', address: '10.0.2.10' }],
      endpointNames: ['db.example.internal', '10.0.9.9'],
      days: 90,
      now: NOW,
    });
    const database = new X509Certificate(set.database.certificatePem);
    expect(database.subject).toBe('CN=orders-db database');
    expect(database.subjectAltName).toBe('DNS:db.example.internal, IP Address:10.0.1.10, IP Address:10.0.2.10, IP Address:10.0.9.9');
    expect(database.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    // Its own CA: the key every node holds passes for no node's etcd or Patroni, which trust the cluster CA alone.
    expect(database.verify(new X509Certificate(set.databaseCa.certificatePem).publicKey)).toBe(true);
    expect(database.verify(new X509Certificate(set.ca.certificatePem).publicKey)).toBe(false);
  });

  test('a rotation keeps both CAs\' keys, renews their certificates from now, and issues everything else anew', () => {
    const request = { clusterName: 'orders-db', nodes: [{ name: 'pg-0', address: '10.0.1.10' }], days: 90, now: NOW };
    const first = issueClusterCertificates(request);
    const later = new Date(NOW.getTime() + 80 * 86_400_000);
    const second = issueClusterCertificates({ ...request, now: later }, first);
    expect(second.ca.privateKeyPem).toBe(first.ca.privateKeyPem);
    expect(second.databaseCa.privateKeyPem).toBe(first.databaseCa.privateKeyPem);
    expect(new Date(new X509Certificate(second.ca.certificatePem).validTo).getTime()).toBe(later.getTime() + 180 * 86_400_000);
    expect(new Date(new X509Certificate(second.databaseCa.certificatePem).validTo).getTime()).toBe(later.getTime() + 180 * 86_400_000);
    expect(second.nodes['pg-0']!.certificatePem).not.toBe(first.nodes['pg-0']!.certificatePem);
    expect(new X509Certificate(second.database.certificatePem).verify(new X509Certificate(first.databaseCa.certificatePem).publicKey)).toBe(true);
  });

  test('a long cluster name is shortened in the subjects (RFC 5280: 64 characters); the names that identify are the SANs', () => {
    const long = 'a'.repeat(63);
    const set = issueClusterCertificates({ clusterName: long, nodes: [{ name: 'pg-10', address: '10.0.1.10' }], days: 90, now: NOW });
    const subject = new X509Certificate(set.nodes['pg-10']!.certificatePem).subject;
    expect(subject).toBe(`CN=${'a'.repeat(58)} pg-10`);
    expect(new X509Certificate(set.ca.certificatePem).subject).toHaveLength('CN='.length + 64);
  });
});
