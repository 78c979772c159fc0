import { randomInt } from 'node:crypto';
import type { ClusterSpec, ClusterTiming } from '../patroni/config/spec';
import { PRODUCTION_PORTS } from '../patroni/config/ports';
import { nodePaths } from './layout';

/** The private /24 used only inside the cluster's namespaces (never on the host). */
export const SUBNET_BASE = '10.213.77';
export const SUBNET = `${SUBNET_BASE}.0/24`;
export const PREFIX_LENGTH = 24;
export const CLIENT_ADDRESS = `${SUBNET_BASE}.100`;
export const POSTGRES_VERSION = 15;

/** The production ports, unchanged: each node has a namespace of its own. */
export const PORTS = PRODUCTION_PORTS;

export function nodeName(index: number): string {
  return `pg-${index}`;
}

export function nodeAddress(index: number): string {
  return `${SUBNET_BASE}.${11 + index}`;
}

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

/** A random password of letters and digits only: safe unquoted in YAML, URIs and pgpass. */
export function generatePassword(length = 24): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

export interface LocalSpecOptions {
  readonly clusterName: string;
  readonly nodeCount: number;
  readonly timing: ClusterTiming;
  /** Where the node trees go: `<clusterDir>/<node>`. */
  readonly clusterDir: string;
}

/** The renderers' input for a local cluster: namespace addresses, per-node trees, fresh passwords. */
export function buildLocalSpec(options: LocalSpecOptions): ClusterSpec {
  const nodes = Array.from({ length: options.nodeCount }, (_, i) => ({
    name: nodeName(i),
    address: nodeAddress(i),
    paths: nodePaths(`${options.clusterDir}/${nodeName(i)}`, POSTGRES_VERSION),
  }));
  return {
    clusterName: options.clusterName,
    nodes,
    ports: { ...PORTS },
    timing: { ...options.timing },
    synchronousMode: 'on',
    maximumLagOnFailoverBytes: 1024 * 1024,
    replicaMaxLagBytes: 16 * 1024 * 1024,
    watchdogMode: 'off',
    postgresVersion: POSTGRES_VERSION,
    // Five PostgreSQL servers share one small machine.
    postgresParameters: { shared_buffers: '64MB' },
    clusterCidrs: [SUBNET],
    clientCidrs: [SUBNET],
    credentials: {
      superuser: { username: 'postgres', password: generatePassword() },
      replication: { username: 'replicator', password: generatePassword() },
      rewind: { username: 'rewind_user', password: generatePassword() },
      restApi: { username: 'patroni', password: generatePassword() },
    },
    metricsNamespace: 'CdkFailover/Local',
    // etcd's links with certificates from the cluster's own CA (LocalCluster issues them).
    tls: true,
    // The CLI and the tests send REST API writes from the client namespace.
    operatorCidrs: [`${CLIENT_ADDRESS}/32`],
  };
}
