// A fake Patroni REST API on 127.0.0.1 (a real node:http server) for the client's unit tests.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization?: string;
  readonly body: string;
}

export type Handler = (req: RecordedRequest) => { status: number; body: unknown } | 'hang' | 'close';

export class FakePatroni {
  public readonly requests: RecordedRequest[] = [];
  public handler: Handler = () => ({ status: 404, body: 'not found' });
  private server?: http.Server;
  private readonly sockets = new Set<import('node:net').Socket>();

  public async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const recorded = { method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization, body: Buffer.concat(chunks).toString('utf8') };
        this.requests.push(recorded);
        const answer = this.handler(recorded);
        if (answer === 'hang') return; // never answers
        if (answer === 'close') {
          req.socket.destroy();
          return;
        }
        const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
        res.writeHead(answer.status, { 'Content-Type': typeof answer.body === 'string' ? 'text/plain' : 'application/json' });
        res.end(text);
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  public async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** A base URL on which nothing listens (connection refused). */
export async function refusedUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** GET /cluster as Patroni 3.0.2 answers it: a leader, a sync standby, an async replica. */
export function clusterView(base: string, overrides: Partial<Record<string, Record<string, unknown>>> = {}): unknown {
  const member = (name: string, role: string, extra: Record<string, unknown>) => ({
    name,
    role,
    state: 'running',
    api_url: `${base}/patroni`,
    host: `10.0.0.${name.slice(-1)}`,
    port: 5432,
    timeline: 3,
    ...extra,
    ...(overrides[name] ?? {}),
  });
  return {
    members: [member('pg-0', 'leader', {}), member('pg-1', 'sync_standby', { lag: 0 }), member('pg-2', 'replica', { lag: 2048 })],
  };
}
