// OpenSSL, which etcd's peers' and Patroni's, HAProxy's and libpq's checks rest on (Go's for etcd
// is exercised by the cluster test), chains certificates across a CA renewal in both directions.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { issueCertificate, issueCertificateAuthority, renewCertificateAuthority } from '../../lib/tls/x509';
import { run } from '../../lib/util/command';

describe('a renewed CA under openssl verify', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ca-renewal-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, pem: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, pem);
    return file;
  };
  /** openssl's verdict: `<file>: OK`, or its error lines. */
  const verify = async (caFile: string, certFile: string) => {
    const r = await run('openssl', ['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', caFile, certFile], { allowFailure: true, timeoutMs: 10_000 });
    return (r.code === 0 ? r.stdout : r.stderr).trim();
  };
  const ca = issueCertificateAuthority({ commonName: 'orders cluster CA', days: 730 });
  const renewed = renewCertificateAuthority(ca, { days: 730 });
  const leaf = (signer: typeof ca) => issueCertificate(signer, { commonName: 'orders pg-0', ipAddresses: ['10.0.1.10'], usage: 'peer', days: 365 }).certificatePem;

  test('a certificate signed before the renewal verifies against the renewed CA, and one signed after against the old CA', async () => {
    const before = write('before.crt', leaf(ca));
    const after = write('after.crt', leaf(renewed));
    expect(await verify(write('renewed-ca.crt', renewed.certificatePem), before)).toBe(`${before}: OK`);
    expect(await verify(write('old-ca.crt', ca.certificatePem), after)).toBe(`${after}: OK`);
  });

  test('another CA of the same name does not verify them (the key decides, not the name)', async () => {
    const impostor = issueCertificateAuthority({ commonName: 'orders cluster CA', days: 730 });
    const out = await verify(write('impostor.crt', impostor.certificatePem), write('leaf.crt', leaf(renewed)));
    expect(out).toMatch(/certificate signature failure|unable to get local issuer certificate/);
    expect(out).not.toMatch(/: OK$/);
  });
});
