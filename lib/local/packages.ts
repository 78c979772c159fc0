import { LocalClusterError } from './errors';
import { run } from './exec';

/** The Debian 12 packages the local cluster runs: the very ones the EC2 nodes install. */
export const REQUIRED_PACKAGES: readonly string[] = [
  'patroni',
  'etcd-server',
  'etcd-client',
  'haproxy',
  'postgresql-15',
  // The local cluster's own tools: HTTP to the REST API from the client namespace, setpriv, ipcs.
  'curl',
  'util-linux',
  'iproute2',
];

export async function isInstalled(pkg: string): Promise<boolean> {
  const result = await run('dpkg-query', ['-W', '-f=${Status}', pkg], { allowFailure: true, timeoutMs: 30_000 });
  return result.code === 0 && result.stdout.trim() === 'install ok installed';
}

export async function missingPackages(packages: readonly string[] = REQUIRED_PACKAGES): Promise<string[]> {
  const missing: string[] = [];
  for (const pkg of packages) {
    if (!(await isInstalled(pkg))) missing.push(pkg);
  }
  return missing;
}

/**
 * Installs whatever is missing with apt-get (running `apt-get update` once if the first install
 * fails). Returns the packages it installed.
 */
export async function ensurePackages(
  packages: readonly string[] = REQUIRED_PACKAGES,
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
