// Looking a node up in the spec, with the error a caller can act on.
import { ClusterNode, ClusterSpec } from './spec';

/** Throws unless the spec has at least one node and its node names and addresses are unique. */
export function checkNodes(spec: ClusterSpec): void {
  if (spec.nodes.length === 0) {
    throw new Error(`nodes of cluster '${spec.clusterName}' must not be empty`);
  }
  for (const key of ['name', 'address'] as const) {
    const seen = new Set<string>();
    for (const node of spec.nodes) {
      if (seen.has(node[key])) {
        throw new Error(`nodes of cluster '${spec.clusterName}' must have unique ${key}s, got '${node[key]}' twice`);
      }
      seen.add(node[key]);
    }
  }
}

/** The node called `nodeName`, or an error naming the value and the names the spec has. */
export function findNode(spec: ClusterSpec, nodeName: string): ClusterNode {
  checkNodes(spec);
  const node = spec.nodes.find((n) => n.name === nodeName);
  if (!node) {
    const known = spec.nodes.map((n) => `'${n.name}'`).join(', ');
    throw new Error(`nodeName '${nodeName}' is not a node of cluster '${spec.clusterName}' (expected one of ${known})`);
  }
  return node;
}
