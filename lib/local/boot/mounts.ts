// Overlay mounts: every booted node is the shared image (read-only lower layer) plus a layer of
// its own, so a node costs megabytes and a replacement is a fresh layer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from '../../util/command';
import { LocalClusterError } from '../errors';

export interface Overlay {
  /** The merged tree: the node's root file system. */
  readonly root: string;
  /** The node's own changes. */
  readonly upper: string;
  readonly work: string;
}

export function overlayPaths(dir: string): Overlay {
  return { root: path.join(dir, 'root'), upper: path.join(dir, 'upper'), work: path.join(dir, 'work') };
}

/** Every mount point now (from /proc/self/mountinfo; no program involved). */
function mountPoints(): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m);
}

/** Whether something is mounted at `target`. */
export function isMounted(target: string): boolean {
  return mountPoints().includes(path.resolve(target));
}

/** Mount points below `dir`, deepest first (the order to unmount them in). */
export function mountsUnder(dir: string): string[] {
  const prefix = `${path.resolve(dir)}/`;
  return mountPoints()
    .filter((m) => m.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}

/** Mounts `lower` + `<dir>/upper` at `<dir>/root` (idempotent). */
export async function mountOverlay(lower: string, dir: string): Promise<Overlay> {
  const o = overlayPaths(dir);
  for (const d of [o.root, o.upper, o.work]) fs.mkdirSync(d, { recursive: true, mode: 0o755 });
  if (isMounted(o.root)) return o;
  const result = await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${o.upper},workdir=${o.work}`, o.root], {
    allowFailure: true,
    timeoutMs: 30_000,
  });
  if (result.code !== 0) throw new LocalClusterError(`could not mount the node's overlay at ${o.root}: ${result.stderr.trim()}`);
  return o;
}

/** Unmounts `target` if mounted (lazily when busy, so teardown never sticks). */
export async function unmount(target: string): Promise<void> {
  if (!isMounted(target)) return;
  const result = await run('umount', [target], { allowFailure: true, timeoutMs: 30_000 });
  if (result.code !== 0) await run('umount', ['-l', target], { timeoutMs: 30_000 });
}
