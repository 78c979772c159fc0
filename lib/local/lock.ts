import * as fs from 'node:fs';
import * as path from 'node:path';
import { LocalClusterError } from './errors';
import { isRunning } from './processes';

interface LockContent {
  readonly pid: number;
  readonly what: string;
  readonly since: string;
}

export function lockFile(stateRoot: string, clusterName: string): string {
  return path.join(stateRoot, `.${clusterName}.lock`);
}

/**
 * Runs `fn` holding the cluster's lock, so that two `up`s or an `up` and a `down` of the same
 * cluster never interleave (a second one fails at once, naming the holder). A lock whose process
 * is gone is taken over.
 */
export async function withClusterLock<T>(stateRoot: string, clusterName: string, what: string, fn: () => Promise<T>): Promise<T> {
  const file = lockFile(stateRoot, clusterName);
  fs.mkdirSync(stateRoot, { recursive: true, mode: 0o755 });
  const content: LockContent = { pid: process.pid, what, since: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify(content), { flag: 'wx', mode: 0o644 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const holder = readLock(file);
      if (holder && holder.pid !== process.pid && isRunning(holder.pid)) {
        throw new LocalClusterError(`cluster '${clusterName}' is busy: pid ${holder.pid} is running '${holder.what}' since ${holder.since}`);
      }
      fs.rmSync(file, { force: true }); // its holder is gone
    }
  }
  try {
    return await fn();
  } finally {
    if (readLock(file)?.pid === process.pid) fs.rmSync(file, { force: true });
    try {
      fs.rmdirSync(stateRoot); // only when no cluster lives there any more
    } catch {
      // not empty
    }
  }
}

function readLock(file: string): LockContent | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LockContent;
  } catch {
    return undefined;
  }
}
