// apt's proxy for Debian's archive, for nodes without a route to the internet (NodeEgress.private).
import { shellQuote } from './shell';
import { ClusterSpec } from './spec';

/** Always written (empty of settings without a proxy), so that removing the proxy reaches the nodes too. */
export const APT_PROXY_FILE = '/etc/apt/apt.conf.d/90cdk-failover-proxy';

const PROXY_URL = /^http:\/\/[A-Za-z0-9.-]+(:\d{1,5})?\/?$/;

/** Checks an apt proxy URL: `http://host[:port]` (apt reaches https:// archives through it by CONNECT). */
export function checkAptProxy(url: string, prop = 'aptProxy'): void {
  const port = Number(/:(\d+)\/?$/.exec(url)?.[1] ?? 80);
  if (!PROXY_URL.test(url) || port < 1 || port > 65535) {
    throw new Error(`${prop} must be an http://host[:port] URL as apt takes it (no credentials, path or https), got '${url}'`);
  }
}

/** The TCP port of an apt proxy URL (80 when it names none). */
export function aptProxyPort(url: string): number {
  checkAptProxy(url);
  return Number(/:(\d+)\/?$/.exec(url)?.[1] ?? 80);
}

/** ` -o Acquire::http::Proxy=... -o Acquire::https::Proxy=...` for an apt-get command line, or '' without a proxy. */
export function aptProxyOptions(spec: ClusterSpec): string {
  if (spec.aptProxy === undefined) return '';
  checkAptProxy(spec.aptProxy);
  return ['http', 'https'].map((scheme) => ` -o ${shellQuote(`Acquire::${scheme}::Proxy=${spec.aptProxy}`)}`).join('');
}

export function renderAptProxyConfig(spec: ClusterSpec): string {
  const header = '// Rendered by cdk-failover: edits are overwritten.';
  if (spec.aptProxy === undefined) return `${header}\n// No proxy: Debian's archive is reached directly (NodeEgress.internet).\n`;
  checkAptProxy(spec.aptProxy);
  return `${header}\nAcquire::http::Proxy "${spec.aptProxy}";\nAcquire::https::Proxy "${spec.aptProxy}";\n`;
}
