import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { run } from '../../lib/util/command';

// The packed library, installed into a separate CDK app as a user would: `npm pack`, then
// `npm install <tarball>` next to aws-cdk-lib and constructs (from npm's cache: no network needed
// after `npm ci`), then compile and run an app that uses the public API.
const root = path.resolve(__dirname, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

describe('the packed library', () => {
  let work: string;
  let tarball: string;

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-failover-pack-'));
    const { stdout } = await run('npm', ['pack', '--pack-destination', work, '--silent'], { cwd: root, timeoutMs: 240_000 });
    tarball = path.join(work, stdout.trim().split('\n').pop()!);
    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    const deps = ['aws-cdk-lib', 'constructs', 'typescript', '@types/node'].map((d) => `${d}@${pkg.devDependencies[d]}`);
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--silent', tarball, ...deps], { cwd: app, timeoutMs: 240_000 });
  }, 300_000);

  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  test('ships compiled JavaScript and declarations, and no sources or tests', async () => {
    const listing = (await run('tar', ['-tzf', tarball])).stdout.split('\n');
    expect(listing).toContain('package/dist/lib/index.js');
    expect(listing).toContain('package/dist/lib/index.d.ts');
    expect(listing).toContain('package/.jsii'); // the jsii assembly, as Construct Hub requires
    expect(listing.filter((f) => /\.ts$/.test(f) && !/\.d\.ts$/.test(f))).toEqual([]);
    expect(listing.filter((f) => f.includes('/test/'))).toEqual([]);
  });

  test("the certificate issuer's Lambda code is the package's compiled lib/tls, copied as it is, and it issues", async () => {
    const tls = path.join(work, 'app/node_modules/cdk-failover/dist/lib/tls');
    const probe = `
const fs = require('fs'), path = require('path');
const dir = require(${JSON.stringify(path.join(tls, 'handler-asset.js'))}).certificateHandlerDirectory();
const files = fs.readdirSync(dir).sort();
const same = files.every((f) => fs.readFileSync(path.join(dir, f), 'utf8') === fs.readFileSync(path.join(${JSON.stringify(tls)}, f), 'utf8'));
const issued = require(path.join(dir, 'cluster-certificates.js')).issueClusterCertificates({ clusterName: 'c', nodes: [{ name: 'n', address: '10.0.0.1' }], days: 1 });
console.log(JSON.stringify({ files, same, issued: issued.nodes.n.certificatePem.startsWith('-----BEGIN CERTIFICATE-----') }));
`;
    const printed = (await run(process.execPath, ['-e', probe], { cwd: path.join(work, 'app'), timeoutMs: 60_000 })).stdout;
    expect(JSON.parse(printed)).toEqual({
      files: ['certificate-handler.js', 'cluster-certificates.js', 'der.js', 'issue-into-secrets.js', 'secret-format.js', 'x509.js'],
      same: true,
      issued: true,
    });
  });

  test('a TypeScript CDK app imports DnsFailover, FailoverEndpoint and HealthCheckProtocol and synthesizes', async () => {
    const app = path.join(work, 'app');
    fs.writeFileSync(
      path.join(app, 'main.ts'),
      `
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as route53 from 'aws-cdk-lib/aws-route53';
import { DnsFailover, FailoverEndpoint, HealthCheckProtocol } from 'cdk-failover';

const app = new App({ outdir: 'out' });
const stack = new Stack(app, 'Consumer', { env: { region: 'us-east-1' } });
const dns = new DnsFailover(stack, 'Api', {
  zone: new route53.PublicHostedZone(stack, 'Zone', { zoneName: 'example.org' }),
  recordName: 'www',
  primary: FailoverEndpoint.ipAddress('203.0.113.7'),
  secondary: FailoverEndpoint.ipAddress('198.51.100.7'),
  healthCheck: { protocol: HealthCheckProtocol.HTTP, interval: Duration.seconds(10) },
});
app.synth();
console.log(dns.worstCaseFailoverTime.toSeconds());
`,
    );
    await run(
      path.join(app, 'node_modules/.bin/tsc'),
      ['--strict', '--esModuleInterop', '--skipLibCheck', '--target', 'es2022', '--module', 'commonjs', 'main.ts'],
      { cwd: app, timeoutMs: 120_000 },
    );
    const printed = (await run(process.execPath, ['main.js'], { cwd: app, timeoutMs: 120_000 })).stdout;
    expect(printed.trim()).toBe(String(3 * (10 + 6) + 30 + 60));
    const template = JSON.parse(fs.readFileSync(path.join(app, 'out/Consumer.template.json'), 'utf8'));
    const types = Object.values(template.Resources as Record<string, { Type: string }>).map((r) => r.Type);
    expect(types.filter((t) => t === 'AWS::Route53::HealthCheck')).toHaveLength(2);
    expect(types.filter((t) => t === 'AWS::Route53::RecordSet')).toHaveLength(2);
  }, 180_000);

  test('a type error in the consumer is caught by the shipped declarations', async () => {
    const app = path.join(work, 'app');
    fs.writeFileSync(path.join(app, 'bad.ts'), `import { FailoverEndpoint } from 'cdk-failover';\nFailoverEndpoint.ipAddress(42);\n`);
    const tsc = await run(path.join(app, 'node_modules/.bin/tsc'), ['--strict', '--skipLibCheck', '--noEmit', 'bad.ts'], {
      cwd: app,
      timeoutMs: 120_000,
      allowFailure: true,
    });
    expect(tsc.code).not.toBe(0);
    expect(tsc.stdout).toMatch(/bad\.ts\(2,28\): error TS2345: Argument of type 'number' is not assignable to parameter of type 'string'/);
  }, 180_000);
});
