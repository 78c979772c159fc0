import * as fs from 'node:fs';
import * as path from 'node:path';
import { LocalClusterError, oneLine } from './errors';
import { run } from './exec';
import { clusterDir, stateFile } from './layout';
import { deleteNamespace, listNamespaces, namespacePids, namespacePrefix } from './network';
import { removeNamespaceHosts } from './backup/repository';
import { isRunning, killNamespace, signal, waitForExitOf } from './processes';
import { readState, type LocalClusterState } from './state';
import { markStackDeleting, releaseBootedResources } from './boot/booted-nodes';

export interface TeardownReport {
  /** Namespaces removed. */
  readonly namespaces: string[];
  /** Processes that were still running and were stopped. */
  readonly processes: number;
  /** Whether the cluster's directory existed and was removed. */
  readonly removedDir: boolean;
  /** Orphaned PostgreSQL shared-memory segments removed. */
  readonly sharedMemorySegments: number;
}

/**
 * Removes every namespace, process and file of one local cluster. Works from the state file when
 * there is one and from the naming convention when there is not (a crash before the state was
 * written, or a state file that is unreadable). Idempotent.
 */
export async function teardown(clusterName: string, stateRoot: string, log: (line: string) => void = () => undefined): Promise<TeardownReport> {
  const dir = clusterDir(stateRoot, clusterName);
  let state: LocalClusterState | undefined;
  try {
    state = readState(stateFile(stateRoot, clusterName));
  } catch (err) {
    log(`ignoring unreadable state: ${oneLine(err)}`);
  }
  const prefix = namespacePrefix(clusterName);
  const present = new Set(await listNamespaces());
  const ours = new Set([...present].filter((ns) => ns.startsWith(prefix)));
  if (state) {
    for (const ns of [state.switchNamespace, state.client.namespace, ...state.nodes.map((n) => n.namespace)]) {
      if (present.has(ns)) ours.add(ns);
    }
  }
  const namespaces = [...ours];

  // 0. Booted nodes: the stack is deleted, as `cdk destroy` does it; a node's shutdown that reads
  //    its instance DELETE_IN_PROGRESS does not drain (their containers are killed below anyway).
  markStackDeleting(dir, log);

  // 1. Stop PostgreSQL the clean way first, so it removes its shared memory: Patroni goes first
  //    (SIGKILL, so it cannot start PostgreSQL again), then each postmaster gets SIGQUIT.
  if (namespaces.length) log(`stopping what runs in ${namespaces.length} namespaces`);
  const pidsByNamespace = new Map(await Promise.all(namespaces.map(async (ns) => [ns, await namespacePids(ns)] as const)));
  const ourPids = new Set([...pidsByNamespace.values()].flat());
  const processes = [...ourPids].filter(isRunning).length;
  for (const pid of ourPids) signal(pid, 'SIGCONT');
  const patronis = (state?.nodes ?? [])
    .map((n) => n.processes.patroni?.pid)
    .filter((pid): pid is number => pid !== undefined && ourPids.has(pid) && isRunning(pid));
  for (const pid of patronis) signal(pid, 'SIGKILL');
  await waitForExitOf(patronis, 5000);
  const postmasters = dataDirs(dir, state)
    .map(postmasterPid)
    .filter((pid): pid is number => pid !== undefined && ourPids.has(pid) && isRunning(pid));
  for (const pid of postmasters) signal(pid, 'SIGQUIT');
  const stubborn = await waitForExitOf(postmasters, 10_000);
  if (stubborn.length) log(`PostgreSQL ${stubborn.join(', ')} ignored SIGQUIT for 10 s; killing it`);

  // 2. Whatever is left in our namespaces is SIGKILLed, then the namespaces go (nodes and client
  //    first, the switch last; their veth pairs go with them).
  await Promise.all(namespaces.map((ns) => killNamespace(ns)));
  const switchLast = (ns: string) => (ns === state?.switchNamespace || ns === `${prefix}sw` ? 1 : 0);
  for (const ns of namespaces.sort((a, b) => switchLast(a) - switchLast(b))) {
    await deleteNamespace(ns);
    log(`removed namespace ${ns}`);
  }
  removeNamespaceHosts(prefix);

  // 2b. Booted nodes: their containers died with their namespaces' processes; nspawn, the node
  //     roots and the data volumes' loop devices are on this machine's side.
  const nspawnPids = (state?.nodes ?? []).map((n) => n.boot?.nspawn?.pid).filter((pid): pid is number => pid !== undefined);
  await releaseBootedResources(dir, nspawnPids, log);

  // 3. A postmaster killed with SIGKILL leaves its System V segment behind: remove ours.
  let sharedMemorySegments = 0;
  for (const dataDir of dataDirs(dir, state)) {
    if (await removeOrphanSegment(dataDir)) sharedMemorySegments++;
  }

  // 4. The files.
  const removedDir = fs.existsSync(dir);
  if (removedDir) {
    log(`removing ${dir}`);
    if (path.dirname(dir) !== path.resolve(stateRoot) || path.basename(dir) !== clusterName) {
      throw new LocalClusterError(`refusing to remove ${dir}: not <state root>/<cluster>`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { namespaces, processes, removedDir, sharedMemorySegments };
}

/** Refuses a cluster name in use (its state, or anything left of it): `what` says why it must be new. */
export async function checkNewCluster(clusterName: string, stateRoot: string, what: string): Promise<void> {
  if (fs.existsSync(stateFile(stateRoot, clusterName)) || (await leftoversExist(clusterName, stateRoot))) {
    throw new LocalClusterError(`cluster '${clusterName}' exists: ${what} (choose another name, or remove it first with 'failover local down --cluster ${clusterName}')`);
  }
}

/** Whether anything of this cluster exists: its state directory or a namespace with its prefix. */
export async function leftoversExist(clusterName: string, stateRoot: string): Promise<boolean> {
  if (fs.existsSync(clusterDir(stateRoot, clusterName))) return true;
  const prefix = namespacePrefix(clusterName);
  return (await listNamespaces()).some((ns) => ns.startsWith(prefix));
}

function dataDirs(dir: string, state: LocalClusterState | undefined): string[] {
  // A booted node's paths are inside its container (and on its volume), never this machine's.
  const dirs = new Set(state?.mode === 'booted' ? [] : (state?.nodes.map((n) => n.paths.dataDir) ?? []));
  try {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) dirs.add(path.join(dir, entry.name, 'data'));
    }
  } catch {
    // no directory
  }
  return [...dirs];
}

function postmasterLines(dataDir: string): string[] | undefined {
  try {
    return fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return undefined;
  }
}

function postmasterPid(dataDir: string): number | undefined {
  const pid = Number(postmasterLines(dataDir)?.[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * postmaster.pid's 7th line holds the key and id of the postmaster's System V segment. Remove
 * that segment when nothing is attached to it any more (and only that one).
 */
async function removeOrphanSegment(dataDir: string): Promise<boolean> {
  const line = postmasterLines(dataDir)?.[6]?.trim();
  if (!line) return false;
  const [key, id] = line.split(/\s+/).map(Number);
  if (!Number.isInteger(key) || !Number.isInteger(id)) return false;
  let table: string;
  try {
    table = fs.readFileSync('/proc/sysvipc/shm', 'utf8');
  } catch {
    return false;
  }
  // key shmid perms size cpid lpid nattch ...
  const row = table
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/).map(Number))
    .find((cols) => cols[0] === key && cols[1] === id);
  if (!row || row[6] !== 0) return false;
  const result = await run('ipcrm', ['-m', String(id)], { allowFailure: true, timeoutMs: 10_000 });
  return result.code === 0;
}
