// A booted node's data volume: a sparse file attached as a loop device, passed into the container
// under the device name the instance's volume attachment uses. It outlives the container, as an
// EBS volume outlives its instance.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from '../../util/command';
import { LocalClusterError } from '../errors';

/** Creates the sparse backing file (`sizeBytes`), unless it exists. */
export function createVolumeFile(file: string, sizeBytes: number): void {
  if (fs.existsSync(file)) return;
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const fd = fs.openSync(file, 'wx', 0o600);
  try {
    fs.ftruncateSync(fd, sizeBytes);
  } finally {
    fs.closeSync(fd);
  }
}

/** The loop devices backed by `file` (`losetup -j`). */
export async function loopDevicesOf(file: string): Promise<string[]> {
  const result = await run('losetup', ['-j', file], { allowFailure: true, timeoutMs: 10_000 });
  return result.stdout
    .split('\n')
    .map((line) => line.split(':')[0]?.trim())
    .filter((dev): dev is string => !!dev && dev.startsWith('/dev/loop'));
}

/** The loop device for `file`: the one already attached, else a new one. */
export async function attachVolume(file: string): Promise<string> {
  const [existing] = await loopDevicesOf(file);
  if (existing) return existing;
  const result = await run('losetup', ['--find', '--show', file], { allowFailure: true, timeoutMs: 10_000 });
  const device = result.stdout.trim();
  if (result.code !== 0 || !device.startsWith('/dev/loop')) {
    throw new LocalClusterError(`could not attach ${file} as a loop device: ${result.stderr.trim() || 'losetup printed no device'}`);
  }
  return device;
}

/** Detaches every loop device of every file under `dir` (teardown; idempotent). */
export async function detachVolumesUnder(dir: string): Promise<string[]> {
  const result = await run('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE'], { allowFailure: true, timeoutMs: 10_000 });
  const prefix = `${path.resolve(dir)}/`;
  const detached: string[] = [];
  for (const line of result.stdout.split('\n')) {
    const [device, ...rest] = line.trim().split(/\s+/);
    const backing = rest.join(' ').replace(/ \(deleted\)$/, '');
    if (device && backing.startsWith(prefix)) {
      await run('losetup', ['-d', device], { allowFailure: true, timeoutMs: 10_000 });
      detached.push(device);
    }
  }
  return detached;
}
