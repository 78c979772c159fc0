// The machine a benchmark ran on, written beside its figures.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { ensurePackages, installedVersions } from '../lib/local';

async function packageVersions(packages: readonly string[]): Promise<Record<string, string>> {
  const installed = await installedVersions(packages);
  return Object.fromEntries(packages.map((p) => [p, installed[p] ?? 'not installed']));
}

/**
 * Installs the cluster's packages first: a fresh machine's cluster installs them only when it
 * starts, after this record is read, which then said 'not installed' for what the run used.
 */
export async function environment(packages: readonly string[] = ['patroni', 'etcd-server', 'haproxy', 'postgresql-15']): Promise<Record<string, unknown>> {
  await ensurePackages();
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    os: fs.existsSync('/etc/debian_version') ? `Debian ${fs.readFileSync('/etc/debian_version', 'utf8').trim()}` : os.platform(),
    node: process.version,
    packages: await packageVersions(packages),
    loadAverageAtStart: os.loadavg(),
  };
}
