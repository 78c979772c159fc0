import { LocalClusterError } from './errors';
import { run, runInNamespace } from './exec';

/**
 * Every namespace the local cluster makes is named `cdkfo-<cluster>-<part>`, so that `down` can
 * find what a crashed run left behind without its state file.
 */
export const NAMESPACE_PREFIX = 'cdkfo-';

/** The interface name inside every node and client namespace. */
export const POD_INTERFACE = 'eth0';
/** The bridge, inside the switch namespace. */
export const BRIDGE = 'br0';

export function namespacePrefix(clusterName: string): string {
  return `${NAMESPACE_PREFIX}${clusterName}-`;
}

/** One namespace joined to the switch: a node or the client. */
export interface Attachment {
  readonly namespace: string;
  /** The veth end that stays in the switch namespace, enslaved to the bridge (at most 15 chars). */
  readonly switchPort: string;
  readonly address: string;
}

export interface NetworkPlan {
  readonly switchNamespace: string;
  readonly prefixLength: number;
  readonly attachments: readonly Attachment[];
}

/** Namespaces that exist now, by name. */
export async function listNamespaces(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0])
    .filter((name): name is string => !!name);
}

export async function namespaceExists(namespace: string): Promise<boolean> {
  return (await listNamespaces()).includes(namespace);
}

/** PIDs of every process whose network namespace is `namespace` (`ip netns pids`). */
export async function namespacePids(namespace: string): Promise<number[]> {
  const result = await run('ip', ['netns', 'pids', namespace], { allowFailure: true, timeoutMs: 10_000 });
  if (result.code !== 0) return [];
  return result.stdout
    .split(/\s+/)
    .filter((word) => /^\d+$/.test(word))
    .map(Number);
}

async function ip(namespace: string, args: readonly string[]): Promise<void> {
  await run('ip', ['-n', namespace, ...args], { timeoutMs: 10_000 });
}

/** Turns IPv6 off for interfaces created from now on, so nothing autoconfigures or chatters. */
async function quietIpv6(namespace: string): Promise<void> {
  await runInNamespace(namespace, ['sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1'], {
    allowFailure: true,
    timeoutMs: 10_000,
  });
}

async function addNamespace(namespace: string): Promise<void> {
  await run('ip', ['netns', 'add', namespace], { timeoutMs: 10_000 });
  await quietIpv6(namespace);
  await ip(namespace, ['link', 'set', 'lo', 'up']);
}

/**
 * Creates the switch namespace with its bridge, then every attached namespace with a veth pair
 * whose ends are created directly in the switch and in the attached namespace: the root namespace
 * never holds an interface or an address of the cluster. No default route anywhere.
 */
export async function createNetwork(plan: NetworkPlan): Promise<void> {
  await addNamespace(plan.switchNamespace);
  await ip(plan.switchNamespace, ['link', 'add', BRIDGE, 'type', 'bridge']);
  await ip(plan.switchNamespace, ['link', 'set', BRIDGE, 'up']);
  for (const a of plan.attachments) {
    if (a.switchPort.length > 15) throw new LocalClusterError(`interface name too long: ${a.switchPort}`);
    await addNamespace(a.namespace);
    await ip(plan.switchNamespace, ['link', 'add', a.switchPort, 'type', 'veth', 'peer', 'name', POD_INTERFACE, 'netns', a.namespace]);
    await ip(plan.switchNamespace, ['link', 'set', a.switchPort, 'master', BRIDGE]);
    await ip(plan.switchNamespace, ['link', 'set', a.switchPort, 'up']);
    await ip(a.namespace, ['addr', 'add', `${a.address}/${plan.prefixLength}`, 'dev', POD_INTERFACE]);
    await ip(a.namespace, ['link', 'set', POD_INTERFACE, 'up']);
  }
}

/** Sets a namespace's cluster interface up or down (partition and heal). */
export async function setInterfaceUp(namespace: string, up: boolean): Promise<void> {
  await ip(namespace, ['link', 'set', POD_INTERFACE, up ? 'up' : 'down']);
}

export async function interfaceIsUp(namespace: string): Promise<boolean> {
  const result = await run('ip', ['-n', namespace, '-o', 'link', 'show', POD_INTERFACE], { allowFailure: true, timeoutMs: 10_000 });
  return result.code === 0 && /[<,]UP[,>]/.test(result.stdout);
}

/** Removes a namespace (its interfaces go with it; the veth peer in the switch goes too). */
export async function deleteNamespace(namespace: string): Promise<void> {
  const result = await run('ip', ['netns', 'del', namespace], { allowFailure: true, timeoutMs: 10_000 });
  if (result.code !== 0 && (await namespaceExists(namespace))) {
    throw new LocalClusterError(`could not remove namespace ${namespace}: ${result.stderr.trim()}`);
  }
}
