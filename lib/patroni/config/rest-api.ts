// Patroni's REST API as the other programs reach it: its URL, and the CA its certificate is checked against.
import { findNode } from './nodes';
import { nodePaths } from './paths';
import { httpBase } from './python-program';
import { ClusterNode, ClusterSpec } from './spec';
import { tlsFilePath } from './tls';

/** `https://address:port` with TLS, else `http://`. */
export function restApiUrl(spec: ClusterSpec, node: ClusterNode): string {
  return httpBase(node.address, spec.ports.restApi, spec.tls ? 'https' : 'http');
}

/** The CA file on `nodeName` that REST API certificates are checked against; null without TLS. */
export function restApiCaFile(spec: ClusterSpec, nodeName: string): string | null {
  const node = findNode(spec, nodeName);
  return spec.tls ? tlsFilePath(nodePaths(spec, node), 'caCert') : null;
}
