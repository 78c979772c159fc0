// Jest global setup of the projects that drive real programs (`tools`, `cluster`): installs the
// Debian packages they need, once, before any suite runs. Where it cannot (not root, no apt-get,
// not Debian) it stops the run with one line that names the packages and the command.
import * as fs from 'node:fs';
import { ensurePackages, installCommand, missingPackages, TEST_PACKAGES } from '../../lib/local/packages';
import { oneLine } from '../../lib/util/one-line';

function stop(message: string): never {
  process.stderr.write(`\ncdk-failover tests: ${message}\n`);
  process.exit(1);
}

export default async function installTestPackages(): Promise<void> {
  if (process.platform !== 'linux' || !fs.existsSync('/usr/bin/dpkg-query')) {
    stop(`these suites drive Debian 12's packages (${TEST_PACKAGES.join(' ')}); this machine has no dpkg. Run them on Debian 12, or run npm run test:unit`);
  }
  const missing = await missingPackages(TEST_PACKAGES).catch((err: unknown) => stop(oneLine(err)));
  if (missing.length === 0) return;
  const root = process.getuid?.() === 0;
  if (!root || !fs.existsSync('/usr/bin/apt-get')) {
    stop(`missing Debian packages: ${missing.join(' ')}. Install them as root: ${installCommand(missing)} (npm test as root installs them itself)`);
  }
  const started = Date.now();
  process.stderr.write(`\ncdk-failover tests: installing ${missing.join(' ')} with apt-get (once; a few minutes)\n`);
  await ensurePackages(missing).catch((err: unknown) => stop(`${oneLine(err)}; install them by hand: ${installCommand(missing)}`));
  process.stderr.write(`cdk-failover tests: installed in ${Math.round((Date.now() - started) / 1000)} s\n`);
}
