// The local cluster's backup repository: an S3 stand-in (s3rver over TLS) in the cluster's client
// namespace, on a directory under the state root that outlives every cluster, so a restore into a
// new cluster reads what the old one wrote. pgBackRest checks the server's certificate by host
// name (never by IP address), so every namespace of the cluster resolves LOCAL_S3.host through its
// own /etc/netns/<namespace>/hosts, which `ip netns exec` mounts over /etc/hosts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { clusterStanza } from '../../patroni/config/pgbackrest';
import type { BackupSpec, RestoreSourceSpec } from '../../patroni/config/spec';
import { entryCommand } from '../entry-command';
import { LocalClusterError } from '../errors';
import { startDetached, type ProcessRecord } from '../processes';
import { found, notYet, poll } from '../../ops/poll';
import { makeRehearsalCertificates } from '../boot/rehearsal-ca';
import type { S3StandInConfig } from './s3-standin-main';

/** The stand-in's fixed coordinates. s3rver accepts only this key ID (it does not check signatures). */
export const LOCAL_S3 = {
  host: 's3.cdkfo.internal',
  port: 9443,
  bucket: 'cdk-failover-local',
  region: 'us-east-1',
  accessKeyId: 'S3RVER',
  secretAccessKey: 'S3RVER',
} as const;

/** The archive's RPO locally: short, so drills do not wait for a segment to fill. */
export const LOCAL_ARCHIVE_TIMEOUT_SECONDS = 10;

export function repositoryDir(stateRoot: string): string {
  return path.join(stateRoot, 'repository');
}

/**
 * Refuses a cluster name whose path the repository already holds: an earlier cluster's backups
 * (pgBackRest would refuse the new cluster's different system identifier there anyway, later and
 * less clearly). Nothing is removed.
 */
export function checkRepositoryPathFree(stateRoot: string, clusterName: string): void {
  const dir = path.join(repositoryDir(stateRoot), 's3', LOCAL_S3.bucket, clusterName);
  if (fs.existsSync(dir)) {
    throw new LocalClusterError(
      `the backup repository already holds an earlier cluster '${clusterName}' (${dir}): restore it into a new name ` +
        `('failover restore --local --cluster ${clusterName} --to latest --into NEW'), or remove that directory to start afresh`,
    );
  }
}

/** What the nodes' pgbackrest.conf gets. */
export function localBackupSpec(stateRoot: string, clusterName: string, restoreFrom?: RestoreSourceSpec): BackupSpec {
  return {
    repositories: [
      {
        bucket: LOCAL_S3.bucket,
        region: LOCAL_S3.region,
        endpoint: LOCAL_S3.host,
        path: clusterStanza(clusterName).path,
        uriStyle: 'path',
        sharedKey: { accessKeyId: LOCAL_S3.accessKeyId, secretAccessKey: LOCAL_S3.secretAccessKey },
        storageHost: LOCAL_S3.host,
        storagePort: LOCAL_S3.port,
        caFile: path.join(repositoryDir(stateRoot), 'tls', 'ca.crt'),
        retentionFull: 2,
      },
    ],
    archiveTimeoutSeconds: LOCAL_ARCHIVE_TIMEOUT_SECONDS,
    schedules: { full: 'Sun *-*-* 01:00:00 UTC', diff: 'Mon..Sat *-*-* 01:00:00 UTC' },
    ...(restoreFrom ? { restoreFrom } : {}),
  };
}

/** The per-namespace hosts file: the stand-in's name at the client namespace's address. */
export function writeNamespaceHosts(namespace: string, s3Address: string): void {
  const dir = path.join('/etc/netns', namespace);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'hosts'), `127.0.0.1 localhost\n${s3Address} ${LOCAL_S3.host}\n`, { mode: 0o644 });
}

/** Removes what writeNamespaceHosts wrote for namespaces starting with `prefix`. */
export function removeNamespaceHosts(prefix: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync('/etc/netns');
  } catch {
    return;
  }
  for (const name of entries.filter((e) => e.startsWith(prefix))) fs.rmSync(path.join('/etc/netns', name), { recursive: true, force: true });
}

/**
 * Starts the stand-in in `namespace` at `address` (its certificate made or reused first; the CA
 * readable by postgres) and returns once it listens.
 */
export async function startS3StandIn(stateRoot: string, namespace: string, address: string, logFile: string): Promise<ProcessRecord> {
  const dir = repositoryDir(stateRoot);
  const tls = await makeRehearsalCertificates(path.join(dir, 'tls'), [LOCAL_S3.host]);
  fs.chmodSync(tls.caCert, 0o644);
  fs.chmodSync(path.join(dir, 'tls'), 0o755);
  fs.chmodSync(dir, 0o755);
  const config: S3StandInConfig = {
    address,
    port: LOCAL_S3.port,
    keyFile: tls.serverKey,
    certFile: tls.serverCert,
    directory: path.join(dir, 's3'),
    bucket: LOCAL_S3.bucket,
  };
  const configFile = path.join(path.dirname(logFile), 's3-standin.json');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2), { mode: 0o600 });
  try {
    require.resolve('s3rver');
  } catch {
    throw new LocalClusterError("backups need the S3 stand-in's server, s3rver: npm install --save-dev s3rver@3.7.1");
  }
  const { argv, cwd } = entryCommand(__dirname, 's3-standin-main', [configFile]);
  const record = await startDetached({ namespace, argv, logFile, cwd });
  await poll(
    'the S3 stand-in listening',
    async () => {
      const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
      if (text.includes('s3 stand-in listening')) return found(true);
      const failed = /^s3 stand-in: .*$/m.exec(text);
      if (failed) throw new LocalClusterError(failed[0]);
      return notYet('not listening yet');
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  return record;
}
