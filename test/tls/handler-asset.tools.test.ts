// The certificate handler's Lambda code is plain JavaScript that node runs without this
// repository's TypeScript: loaded here by a node of its own, as Lambda's runtime would load it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CERTIFICATE_HANDLER, certificateHandlerDirectory } from '../../lib/tls/handler-asset';
import { run } from '../../lib/util/command';

const PROBE = `
const { X509Certificate } = require('node:crypto');
const handler = require('./certificate-handler.js');
const { issueClusterCertificates } = require('./cluster-certificates.js');
const issued = issueClusterCertificates({ clusterName: 'orders', nodes: [{ name: 'pg-0', address: '10.0.1.10' }], days: 30 });
const node = new X509Certificate(issued.nodes['pg-0'].certificatePem);
console.log(JSON.stringify({
  handler: typeof handler.handler,
  verified: node.verify(new X509Certificate(issued.ca.certificatePem).publicKey),
  ip: node.checkIP('10.0.1.10'),
}));
`;

describe('the certificate handler asset', () => {
  const dir = certificateHandlerDirectory();

  test('holds the handler and exactly what it imports, as JavaScript, in a directory only this user can write', () => {
    expect(fs.readdirSync(dir).sort()).toEqual(['certificate-handler.js', 'cluster-certificates.js', 'der.js', 'issue-into-secrets.js', 'secret-format.js', 'x509.js']);
    expect(CERTIFICATE_HANDLER).toBe('certificate-handler.handler');
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(dir).uid).toBe(process.getuid!());
    expect(certificateHandlerDirectory()).toBe(dir); // once per process
    for (const file of fs.readdirSync(dir)) {
      const text = fs.readFileSync(path.join(dir, file), 'utf8');
      expect(text).not.toMatch(/^import |: string\b|\binterface\b/m); // no TypeScript left
      // Only node's own modules, each other, and the SDK client Lambda's runtime has.
      const required = [...text.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]!);
      for (const r of required) expect(r).toMatch(/^(node:crypto|node:net|\.\/(der|x509|cluster-certificates|secret-format|issue-into-secrets)|@aws-sdk\/client-secrets-manager)$/);
    }
  });

  test('node loads it without TypeScript and issues a certificate that verifies against its CA', async () => {
    const r = await run(process.execPath, ['-e', PROBE], {
      cwd: dir,
      // The SDK client is the runtime's in Lambda; here, this repository's.
      env: { ...process.env, NODE_PATH: path.join(__dirname, '../../node_modules'), NODE_OPTIONS: '' },
      timeoutMs: 60_000,
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ handler: 'function', verified: true, ip: '10.0.1.10' });
  }, 90_000);
});
