import { serverPackages } from '../patroni/config/packages';
import { run } from '../util/command';
import { LocalClusterError } from './errors';
import { POSTGRES_VERSION } from './local-spec';

/**
 * The one list of Debian 12 packages the project drives. The local cluster needs the servers the
 * EC2 nodes run (the same versions) and the tools it drives them with.
 */
export const LOCAL_CLUSTER_PACKAGES: readonly string[] = [
  ...serverPackages(POSTGRES_VERSION),
  // HTTP to the REST API from the client namespace; setpriv and ipcs; network namespaces.
  'curl',
  'util-linux',
  'iproute2',
];

/**
 * `failover local up --boot` also builds a Debian root file system (debootstrap), boots it
 * (systemd-nspawn), makes a rehearsal CA (openssl) and signs a stand-in SSM agent package (gnupg).
 */
export const BOOTED_PACKAGES: readonly string[] = ['debootstrap', 'systemd-container', 'openssl', 'gnupg'];

/**
 * The tests that drive real tools need the local cluster's packages plus the checkers they hand
 * rendered files to: shellcheck, `systemd-analyze verify` (which also checks that the units'
 * commands exist: /bin/kill is procps', present on the Debian AMI but not in a minimal root),
 * python3 (PyYAML round trips, the metrics publisher, the user data's unpacking), nftables (the
 * node's IMDS firewall, loaded in a network namespace of its own), python3-botocore (the nodes' awscli
 * reads the AWS stand-in's answers with it), prometheus (promtool checks and
 * unit-tests the rendered alerting rules); and gnupg, with the booted rehearsal's packages.
 */
export const TEST_PACKAGES: readonly string[] = [...LOCAL_CLUSTER_PACKAGES, 'shellcheck', 'systemd', 'procps', 'python3', 'python3-botocore', 'nftables', 'prometheus', ...BOOTED_PACKAGES];

/** The packages of `packages` that dpkg does not list as installed (one `dpkg-query` call). */
export async function missingPackages(packages: readonly string[] = LOCAL_CLUSTER_PACKAGES): Promise<string[]> {
  const installed = await installedVersions(packages);
  return packages.filter((p) => installed[p] === undefined);
}

/** Installed version of each package that is installed. */
export async function installedVersions(packages: readonly string[]): Promise<Record<string, string>> {
  // dpkg-query exits 1 when one of them is unknown, and still lists the others.
  const result = await run('dpkg-query', ['-W', '-f=${Package} ${Status} ${Version}\\n', ...packages], { allowFailure: true });
  const versions: Record<string, string> = {};
  for (const line of result.stdout.split('\n')) {
    const [name, , , status, version] = line.trim().split(/\s+/);
    if (name && status === 'installed' && version) versions[name.replace(/:.*$/, '')] = version;
  }
  return versions;
}

/** The command that installs `packages`, as a user would type it. */
export function installCommand(packages: readonly string[]): string {
  return `apt-get update && apt-get install -y ${packages.join(' ')}`;
}

/**
 * Installs whatever is missing with apt-get (running `apt-get update` once if the first install
 * fails, as on a machine that never ran it). Returns the packages it installed.
 */
export async function ensurePackages(
  packages: readonly string[] = LOCAL_CLUSTER_PACKAGES,
  log: (line: string) => void = () => undefined,
): Promise<string[]> {
  const missing = await missingPackages(packages);
  if (missing.length === 0) return [];
  log(`installing ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => run('apt-get', ['install', '-y', '-q', ...missing], { env, allowFailure: true, timeoutMs: 900_000 });
  let result = await install();
  if (result.code !== 0) {
    log('apt-get install failed; running apt-get update once');
    await run('apt-get', ['update', '-q'], { env, allowFailure: true, timeoutMs: 600_000 });
    result = await install();
  }
  const still = await missingPackages(missing);
  if (result.code !== 0 || still.length > 0) {
    const detail = result.stderr.trim().split('\n').slice(-1)[0] ?? '';
    throw new LocalClusterError(`could not install ${still.join(' ') || missing.join(' ')} with apt-get${detail ? `: ${detail}` : ''}`);
  }
  return missing;
}
