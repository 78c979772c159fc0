// A local cluster's fence (FENCE_FILE in its repository path): written into the S3 stand-in's store
// when a standby of it is promoted, read back by its nodes' pre_promote through pgBackRest. On AWS
// the same object is written into the bucket the standby's region reads (docs/regional-recovery.md).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FENCE_FILE } from '../../patroni/config/backup-runner';
import { clusterStanza } from '../../patroni/config/pgbackrest';
import { LocalClusterError } from '../errors';
import { LOCAL_S3, repositoryDir } from './repository';

/** What the fence says: who was promoted in the fenced cluster's place, and when. */
export interface Fence {
  readonly fenced: string;
  readonly promoted: string;
  readonly at: string;
}

interface FilesystemStore {
  putObject(object: unknown): Promise<unknown>;
  getObject(bucket: string, key: string): Promise<{ content: NodeJS.ReadableStream } | null>;
}

function store(stateRoot: string): FilesystemStore {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Store = require('s3rver/lib/stores/filesystem') as new (dir: string) => FilesystemStore;
  return new Store(path.join(repositoryDir(stateRoot), 's3'));
}

/** The fence's key in the bucket: the fenced cluster's repository path, without its leading slash. */
export function fenceKey(clusterName: string): string {
  return `${clusterStanza(clusterName).path.replace(/^\//, '')}/${FENCE_FILE}`;
}

/** Writes `fenced`'s fence, naming `promoted`, through the stand-in's own store (as its PUT would). */
export async function writeFence(stateRoot: string, fenced: string, promoted: string): Promise<Fence> {
  const fence: Fence = { fenced, promoted, at: new Date().toISOString() };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const S3Object = require('s3rver/lib/models/object') as new (bucket: string, key: string, content: Buffer, metadata: Record<string, string>) => unknown;
  const body = Buffer.from(`${JSON.stringify(fence)}\n`);
  fs.mkdirSync(path.join(repositoryDir(stateRoot), 's3', LOCAL_S3.bucket), { recursive: true, mode: 0o700 });
  await store(stateRoot)
    .putObject(new S3Object(LOCAL_S3.bucket, fenceKey(fenced), body, { 'content-type': 'application/json', 'content-length': String(body.length) }))
    .catch((err: unknown) => {
      throw new LocalClusterError(`could not write the fence of '${fenced}' (${fenceKey(fenced)}): ${err instanceof Error ? err.message : String(err)}`);
    });
  return fence;
}

/** `clusterName`'s fence, or undefined when it has none. */
export async function readFence(stateRoot: string, clusterName: string): Promise<Fence | undefined> {
  const object = await store(stateRoot).getObject(LOCAL_S3.bucket, fenceKey(clusterName));
  if (!object) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of object.content) chunks.push(Buffer.from(chunk as Buffer));
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Fence;
}
