import * as fs from 'node:fs';
import * as path from 'node:path';
import { pgBackRestDirs } from '../patroni/config/pgbackrest';
import type { NodePaths } from '../patroni/config/spec';
import { LocalClusterError } from './errors';
import type { RunAs } from './processes';

/** Where every local cluster keeps its files: `<root>/<cluster>/`. */
export const DEFAULT_STATE_ROOT = '/var/tmp/cdk-failover-local';

export const CLUSTER_NAME_PATTERN = /^[a-z][a-z0-9]{0,11}$/;

export function checkClusterName(name: string): void {
  if (!CLUSTER_NAME_PATTERN.test(name)) {
    throw new LocalClusterError(`cluster name must be 1-12 lowercase letters or digits, starting with a letter, got '${name}'`);
  }
}

export function clusterDir(stateRoot: string, clusterName: string): string {
  return path.join(stateRoot, clusterName);
}

export function stateFile(stateRoot: string, clusterName: string): string {
  return path.join(clusterDir(stateRoot, clusterName), 'state.json');
}

/** One tree per node: config, data, etcd, log, run, socket. */
export function nodePaths(dir: string, postgresVersion: number): NodePaths {
  return {
    configDir: path.join(dir, 'config'),
    dataDir: path.join(dir, 'data'),
    binDir: `/usr/lib/postgresql/${postgresVersion}/bin`,
    socketDir: path.join(dir, 'socket'),
    pgpass: path.join(dir, 'run', 'pgpass'),
    etcdDataDir: path.join(dir, 'etcd'),
    logDir: path.join(dir, 'log'),
    runDir: path.join(dir, 'run'),
  };
}

/** A system user from /etc/passwd, e.g. postgres (Patroni, PostgreSQL) or etcd. */
export function systemUser(name: string): RunAs | undefined {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return undefined;
  const [user, , uid, gid, , home] = line.split(':');
  return { user: user!, uid: Number(uid), gid: Number(gid), home: home || '/' };
}

/** The postgres user, which runs Patroni and PostgreSQL. */
export function postgresUser(): RunAs {
  const user = systemUser('postgres');
  if (!user) throw new LocalClusterError('no postgres user on this machine (is postgresql-15 installed?)');
  return user;
}

/** The etcd user, which runs etcd as on EC2 (the etcd-server package creates it); else root. */
export function etcdUser(): RunAs | undefined {
  return systemUser('etcd');
}

function mkdir(dir: string, mode: number, owner?: RunAs): void {
  fs.mkdirSync(dir, { recursive: true, mode });
  fs.chmodSync(dir, mode);
  if (owner) fs.chownSync(dir, owner.uid, owner.gid);
}

/**
 * Creates a node's tree. PostgreSQL and Patroni write data, log, run and socket (postgres-owned,
 * data 0700 as PostgreSQL insists); etcd owns its data directory; HAProxy starts as root.
 */
export function createNodeTree(dir: string, paths: NodePaths, postgres: RunAs, etcd?: RunAs): void {
  mkdir(dir, 0o755);
  mkdir(paths.configDir, 0o755);
  mkdir(paths.dataDir, 0o700, postgres);
  mkdir(paths.etcdDataDir, 0o700, etcd);
  mkdir(paths.logDir, 0o755, postgres);
  mkdir(paths.runDir, 0o755, postgres);
  mkdir(paths.socketDir, 0o755, postgres);
  for (const dir of Object.values(pgBackRestDirs(paths))) mkdir(dir, 0o750, postgres);
}

export interface FileToWrite {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
  /** Owned by this uid and gid instead of root. */
  readonly owner?: { readonly uid: number; readonly gid: number };
}

/** Each file written beside its place and renamed into it: a reader (etcd re-reads its certificate on every handshake) sees the old file or the new one. */
export function writeFiles(files: readonly FileToWrite[]): void {
  for (const f of files) {
    fs.mkdirSync(path.dirname(f.path), { recursive: true });
    const temporary = `${f.path}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, f.content, { mode: f.mode });
    fs.chmodSync(temporary, f.mode);
    if (f.owner) fs.chownSync(temporary, f.owner.uid, f.owner.gid);
    fs.renameSync(temporary, f.path);
  }
}
