// The local cluster's S3 stand-in as a process: `node s3-standin-main.js CONFIG.json`. s3rver (an
// S3-compatible server from npm, over TLS: pgBackRest's S3 driver speaks only HTTPS) on one
// directory, so the S3 code path of pgBackRest runs for real. Runs until SIGTERM or SIGINT.
import * as fs from 'node:fs';

export interface S3StandInConfig {
  readonly address: string;
  readonly port: number;
  readonly keyFile: string;
  readonly certFile: string;
  /** Where the objects live (it outlives the cluster: a restore reads it). */
  readonly directory: string;
  readonly bucket: string;
}

interface ListResult {
  objects: { key: string }[];
  commonPrefixes: string[];
  isTruncated: boolean;
}
interface FilesystemStoreClass {
  prototype: { listObjects(bucket: string, options: { delimiter?: string; prefix?: string; maxKeys?: number }): Promise<ListResult> };
}

/**
 * s3rver 3.7.1 lists with a delimiter wrongly: a "folder" holding only sub-folders never appears
 * among the common prefixes, so pgBackRest's expire sees no old backup or WAL directory and
 * removes nothing. Listing without the delimiter and folding the keys into prefixes here fixes it.
 */
function fixDelimitedListing(store: FilesystemStoreClass): void {
  const list = store.prototype.listObjects;
  store.prototype.listObjects = async function (bucket, options) {
    const { delimiter, prefix = '', maxKeys = 1000 } = options;
    if (!delimiter) return list.call(this, bucket, options);
    const all = await list.call(this, bucket, { ...options, delimiter: undefined, maxKeys: Number.MAX_SAFE_INTEGER });
    const prefixes = new Set<string>();
    const objects: { key: string }[] = [];
    let isTruncated = false;
    for (const object of all.objects) {
      const rest = object.key.slice(prefix.length);
      const at = rest.indexOf(delimiter);
      if (at !== -1) prefixes.add(object.key.slice(0, prefix.length + at + delimiter.length));
      else if (objects.length < maxKeys) objects.push(object);
      else {
        isTruncated = true;
        break;
      }
    }
    return { objects, commonPrefixes: [...prefixes].sort(), isTruncated };
  };
}

export async function main(argv: readonly string[]): Promise<number> {
  if (argv.length !== 1) {
    process.stderr.write('usage: node s3-standin-main.js CONFIG.json\n');
    return 2;
  }
  const config = JSON.parse(fs.readFileSync(argv[0]!, 'utf8')) as S3StandInConfig;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  fixDelimitedListing(require('s3rver/lib/stores/filesystem') as FilesystemStoreClass);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const S3rver = require('s3rver');
  fs.mkdirSync(config.directory, { recursive: true, mode: 0o700 });
  const server = new S3rver({
    address: config.address,
    port: config.port,
    key: fs.readFileSync(config.keyFile),
    cert: fs.readFileSync(config.certFile),
    directory: config.directory,
    silent: true,
    // Else a host name in the Host header is read as the bucket's name.
    vhostBuckets: false,
    configureBuckets: [{ name: config.bucket, configs: [] }],
  });
  const { address, port } = await server.run();
  process.stdout.write(`s3 stand-in listening on ${address}:${port}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await server.close();
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`s3 stand-in: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
