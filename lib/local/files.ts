import * as fs from 'node:fs';
import * as path from 'node:path';
import { configFilePath, HAPROXY_HEALTH_PATHS, pgBackRestConfigPath, renderNodeConfigFiles, type ClusterSpec, type NodePaths } from '../patroni/config';
import { LocalClusterError } from './errors';
import { renderFrontConfig } from './front';
import type { FileToWrite } from './layout';
import type { NodeService } from './state';

/** The front's (NLB stand-in's) config file, in the client directory. */
export const FRONT_CONFIG = 'front.cfg';

/**
 * Exactly the files lib/patroni/config renders for the node (`renderNodeConfigFiles`, the same
 * list the EC2 bootstrap writes), with their modes and owners.
 */
export function renderNodeFiles(spec: ClusterSpec, nodeName: string): FileToWrite[] {
  return renderNodeConfigFiles(spec, nodeName).map((f) => ({
    path: f.path,
    content: f.content,
    mode: parseInt(f.mode, 8),
    owner: { uid: lookupId('/etc/passwd', f.owner), gid: lookupId('/etc/group', f.group) },
  }));
}

function lookupId(file: string, name: string): number {
  if (name === 'root') return 0;
  const line = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new LocalClusterError(`no ${file === '/etc/group' ? 'group' : 'user'} '${name}' on this machine`);
  return Number(line.split(':')[2]);
}

/** The command line of a node's service, as the rendered systemd units run it (in the foreground). */
export function nodeServiceArgv(service: NodeService, paths: NodePaths): string[] {
  switch (service) {
    case 'etcd':
      return ['/usr/bin/etcd', '--config-file', configFilePath(paths, 'etcd')];
    case 'patroni':
      return ['/usr/bin/patroni', configFilePath(paths, 'patroni')];
    case 'haproxy':
      // The unit runs `-Ws` (master-worker, systemd notify); here one foreground process.
      return ['/usr/sbin/haproxy', '-db', '-f', configFilePath(paths, 'haproxy')];
    case 'pgbackrest':
      return ['/usr/bin/pgbackrest', `--config=${pgBackRestConfigPath(paths)}`, 'server'];
  }
}

export function frontFiles(spec: ClusterSpec, clientAddress: string, clientDir: string): FileToWrite[] {
  const content = renderFrontConfig({
    address: clientAddress,
    writerPort: spec.ports.haproxyPrimary,
    readerPort: spec.ports.haproxyReplica,
    nodes: spec.nodes,
    nodePorts: { primary: spec.ports.haproxyPrimary, replica: spec.ports.haproxyReplica, health: spec.ports.haproxyHealth },
    healthPath: HAPROXY_HEALTH_PATHS.alive,
    statsSocket: path.join(clientDir, 'front.sock'),
  });
  return [{ path: path.join(clientDir, FRONT_CONFIG), content, mode: 0o644 }];
}
