import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ClusterSpec, NodePaths } from '../patroni/config/spec';
import { backsUpFromStandby } from '../patroni/config/pgbackrest';
import { LocalClusterError } from './errors';
import type { BootedClusterState, BootedNodeState } from './boot/booted-nodes';
import type { ProcessRecord } from './processes';

/** The services a node may run, in start order (`pgbackrest`: its TLS server, see nodeServices). */
export const NODE_SERVICES = ['etcd', 'patroni', 'haproxy', 'pgbackrest'] as const;
export type NodeService = (typeof NODE_SERVICES)[number];

/** The services a node of `spec` runs: pgBackRest's TLS server with backups and TLS (backups from a replica). */
export function nodeServices(spec: ClusterSpec): NodeService[] {
  return NODE_SERVICES.filter((service) => service !== 'pgbackrest' || backsUpFromStandby(spec));
}

/** Faults in force on a node, as this tool injected them. */
export interface NodeFaults {
  /** Every process SIGKILLed (`fault kill`). */
  readonly killed?: boolean;
  /** Every process SIGSTOPped (`fault freeze`). */
  readonly frozen?: boolean;
  /** The node's interface down (`fault partition`). */
  readonly partitioned?: boolean;
  /** Its etcd member SIGKILLed alone (`fault kill-etcd`). */
  readonly etcdKilled?: boolean;
}

export interface LocalNodeState {
  readonly name: string;
  readonly address: string;
  readonly namespace: string;
  /** The node's veth end in the switch namespace. */
  readonly switchPort: string;
  /** The node's tree under the state directory. */
  readonly dir: string;
  readonly paths: NodePaths;
  processes: Partial<Record<NodeService, ProcessRecord>>;
  faults: NodeFaults;
  /** Booted mode: the node's container, instance layer and data volume. */
  boot?: BootedNodeState;
}

export interface LocalClientState {
  readonly namespace: string;
  readonly address: string;
  readonly switchPort: string;
  readonly dir: string;
  /** The NLB stand-in: a TCP HAProxy in the client namespace in front of every node's HAProxy. */
  processes: {
    front?: ProcessRecord;
    /** The backup repository's S3 stand-in. */
    s3?: ProcessRecord;
    /** A streaming standby's link to its primary's writer endpoint (lib/local/peering.ts). */
    peering?: ProcessRecord;
  };
}

/** A streaming standby's way to its primary's writer endpoint (the link between two "regions"). */
export interface StandbyPeeringState {
  readonly primaryNamespace: string;
  readonly primaryAddress: string;
  readonly primaryPort: number;
  /** The primary's database CA, which the standby's nodes add to theirs to check it (TLS only). */
  readonly primaryDatabaseCaPem?: string;
}

/** 'processes': the services run directly in namespaces; 'booted': each node is a booted container. */
export type ClusterMode = 'processes' | 'booted';

export type ClusterPhase = 'creating' | 'starting' | 'ready' | 'failed';

/**
 * Everything a new CLI process needs to find, reach, break and remove the cluster. Written with
 * mode 0600: it holds the generated passwords.
 */
export interface LocalClusterState {
  readonly version: 1;
  readonly clusterName: string;
  readonly stateRoot: string;
  readonly dir: string;
  phase: ClusterPhase;
  readonly createdAt: string;
  /** The profile name, or 'custom'. */
  timingProfile: string;
  readonly subnet: string;
  readonly prefixLength: number;
  readonly switchNamespace: string;
  readonly client: LocalClientState;
  /** A standby made with `--streaming`: how it reaches its primary. */
  readonly peering?: StandbyPeeringState;
  readonly nodes: LocalNodeState[];
  /** The spec the renderers got, so a healed node is restarted with the same files. */
  spec: ClusterSpec;
  /** @default 'processes' (state files written before booted mode existed) */
  readonly mode?: ClusterMode;
  /** Booted mode: image, stand-ins. */
  boot?: BootedClusterState;
}

export function readState(file: string): LocalClusterState | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let state: LocalClusterState;
  try {
    state = JSON.parse(text) as LocalClusterState;
  } catch {
    throw new LocalClusterError(`state file ${file} is not valid JSON; run 'failover local down' to clear it`);
  }
  if (state.version !== 1) throw new LocalClusterError(`state file ${file} has unknown version ${String(state.version)}`);
  return state;
}

/** Writes the state atomically (a reader never sees half a file). */
export function writeState(file: string, state: LocalClusterState): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}
