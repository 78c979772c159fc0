import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { startAwsStandIn } from '../../lib/local/boot/aws-standin';
import { makeRehearsalCertificates } from '../../lib/local/boot/rehearsal-ca';
import { LocalClusterError } from '../../lib/local/errors';
import { run } from '../../lib/util/command';

const SM_HOST = 'secretsmanager.eu-west-1.amazonaws.com';
const CW_HOST = 'monitoring.eu-west-1.amazonaws.com';
const HOSTS = [SM_HOST, CW_HOST];

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'rehearsal-ca-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

let n = 0;
const freshDir = () => path.join(root, `ca-${++n}`, 'nested');
const bytes = (...files: string[]) => files.map((f) => fs.readFileSync(f, 'utf8'));
const mode = (file: string) => fs.statSync(file).mode & 0o777;

async function openssl(...args: string[]): Promise<string> {
  return (await run('openssl', args)).stdout;
}

describe('makeRehearsalCertificates', () => {
  test('a CA and a server certificate it signed for every hostname; keys 0600; absolute paths', async () => {
    const dir = freshDir();
    const certs = await makeRehearsalCertificates(path.relative(process.cwd(), dir), HOSTS);
    expect(certs).toEqual({ caCert: path.join(dir, 'ca.crt'), serverCert: path.join(dir, 'server.crt'), serverKey: path.join(dir, 'server.key') });
    expect(await openssl('verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', certs.caCert, certs.serverCert)).toBe(`${certs.serverCert}: OK\n`);
    const sans = await openssl('x509', '-noout', '-ext', 'subjectAltName', '-in', certs.serverCert);
    expect(sans).toContain(`DNS:${SM_HOST}`);
    expect(sans).toContain(`DNS:${CW_HOST}`);
    expect(await openssl('x509', '-noout', '-ext', 'basicConstraints', '-in', certs.caCert)).toMatch(/critical\s+CA:TRUE/);
    expect(await openssl('x509', '-noout', '-ext', 'basicConstraints', '-in', certs.serverCert)).toMatch(/CA:FALSE/);
    expect([mode(certs.serverKey), mode(path.join(dir, 'ca.key'))]).toEqual([0o600, 0o600]);
    // The key is the one the certificate was made for.
    const fromKey = await openssl('pkey', '-in', certs.serverKey, '-pubout');
    const fromCert = await openssl('x509', '-in', certs.serverCert, '-noout', '-pubkey');
    expect(fromCert).toBe(fromKey);
  });

  test('a second call reuses every file (same bytes), whatever the order or repetition of the hostnames', async () => {
    const dir = freshDir();
    const first = await makeRehearsalCertificates(dir, HOSTS);
    const before = bytes(first.caCert, first.serverCert, first.serverKey);
    const second = await makeRehearsalCertificates(dir, [CW_HOST, SM_HOST, CW_HOST]);
    expect(second).toEqual(first);
    expect(bytes(second.caCert, second.serverCert, second.serverKey)).toEqual(before);
  });

  test('other hostnames: a new server certificate and key from the same CA', async () => {
    const dir = freshDir();
    const first = await makeRehearsalCertificates(dir, HOSTS);
    const [ca, cert, key] = bytes(first.caCert, first.serverCert, first.serverKey);
    const other = await makeRehearsalCertificates(dir, [...HOSTS, 'sts.eu-west-1.amazonaws.com']);
    expect(bytes(other.caCert)).toEqual([ca]);
    expect(bytes(other.serverCert)[0]).not.toBe(cert);
    expect(bytes(other.serverKey)[0]).not.toBe(key);
    expect(await openssl('x509', '-noout', '-ext', 'subjectAltName', '-in', other.serverCert)).toContain('DNS:sts.eu-west-1.amazonaws.com');
    expect((await run('openssl', ['verify', '-CAfile', other.caCert, other.serverCert])).code).toBe(0);
  });

  test('a half-made set is made again, never reused', async () => {
    const dir = freshDir();
    const first = await makeRehearsalCertificates(dir, HOSTS);
    fs.rmSync(first.serverCert);
    const again = await makeRehearsalCertificates(dir, HOSTS);
    expect((await run('openssl', ['verify', '-CAfile', again.caCert, again.serverCert])).code).toBe(0);
    const [oldCa] = bytes(again.caCert);
    fs.rmSync(again.caCert);
    const newCa = await makeRehearsalCertificates(dir, HOSTS);
    expect(bytes(newCa.caCert)[0]).not.toBe(oldCa);
    expect((await run('openssl', ['verify', '-CAfile', newCa.caCert, newCa.serverCert])).code).toBe(0);
  });

  test('a certificate about to expire is made again', async () => {
    const dir = freshDir();
    const short = await makeRehearsalCertificates(dir, HOSTS, { days: 1 });
    const [ca, cert] = bytes(short.caCert, short.serverCert);
    const renewed = await makeRehearsalCertificates(dir, HOSTS);
    expect(bytes(renewed.caCert)[0]).not.toBe(ca);
    expect(bytes(renewed.serverCert)[0]).not.toBe(cert);
    expect((await run('openssl', ['x509', '-noout', '-checkend', String(30 * 86_400), '-in', renewed.serverCert], { allowFailure: true })).code).toBe(0);
  });

  test.each([
    [[], /at least one hostname/],
    [['secretsmanager.eu-west-1.amazonaws.com\nDNS.2 = evil.example'], /is not a DNS name/],
    [['under_score.example'], /is not a DNS name/],
    [['-leading.example'], /is not a DNS name/],
  ])('hostnames %j are refused with one line', async (hostnames, message) => {
    const dir = freshDir();
    const err = await makeRehearsalCertificates(dir, hostnames).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LocalClusterError);
    expect((err as Error).message).toMatch(message);
    expect(fs.existsSync(dir)).toBe(false);
  });

  test('without openssl on PATH: one clear line', async () => {
    const saved = process.env.PATH;
    process.env.PATH = fs.mkdtempSync(path.join(root, 'empty-path-'));
    try {
      const err = await makeRehearsalCertificates(freshDir(), HOSTS).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LocalClusterError);
      expect((err as Error).message).toBe('openssl is not installed (the rehearsal CA is made with it): apt-get install openssl');
    } finally {
      process.env.PATH = saved;
    }
  });
});

describe("the stand-in's API over HTTPS", () => {
  const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:RestApi-Rh3a5l';

  function request(port: number, o: { servername: string; ca?: string; headers?: http.OutgoingHttpHeaders; body?: string }): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/', servername: o.servername, ca: o.ca, headers: { Host: o.servername, ...o.headers }, agent: false },
        (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end(o.body);
    });
  }

  function imds(port: number, method: string, p: string, headers: http.OutgoingHttpHeaders): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path: p, headers, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`IMDS ${p}: ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end();
    });
  }

  test('trusting only the rehearsal CA works; without it, or for a name not in the certificate, TLS fails', async () => {
    const dir = freshDir();
    const certs = await makeRehearsalCertificates(dir, HOSTS);
    const standIn = await startAwsStandIn({
      region: 'eu-west-1',
      accountId: '111122223333',
      roleName: 'NodeRole',
      imds: { host: '127.0.0.1', port: 0 },
      api: { host: '127.0.0.1', port: 0, certFile: certs.serverCert, keyFile: certs.serverKey },
      instances: [{ address: '127.0.0.1', instanceId: 'i-0123456789abcdef0', availabilityZone: 'eu-west-1a' }],
      secrets: { [SECRET_ARN]: 'pw' },
      metricsFile: path.join(dir, 'metrics.jsonl'),
    });
    try {
      const token = await imds(standIn.imdsPort, 'PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '60' });
      const creds = JSON.parse(await imds(standIn.imdsPort, 'GET', '/latest/meta-data/iam/security-credentials/NodeRole', { 'X-aws-ec2-metadata-token': token })) as {
        AccessKeyId: string;
        Token: string;
      };
      const call = {
        headers: {
          'X-Amz-Target': 'secretsmanager.GetSecretValue',
          'Content-Type': 'application/x-amz-json-1.1',
          Authorization: `AWS4-HMAC-SHA256 Credential=${creds.AccessKeyId}/20260101/eu-west-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=00`,
          'X-Amz-Security-Token': creds.Token,
        },
        body: JSON.stringify({ SecretId: SECRET_ARN }),
      };
      const ca = fs.readFileSync(certs.caCert, 'utf8');
      const ok = await request(standIn.apiPort, { servername: SM_HOST, ca, ...call });
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.body)).toMatchObject({ ARN: SECRET_ARN, SecretString: 'pw' });

      const untrusted = await request(standIn.apiPort, { servername: SM_HOST, ...call }).catch((e: unknown) => e);
      expect((untrusted as NodeJS.ErrnoException).code).toMatch(/^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN)$/);
      const otherName = await request(standIn.apiPort, { servername: 'sts.eu-west-1.amazonaws.com', ca, ...call }).catch((e: unknown) => e);
      expect((otherName as NodeJS.ErrnoException).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      await standIn.close();
    }
  });
});
