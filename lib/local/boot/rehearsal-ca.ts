// The rehearsal's own certificate authority: the node image trusts its CA certificate, and the AWS
// stand-in serves a certificate it signed for the service hostnames (secretsmanager.<region>.
// amazonaws.com, ...), so awscli's TLS checks pass unchanged. Made with the openssl CLI, once: the
// files are reused while the hostname set is the same and nothing is about to expire.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CommandError, run } from '../../util/command';
import { LocalClusterError, oneLine } from '../errors';

export interface RehearsalCertificates {
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
}

export interface RehearsalCertificateOptions {
  /** How long the CA and server certificates are valid. @default 3650 */
  readonly days?: number;
}

const FILES = {
  caKey: 'ca.key',
  caCert: 'ca.crt',
  serverKey: 'server.key',
  serverCert: 'server.crt',
  hostnames: 'server.hostnames.json',
  caConfig: 'ca.cnf',
  serverConfig: 'server.cnf',
};
/** A certificate expiring sooner than this is made again. */
const RENEW_BEFORE_SECONDS = 86_400;
const DNS_NAME = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

/**
 * Makes (or reuses) in `dir` a CA and a server certificate for `hostnames` signed by it (EC P-256
 * keys, mode 0600). The CA is kept when only the hostnames change, so an image that trusts it
 * still does. Returns absolute paths.
 */
export async function makeRehearsalCertificates(dir: string, hostnames: readonly string[], options: RehearsalCertificateOptions = {}): Promise<RehearsalCertificates> {
  const days = options.days ?? 3650;
  if (!Number.isInteger(days) || days < 1) throw new LocalClusterError(`rehearsal certificates: days must be a positive integer, not ${days}`);
  const names = hostnameSet(hostnames);
  const root = path.resolve(dir);
  const file = (name: keyof typeof FILES) => path.join(root, FILES[name]);
  try {
    fs.mkdirSync(root, { recursive: true });
    const caReused = usable(file('caKey'), file('caCert')) && (await stillValid(file('caCert')));
    if (!caReused) await makeCa(root, days);
    const serverReused =
      caReused && usable(file('serverKey'), file('serverCert')) && sameHostnames(file('hostnames'), names) && (await stillValid(file('serverCert')));
    if (!serverReused) await makeServerCertificate(root, names, days);
  } catch (err) {
    throw certificateError(err, root);
  }
  return { caCert: file('caCert'), serverCert: file('serverCert'), serverKey: file('serverKey') };
}

/** Sorted and without duplicates (the set is what counts); each a DNS name openssl's config can hold. */
function hostnameSet(hostnames: readonly string[]): string[] {
  if (hostnames.length === 0) throw new LocalClusterError('rehearsal certificates: at least one hostname is needed');
  for (const name of hostnames) {
    if (!DNS_NAME.test(name) || name.length > 253) throw new LocalClusterError(`rehearsal certificates: ${JSON.stringify(name)} is not a DNS name`);
  }
  return [...new Set(hostnames.map((h) => h.toLowerCase()))].sort();
}

function certificateError(err: unknown, dir: string): Error {
  if (err instanceof LocalClusterError) return err;
  if (err instanceof CommandError && /not installed/.test(err.message)) {
    return new LocalClusterError('openssl is not installed (the rehearsal CA is made with it): apt-get install openssl');
  }
  return new LocalClusterError(`cannot make the rehearsal certificates in ${dir}: ${oneLine(err)}`);
}

function usable(...files: string[]): boolean {
  return files.every((f) => fs.existsSync(f) && fs.statSync(f).size > 0);
}

function sameHostnames(file: string, names: readonly string[]): boolean {
  try {
    return fs.readFileSync(file, 'utf8') === hostnamesFileContent(names);
  } catch {
    return false;
  }
}

function hostnamesFileContent(names: readonly string[]): string {
  return `${JSON.stringify(names)}\n`;
}

/** Not expired, nor expiring within a day (`openssl x509 -checkend` exits 1 then). */
async function stillValid(cert: string): Promise<boolean> {
  const result = await run('openssl', ['x509', '-noout', '-checkend', String(RENEW_BEFORE_SECONDS), '-in', cert], { allowFailure: true });
  return result.code === 0;
}

/** Written beside and renamed into place, so a file is whole or absent (no torn key after a crash). */
function writeWhole(file: string, content: string, mode: number): void {
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, content, { mode });
  fs.chmodSync(temporary, mode); // writeFileSync's mode is subject to the umask
  fs.renameSync(temporary, file);
}

/** A P-256 private key in PEM, straight from openssl's stdout into a 0600 file. */
async function makeKey(file: string): Promise<void> {
  const { stdout } = await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
  writeWhole(file, stdout, 0o600);
}

/** Removes what a new key would no longer match first, so an interrupted run is never reused half-made. */
function removeStale(dir: string, ...names: (keyof typeof FILES)[]): void {
  for (const name of names) fs.rmSync(path.join(dir, FILES[name]), { force: true });
}

async function makeCa(dir: string, days: number): Promise<void> {
  removeStale(dir, 'caCert', 'serverCert', 'hostnames');
  const config = path.join(dir, FILES.caConfig);
  // Our own config, so the system's openssl.cnf cannot add or clash with extensions.
  writeWhole(
    config,
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      'x509_extensions = ca',
      '[dn]',
      'CN = cdk-failover rehearsal CA',
      '[ca]',
      'basicConstraints = critical, CA:TRUE',
      'keyUsage = critical, keyCertSign, cRLSign',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid:always',
      '',
    ].join('\n'),
    0o644,
  );
  const key = path.join(dir, FILES.caKey);
  await makeKey(key);
  const { stdout } = await run('openssl', ['req', '-x509', '-new', '-config', config, '-key', key, '-sha256', '-days', String(days)]);
  writeWhole(path.join(dir, FILES.caCert), stdout, 0o644);
}

async function makeServerCertificate(dir: string, names: readonly string[], days: number): Promise<void> {
  removeStale(dir, 'serverCert', 'hostnames');
  const config = path.join(dir, FILES.serverConfig);
  writeWhole(
    config,
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      '[dn]',
      'CN = cdk-failover rehearsal AWS endpoints',
      '[server]',
      'basicConstraints = critical, CA:FALSE',
      'keyUsage = critical, digitalSignature',
      'extendedKeyUsage = serverAuth',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid',
      `subjectAltName = ${names.map((n) => `DNS:${n}`).join(', ')}`,
      '',
    ].join('\n'),
    0o644,
  );
  const key = path.join(dir, FILES.serverKey);
  await makeKey(key);
  const csr = await run('openssl', ['req', '-new', '-config', config, '-key', key, '-sha256']);
  // A random serial: no serial file to keep, and a new certificate never repeats an old one's.
  const serialBytes = randomBytes(16);
  serialBytes[0] &= 0x7f; // positive
  const serial = `0x${serialBytes.toString('hex')}`;
  const cert = await run(
    'openssl',
    [
      'x509', '-req', '-sha256', '-days', String(days), '-set_serial', serial,
      '-CA', path.join(dir, FILES.caCert), '-CAkey', path.join(dir, FILES.caKey),
      '-extfile', config, '-extensions', 'server',
    ],
    { input: csr.stdout },
  );
  writeWhole(path.join(dir, FILES.serverCert), cert.stdout, 0o644);
  // Last: the hostname list marks the set as complete.
  writeWhole(path.join(dir, FILES.hostnames), hostnamesFileContent(names), 0o644);
}
