// The booted rehearsal's root file system (Debian's bookworm EC2 AMI without its kernel) and the
// local APT repository the nodes install from. Both are made once from Debian's archive, cached
// under a hash of their recipe, and rebuilt only when the recipe changes.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from '../../util/command';
import { oneLine } from '../../util/one-line';
import { LocalClusterError } from '../errors';
import { EC2_IMAGE_PACKAGES, EC2_IMAGE_SOURCES, IMAGE_MIRROR, IMAGE_SUITE } from './ec2-image';
import { mountOverlay, mountsUnder, unmount } from './mounts';
import { isRunning } from '../processes';
import { found, notYet, poll } from '../../ops/poll';

export const DEFAULT_IMAGE_ROOT = '/var/tmp/cdk-failover-images';

/** Bumped when the build steps below change in a way the recipe's fields do not show. */
const BUILD_STEPS_VERSION = 1;

export interface RehearsalImage {
  /** The root file system, read-only lower layer of every node. */
  readonly root: string;
  /** A flat APT repository (Packages, Release and the .debs) of exactly the nodes' packages. */
  readonly repo: string;
}

/**
 * `systemd-nspawn` running a script (not booting) in `root`, with this machine's network and its
 * resolv.conf in place of the image's (which points at resolved, not running here); `readOnly`
 * runs it on a read-only root with no resolver at all.
 */
async function inRoot(root: string, script: string, options: { readonly readOnly?: boolean; readonly binds?: readonly string[] } = {}): Promise<void> {
  const access = options.readOnly ? ['--read-only', '--resolv-conf=off'] : ['--resolv-conf=replace-host'];
  const binds = (options.binds ?? []).map((b) => `--bind=${b}`);
  const result = await run(
    'systemd-nspawn',
    ['--as-pid2', '--register=no', '--keep-unit', '--quiet', ...access, ...binds, '-D', root, '/bin/bash', '-euo', 'pipefail', '-c', script],
    { allowFailure: true, timeoutMs: 900_000, env: { ...process.env, SYSTEMD_LOG_LEVEL: 'err' } },
  );
  if (result.code !== 0) {
    const lines = `${result.stderr}\n${result.stdout}`.trim().split('\n').filter((l) => !/propagate/.test(l));
    throw new LocalClusterError(`building the rehearsal image failed: ${lines.slice(-1)[0] ?? `exit ${result.code}`}`);
  }
}

function hash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

/**
 * Runs `fn` holding the image root's build lock: one build at a time on this machine (another
 * `up --boot` waits for it, then finds its result). A lock whose process is gone is taken over,
 * and what its build left behind is removed.
 */
async function withBuildLock<T>(imageRoot: string, fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(imageRoot, { recursive: true, mode: 0o755 });
  const lock = path.join(imageRoot, '.build.lock');
  await poll(
    'the rehearsal image build lock',
    async () => {
      try {
        fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
        return found(true);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = Number(fs.readFileSync(lock, 'utf8'));
      if (Number.isInteger(holder) && holder > 0 && isRunning(holder)) return notYet(`pid ${holder} is building`);
      fs.rmSync(lock, { force: true });
      return notYet('took over a stale lock');
    },
    { timeoutMs: 30 * 60_000, intervalMs: 1000 },
  );
  try {
    for (const entry of fs.readdirSync(imageRoot)) {
      const stale = /\.building-(\d+)$/.exec(entry);
      if (!stale) continue;
      const leftover = path.join(imageRoot, entry);
      for (const m of mountsUnder(leftover)) await unmount(m);
      fs.rmSync(leftover, { recursive: true, force: true });
    }
    return await fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/** Builds `dir` with `build(tmp)` unless it exists; a half-built directory is never left in its place. */
async function cached(dir: string, build: (tmp: string) => Promise<void>): Promise<string> {
  if (fs.existsSync(path.join(dir, '.complete'))) return dir;
  const tmp = `${dir}.building-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true, mode: 0o755 });
  try {
    await build(tmp);
    fs.writeFileSync(path.join(tmp, '.complete'), `${new Date().toISOString()}\n`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

async function buildRoot(tmp: string): Promise<void> {
  const root = path.join(tmp, 'root');
  const boot = await run('debootstrap', ['--variant=minbase', IMAGE_SUITE, root, IMAGE_MIRROR], { allowFailure: true, timeoutMs: 900_000 });
  if (boot.code !== 0) throw new LocalClusterError(`debootstrap failed: ${oneLine(boot.stderr.trim().split('\n').slice(-1)[0] ?? boot.code)}`);
  fs.rmSync(path.join(root, 'etc/apt/sources.list'), { force: true });
  fs.writeFileSync(path.join(root, 'etc/apt/sources.list.d/debian.sources'), EC2_IMAGE_SOURCES);
  await inRoot(
    root,
    [
      'export DEBIAN_FRONTEND=noninteractive',
      'apt-get update -q >/dev/null',
      `apt-get install -y -q --no-install-recommends ${EC2_IMAGE_PACKAGES.join(' ')} >/dev/null`,
      'apt-get clean',
      'rm -rf /var/lib/apt/lists/*',
      // As on the AMI: resolved's stub, and a hostname the instance gets at boot.
      'ln -sf ../run/systemd/resolve/stub-resolv.conf /etc/resolv.conf',
      'echo localhost >/etc/hostname',
      ': >/etc/machine-id',
    ].join('\n'),
  );
}

/**
 * The repository: what `apt-get install` of the nodes' packages downloads on the image, indexed
 * with apt-ftparchive (from the image's apt-utils). Nodes read it as a trusted file: source.
 */
async function buildRepo(image: string, packages: readonly string[], tmp: string): Promise<void> {
  const repo = path.join(tmp, 'repo');
  fs.mkdirSync(repo, { mode: 0o755 });
  const overlay = await mountOverlay(image, path.join(tmp, 'download'));
  try {
    await inRoot(overlay.root, ['export DEBIAN_FRONTEND=noninteractive', 'apt-get update -q >/dev/null', `apt-get install -y -q --download-only ${packages.join(' ')} >/dev/null`].join('\n'));
    const archives = path.join(overlay.root, 'var/cache/apt/archives');
    for (const deb of fs.readdirSync(archives).filter((f) => f.endsWith('.deb'))) fs.copyFileSync(path.join(archives, deb), path.join(repo, deb));
  } finally {
    await unmount(overlay.root);
    fs.rmSync(path.join(tmp, 'download'), { recursive: true, force: true });
  }
  await inRoot(image, 'cd /mnt && apt-ftparchive packages . >Packages && apt-ftparchive release . >Release', { readOnly: true, binds: [`${repo}:/mnt`] });
}

/** The image and repository for `nodePackages`, built on first use (a few minutes) and cached. */
export async function ensureRehearsalImage(
  nodePackages: readonly string[],
  imageRoot = DEFAULT_IMAGE_ROOT,
  log: (line: string) => void = () => undefined,
): Promise<RehearsalImage> {
  const recipe = { BUILD_STEPS_VERSION, IMAGE_SUITE, IMAGE_MIRROR, EC2_IMAGE_PACKAGES, EC2_IMAGE_SOURCES };
  const imageDir = path.join(imageRoot, `bookworm-ec2-${hash(recipe)}`);
  const root = path.join(imageDir, 'root');
  const repoDir = path.join(imageDir, `repo-${hash(nodePackages)}`);
  const ready = () => fs.existsSync(path.join(imageDir, '.complete')) && fs.existsSync(path.join(repoDir, '.complete'));
  if (!ready()) {
    await withBuildLock(imageRoot, async () => {
      if (!fs.existsSync(path.join(imageDir, '.complete'))) log(`building the rehearsal image in ${imageDir} (once; a few minutes)`);
      await cached(imageDir, async (tmp) => {
        fs.writeFileSync(path.join(tmp, 'recipe.json'), `${JSON.stringify(recipe, null, 2)}\n`);
        await buildRoot(tmp);
      });
      if (!fs.existsSync(path.join(repoDir, '.complete'))) log(`downloading the nodes' packages into ${repoDir}`);
      await cached(repoDir, (tmp) => buildRepo(root, nodePackages, tmp));
    });
  }
  return { root, repo: path.join(repoDir, 'repo') };
}
