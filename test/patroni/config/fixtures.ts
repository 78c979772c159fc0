// Specs and tool runners shared by the renderer tests. Not a test file itself.
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { BackupSpec, ClusterNode, ClusterSpec, NodePaths } from '../../../lib/patroni/config';
import { CommandError, run as runCommand, start, type RunResult } from '../../../lib/util/command';

export type { RunResult };

/** A one-repository backup spec, as PatroniCluster renders it with its deploy-time values filled in. */
export const BACKUP_SPEC: BackupSpec = {
  repositories: [{ bucket: 'b', region: 'eu-west-1', endpoint: 's3.eu-west-1.amazonaws.com', path: '/orders-db', uriStyle: 'host', retentionFull: 2 }],
  archiveTimeoutSeconds: 60,
  schedules: { full: 'Sun *-*-* 01:00:00 UTC', diff: 'Mon..Sat *-*-* 01:00:00 UTC' },
};

/** A three-node spec as PatroniCluster would fill it: VPC addresses, Debian paths, placeholders. */
export function ec2Spec(overrides: Partial<ClusterSpec> = {}): ClusterSpec {
  return {
    clusterName: 'orders-db',
    nodes: [
      { name: 'pg-0', address: '10.0.1.10' },
      { name: 'pg-1', address: '10.0.2.10' },
      { name: 'pg-2', address: '10.0.3.10' },
    ],
    ports: { postgres: 5432, restApi: 8008, etcdClient: 2379, etcdPeer: 2380, etcdMetrics: 2381, haproxyPrimary: 5000, haproxyReplica: 5001, haproxyHealth: 8404 },
    timing: {
      ttlSeconds: 30,
      loopWaitSeconds: 10,
      retryTimeoutSeconds: 10,
      haproxyCheckIntervalMs: 2000,
      haproxyFall: 3,
      haproxyRise: 2,
      etcdHeartbeatMs: 100,
      etcdElectionTimeoutMs: 1000,
    },
    synchronousMode: 'on',
    maximumLagOnFailoverBytes: 1048576,
    replicaMaxLagBytes: 16777216,
    watchdogMode: 'required',
    postgresVersion: 15,
    postgresParameters: { max_connections: 200, jit: 'off' },
    clusterCidrs: ['10.0.0.0/16'],
    clientCidrs: ['10.0.0.0/16', '10.1.0.0/16'],
    credentials: {
      superuser: { username: 'postgres', password: '__SUPERUSER_PASSWORD__' },
      replication: { username: 'replicator', password: '__REPLICATION_PASSWORD__' },
      rewind: { username: 'rewind_user', password: '__REWIND_PASSWORD__' },
      restApi: { username: 'patroni', password: '__RESTAPI_PASSWORD__' },
    },
    metricsNamespace: 'CdkFailover/orders-db',
    awsRegion: 'eu-west-1',
    processRoleArn: 'arn:aws:iam::123456789012:role/orders-db-ProcessRole',
    ...overrides,
  };
}

export function makeTmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `cdkf-${prefix}-`));
}

export function removeTmpDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export function nodeTree(root: string, name: string): NodePaths {
  const dir = path.join(root, name);
  return {
    configDir: path.join(dir, 'config'),
    dataDir: path.join(dir, 'pgdata'),
    binDir: '/usr/lib/postgresql/15/bin',
    socketDir: path.join(dir, 'socket'),
    pgpass: path.join(dir, 'pgpass'),
    etcdDataDir: path.join(dir, 'etcd'),
    logDir: path.join(dir, 'log'),
    runDir: path.join(dir, 'run'),
  };
}

/**
 * A loopback /24 of our own, 127.<random>.<random>.0: Linux routes all of 127/8 to lo, so nodes get
 * distinct addresses and nothing else on the machine (or another test file) listens there.
 */
export function randomLoopbackPrefix(): string {
  const octet = () => 20 + Math.floor(Math.random() * 230);
  return `127.${octet()}.${octet()}`;
}

/** A TCP port nothing listens on at `address` right now. */
export function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, address, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Distinct free ports for every ClusterPorts field (the same on every address of the prefix). */
export async function freePorts(addresses: string[]): Promise<ClusterSpec['ports']> {
  const names = ['postgres', 'restApi', 'etcdClient', 'etcdPeer', 'etcdMetrics', 'haproxyPrimary', 'haproxyReplica', 'haproxyHealth'] as const;
  const chosen = new Set<number>();
  const ports: Record<string, number> = {};
  for (const name of names) {
    for (;;) {
      const port = await freePort(addresses[0]);
      const freeEverywhere = (await Promise.all(addresses.slice(1).map((a) => isFree(a, port)))).every(Boolean);
      if (!chosen.has(port) && freeEverywhere) {
        chosen.add(port);
        ports[name] = port;
        break;
      }
    }
  }
  return ports as unknown as ClusterSpec['ports'];
}

function isFree(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, address, () => server.close(() => resolve(true)));
  });
}

/** A spec whose nodes live on loopback addresses, each with its own tree under `root`. */
export async function loopbackSpec(root: string, nodeCount: number, overrides: Partial<ClusterSpec> = {}): Promise<ClusterSpec> {
  const prefix = randomLoopbackPrefix();
  const nodes: ClusterNode[] = Array.from({ length: nodeCount }, (_, i) => ({
    name: `pg-${i}`,
    address: `${prefix}.${11 + i}`,
    paths: nodeTree(root, `pg-${i}`),
  }));
  const ports = await freePorts(nodes.map((n) => n.address));
  return ec2Spec({ nodes, ports, clusterCidrs: [`${prefix}.0/24`], clientCidrs: [`${prefix}.0/24`], watchdogMode: 'off', ...overrides });
}

/** Runs a command to completion (killed after `timeoutMs`), without a shell; a non-zero exit is a result, not an error. */
export function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  return runCommand(command, args, { ...options, allowFailure: true });
}

/** Polls `check` every 200 ms until it returns true or `timeoutMs` passes; says what it waited for. */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export interface Daemon {
  readonly pid: number;
  /** SIGTERM, then SIGKILL if it has not exited within 10 s. Only ever this process. */
  stop(): Promise<void>;
}

/** Starts `command` in the background, its output appended to `logFile`. */
export function startDaemon(command: string, args: string[], logFile: string): Daemon {
  const out = fs.openSync(logFile, 'a');
  const daemon = start(command, args, { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  // spawn() leaves the PID unset at once when the program cannot start (its error then follows).
  if (daemon.pid === undefined) throw new CommandError(`${command}: could not start (not installed?)`);
  return {
    pid: daemon.pid,
    async stop() {
      await daemon.stop(10_000);
    },
  };
}

/** The environment without PATRONI_* variables (Patroni would read them as configuration). */
export function envWithoutPatroni(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PATRONI_')));
}
