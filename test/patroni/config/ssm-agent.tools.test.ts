// The node's SSM agent installer, run by bash against a loopback HTTP server holding packages and
// signatures made here with gnupg and dpkg-deb: what it accepts and what it refuses, and why.
// (Its install step, dpkg -i and systemctl, runs on the booted rehearsal's nodes.)
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { buildStandInPackage, makeSigningKey, signDetached, SigningKey } from '../../../lib/local/boot/ssm-agent-standin';
import { renderSsmAgentInstaller } from '../../../lib/patroni/config/ssm-agent';
import { dearmorPublicKey } from '../../../lib/util/openpgp';
import { ec2Spec, makeTmpDir, removeTmpDir, run } from './fixtures';

describe('the SSM agent installer', () => {
  let dir: string;
  let server: http.Server;
  let base: string;
  let pinned: SigningKey;
  let other: SigningKey;

  /** `name/amazon-ssm-agent.deb(.sig)`: a package (named `packageName`) signed by `key`, changed after signing if `tamper`. */
  async function publish(name: string, key: SigningKey, options: { packageName?: string; tamper?: boolean } = {}): Promise<void> {
    const deb = path.join(dir, 'www', name, 'amazon-ssm-agent.deb');
    fs.mkdirSync(path.dirname(deb), { recursive: true });
    await buildStandInPackage(deb, options.packageName);
    await signDetached(key, deb);
    if (options.tamper) fs.appendFileSync(deb, 'x');
  }

  beforeAll(async () => {
    dir = makeTmpDir('ssm');
    pinned = await makeSigningKey(path.join(dir, 'pinned'), 'Pinned');
    other = await makeSigningKey(path.join(dir, 'other'), 'Other');
    await publish('good', pinned);
    await publish('tampered', pinned, { tamper: true });
    await publish('other-key', other);
    await publish('other-package', pinned, { packageName: 'not-the-agent' });
    fs.mkdirSync(path.join(dir, 'www', 'missing'));
    server = http.createServer((req, res) => {
      const file = path.join(dir, 'www', path.normalize(req.url ?? '/'));
      if (!fs.existsSync(file) || !fs.statSync(file).isFile()) {
        res.writeHead(404).end('NoSuchKey');
        return;
      }
      res.writeHead(200).end(fs.readFileSync(file));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    removeTmpDir(dir);
  });

  /** The installer pinned to `fingerprints` with `keys` in its keyring, written out; `fetch` into a new directory from `name`. */
  async function fetch(name: string, keys: SigningKey[] = [pinned], fingerprints = [pinned.fingerprint]) {
    const keyring = Buffer.concat(keys.map((k) => dearmorPublicKey(k.armored))).toString('base64');
    const script = path.join(dir, 'installer');
    fs.writeFileSync(script, renderSsmAgentInstaller(ec2Spec({ awsRegion: 'eu-west-1', ssmAgent: { keyring, fingerprints, required: false } })), { mode: 0o755 });
    const out = fs.mkdtempSync(path.join(dir, 'out-'));
    return { out, ...(await run('bash', [script, 'fetch', out, `${base}/${name}`])) };
  }

  test('passes shellcheck', async () => {
    const keyring = dearmorPublicKey(pinned.armored).toString('base64');
    const script = path.join(dir, 'checked');
    fs.writeFileSync(script, renderSsmAgentInstaller(ec2Spec({ awsRegion: 'eu-west-1', ssmAgent: { keyring, fingerprints: [pinned.fingerprint, other.fingerprint], required: true } })));
    const check = await run('shellcheck', ['--shell=bash', script]);
    expect(check.stdout + check.stderr).toBe('');
    expect(check.code).toBe(0);
  });

  test("a package signed by the pinned key (or by any of several pinned) is fetched, verified and named on stdout; the default URL is the region's", async () => {
    const r = await fetch('good');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(path.join(r.out, 'amazon-ssm-agent.deb'));
    const either = await fetch('other-key', [pinned, other], [pinned.fingerprint, other.fingerprint]);
    expect(either.stderr).toBe('');
    expect(either.stdout.trim()).toBe(path.join(either.out, 'amazon-ssm-agent.deb'));
    const script = fs.readFileSync(path.join(dir, 'installer'), 'utf8');
    expect(script).toContain('default_url="https://s3.$region.amazonaws.com/amazon-ssm-$region/latest/debian_$(dpkg --print-architecture)"');
  });

  test.each([
    ['a package changed after signing', 'tampered', [] as string[], /^cdk-failover: SSM agent: the package from tampered does not verify against the pinned keys [0-9A-F]{40}: gpgv: BAD signature from "Pinned/],
    ['a package signed by another key', 'other-key', [], /^cdk-failover: SSM agent: the package from other-key does not verify against the pinned keys [0-9A-F]{40}: gpgv: Can't check signature: No public key/],
    ['another key in the keyring that signed it, but not pinned', 'other-key', ['other'], /^cdk-failover: SSM agent: the package from other-key is not signed by a pinned key \([0-9A-F]{40}\) \(runbook/],
    ['a signed package that is not the agent', 'other-package', [], /^cdk-failover: SSM agent: the package from other-package is not amazon-ssm-agent \(runbook/],
    ['nothing at the URL', 'missing', [], /^cdk-failover: SSM agent: cannot download http:\/\/127\.0\.0\.1:\d+\/missing\/amazon-ssm-agent\.deb: curl: \(22\) The requested URL returned error: 404/],
  ])('refuses %s with one line, and prints no package', async (_what, name, extraKeys, line) => {
    const r = await fetch(name, [pinned, ...(extraKeys.length ? [other] : [])]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(line);
  });

  test('refuses an unknown command with its usage', async () => {
    const script = path.join(dir, 'installer');
    await fetch('good');
    const r = await run('bash', [script, 'upgrade']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`cdk-failover: SSM agent: usage: ${script} fetch DIR [URL] | install [URL] (runbook: A node's bootstrap failed)`);
  });
});
