// What the certificate rotation tests check of a renewed CA on a running cluster, processes or booted.
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LocalCluster } from '../../lib/local';

/** When etcd's process on the node started (its own metrics, on the plain-HTTP metrics port): a restart moves it. */
export async function etcdStartTime(cluster: LocalCluster, name: string): Promise<number> {
  const address = cluster.nodeAddress(name);
  const r = await cluster.runInClient(['curl', '-sS', '--max-time', '5', `http://${address}:${cluster.spec.ports.etcdMetrics}/metrics`], { timeoutMs: 15_000 });
  const line = /^process_start_time_seconds (\S+)$/m.exec(r.stdout);
  if (!line) throw new Error(`no process_start_time_seconds in etcd's metrics on ${name}: ${r.stdout.slice(0, 200)}`);
  return Number(line[1]);
}

/** Whether a TLS client holding `caPem` alone verifies what the node serves on `port` (etcd's client port: a client certificate is shown). */
export async function verifiesWith(cluster: LocalCluster, name: string, port: number, caPem: string): Promise<string> {
  const tls = cluster.etcdClientTls!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ca-'));
  try {
    const caFile = path.join(dir, 'ca.crt');
    fs.writeFileSync(caFile, caPem);
    fs.chmodSync(dir, 0o755);
    const address = cluster.nodeAddress(name);
    const r = await cluster.runInClient(
      ['openssl', 's_client', '-connect', `${address}:${port}`, '-CAfile', caFile, '-cert', tls.certFile, '-key', tls.keyFile, '-verify_return_error'],
      { allowFailure: true, timeoutMs: 15_000, input: '' },
    );
    return /Verify return code: (.*)$/m.exec(r.stdout)?.[1] ?? `no verdict: ${r.stderr.trim().split('\n')[0]}`;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Same subject and key, another certificate: a renewal, not a new CA. */
export function isRenewalOf(before: string, after: string): boolean {
  const [a, b] = [new X509Certificate(before), new X509Certificate(after)];
  return a.subject === b.subject && a.serialNumber !== b.serialNumber && a.publicKey.export({ type: 'spki', format: 'der' }).equals(b.publicKey.export({ type: 'spki', format: 'der' }));
}
