import { runInNamespace } from './exec';

/** An HTTP answer; `status` 0 when no answer came (refused, unreachable, timed out). */
export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
  /** Why there was no answer, when status is 0. */
  readonly error?: string;
}

export interface HttpsOptions {
  readonly caFile: string;
  /** A client certificate (with `keyFile`), for servers that ask for one (etcd). */
  readonly certFile?: string;
  readonly keyFile?: string;
}

export interface HttpRequest {
  readonly method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  readonly url: string;
  /** JSON-serialized as the request body. */
  readonly json?: unknown;
  readonly auth?: { readonly username: string; readonly password: string };
  /** @default 2000 */
  readonly timeoutMs?: number;
  /** HTTPS: the CA the server's certificate (and address) must check against, and a client certificate to show. */
  readonly tls?: HttpsOptions;
}

/**
 * HTTP from inside a namespace, with curl: Node cannot enter a network namespace itself. The
 * credentials and the body go through stdin, not the command line.
 */
export async function httpInNamespace(namespace: string, request: HttpRequest): Promise<HttpAnswer> {
  const timeoutMs = request.timeoutMs ?? 2000;
  const config: string[] = [];
  if (request.auth) config.push(`user = "${request.auth.username}:${request.auth.password}"`);
  if (request.tls) config.push(`cacert = "${request.tls.caFile}"`);
  if (request.tls?.certFile) config.push(`cert = "${request.tls.certFile}"`, `key = "${request.tls.keyFile}"`);
  if (request.json !== undefined) {
    config.push('header = "Content-Type: application/json"');
    config.push(`data = ${JSON.stringify(JSON.stringify(request.json))}`);
  }
  const argv = [
    'curl', '-sS', '--noproxy', '*', '-K', '-',
    '--max-time', String(timeoutMs / 1000), '--connect-timeout', String(timeoutMs / 1000),
    '-X', request.method ?? 'GET', '-o', '-', '-w', '\n%{http_code}', request.url,
  ];
  const result = await runInNamespace(namespace, argv, {
    allowFailure: true,
    timeoutMs: timeoutMs + 5000,
    input: `${config.join('\n')}\n`,
  });
  const cut = result.stdout.lastIndexOf('\n');
  const status = Number(result.stdout.slice(cut + 1).trim()) || 0;
  const body = cut >= 0 ? result.stdout.slice(0, cut) : '';
  if (result.code !== 0 || status === 0) {
    // curl's first line says why (its TLS errors go on with paragraphs of advice).
    const why = result.stderr.trim().split('\n')[0]!.replace(/^curl: \(\d+\)\s*/, '');
    return { status: 0, body, error: why || `curl exited with ${result.code}` };
  }
  return { status, body };
}

/** A member as Patroni 3.0.2's GET /cluster lists it. */
export interface PatroniMember {
  readonly name: string;
  /** 'leader' | 'sync_standby' | 'replica' | 'standby_leader' */
  readonly role: string;
  /** 'running' | 'starting' | 'stopped' | 'crashed' | 'creating replica' | ... */
  readonly state: string;
  readonly api_url?: string;
  readonly host?: string;
  readonly port?: number;
  readonly timeline?: number;
  /** Bytes behind the leader; 'unknown' when Patroni does not know. Absent on the leader. */
  readonly lag?: number | 'unknown';
}

/** A member's state when it runs: 'running' (Patroni 3.x, every role), 'streaming' (4.x replicas). */
export function isRunningState(state: string): boolean {
  return state === 'running' || state === 'streaming';
}

export interface PatroniClusterView {
  readonly members: readonly PatroniMember[];
  readonly pause?: boolean;
}

/** A standby as the leader's GET /patroni `replication` lists it (pg_stat_replication). */
export interface PatroniReplicationEntry {
  readonly usename?: string;
  readonly application_name: string;
  readonly client_addr?: string;
  readonly state: string;
  readonly sync_state: string;
  readonly sync_priority?: number;
}

/** The part of GET /patroni the local cluster reads. */
export interface PatroniNodeStatus {
  readonly state: string;
  readonly role: string;
  readonly timeline?: number;
  readonly replication?: readonly PatroniReplicationEntry[];
  readonly patroni?: { readonly version?: string; readonly scope?: string };
  /** A node in recovery: what it has replayed; `replayed_timestamp` is Python's str() of a datetime with its zone. */
  readonly xlog?: { readonly replayed_location?: number; readonly replayed_timestamp?: string | null };
}

export function parseJson<T>(answer: HttpAnswer): T | undefined {
  if (answer.status === 0 || !answer.body) return undefined;
  try {
    return JSON.parse(answer.body) as T;
  } catch {
    return undefined;
  }
}
