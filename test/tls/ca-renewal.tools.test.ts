// OpenSSL, which etcd's peers' and Patroni's, HAProxy's and libpq's checks rest on (Go's for etcd
// is exercised by the cluster test), chains certificates across a CA renewal in both directions.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { issueCertificate, issueCertificateAuthority, renewCertificateAuthority } from '../../lib/tls/x509';

describe('a renewed CA under openssl verify', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ca-renewal-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, pem: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, pem);
    return file;
  };
  const verify = (caFile: string, certFile: string) => {
    try {
      return execFileSync('openssl', ['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', caFile, certFile], { encoding: 'utf8', stdio: 'pipe' }).trim();
    } catch (err) {
      return String((err as { stderr?: string }).stderr ?? err).trim();
    }
  };
  const ca = issueCertificateAuthority({ commonName: 'orders cluster CA', days: 730 });
  const renewed = renewCertificateAuthority(ca, { days: 730 });
  const leaf = (signer: typeof ca) => issueCertificate(signer, { commonName: 'orders pg-0', ipAddresses: ['10.0.1.10'], usage: 'peer', days: 365 }).certificatePem;

  test('a certificate signed before the renewal verifies against the renewed CA, and one signed after against the old CA', () => {
    const before = write('before.crt', leaf(ca));
    const after = write('after.crt', leaf(renewed));
    expect(verify(write('renewed-ca.crt', renewed.certificatePem), before)).toBe(`${before}: OK`);
    expect(verify(write('old-ca.crt', ca.certificatePem), after)).toBe(`${after}: OK`);
  });

  test('another CA of the same name does not verify them (the key decides, not the name)', () => {
    const impostor = issueCertificateAuthority({ commonName: 'orders cluster CA', days: 730 });
    const out = verify(write('impostor.crt', impostor.certificatePem), write('leaf.crt', leaf(renewed)));
    expect(out).toMatch(/certificate signature failure|unable to get local issuer certificate/);
    expect(out).not.toMatch(/: OK$/);
  });
});
