// A TCP proxy on 127.0.0.1 between the pool under test and a real PostgreSQL, to make the
// failures a failover makes: refused connections, resets, connections that hang, and a
// connection lost after a statement reached the server but before its answer came back.
import * as net from 'node:net';

interface Pair {
  readonly client: net.Socket;
  upstream?: net.Socket;
  /** Answers from the server are dropped. */
  muted: boolean;
}

export interface CutOptions {
  /** How long the server gets to run the statement before the client's connection is reset. @default 300 */
  readonly afterMs?: number;
}

export class TcpProxy {
  public static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await proxy.listen(0);
    return proxy;
  }

  /** Connections accepted so far. */
  public accepted = 0;
  /** 'forward' passes bytes; 'blackhole' accepts and then never answers (a frozen server). */
  public mode: 'forward' | 'blackhole' = 'forward';
  private server: net.Server | undefined;
  private portNumber = 0;
  private readonly pairs = new Set<Pair>();
  private cut: { pattern: RegExp; afterMs: number; resolve: () => void } | undefined;

  private constructor(private readonly target: { host: string; port: number }) {}

  public get port(): number {
    return this.portNumber;
  }

  public get open(): number {
    return this.pairs.size;
  }

  /** Stops listening: new connections are refused (ECONNREFUSED); open ones carry on. */
  public refuse(): void {
    // close() stops listening at once; its callback would wait for the open connections.
    this.server?.close();
    this.server = undefined;
  }

  /** Listens again on the same port. */
  public async accept(): Promise<void> {
    if (!this.server) await this.listen(this.portNumber);
  }

  /** Resets (RST) every open connection, both sides. */
  public reset(): void {
    for (const pair of this.pairs) this.destroy(pair, true);
  }

  /**
   * The next client bytes matching `pattern` reach the server, but its answer never comes back:
   * the client's connection is reset `afterMs` later. Resolves when the cut happened.
   */
  public cutAfter(pattern: RegExp, options: CutOptions = {}): Promise<void> {
    return new Promise((resolve) => {
      this.cut = { pattern, afterMs: options.afterMs ?? 300, resolve };
    });
  }

  public close(): void {
    this.reset();
    this.refuse();
  }

  private listen(port: number): Promise<void> {
    const server = net.createServer((socket) => this.onConnection(socket));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.removeListener('error', reject);
        this.server = server;
        this.portNumber = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  }

  private onConnection(client: net.Socket): void {
    this.accepted++;
    const pair: Pair = { client, muted: false };
    this.pairs.add(pair);
    client.on('error', () => this.destroy(pair, false));
    client.on('close', () => this.destroy(pair, false));
    if (this.mode === 'blackhole') return;
    const upstream = net.connect(this.target.port, this.target.host);
    pair.upstream = upstream;
    upstream.on('error', () => this.destroy(pair, true));
    upstream.on('close', () => this.destroy(pair, false));
    upstream.on('data', (chunk) => {
      if (!pair.muted && !client.destroyed) client.write(chunk);
    });
    client.on('data', (chunk) => {
      const cut = this.cut;
      if (cut && cut.pattern.test(chunk.toString('latin1'))) {
        this.cut = undefined;
        pair.muted = true;
        setTimeout(() => {
          this.destroy(pair, true);
          cut.resolve();
        }, cut.afterMs);
      }
      if (!upstream.destroyed) upstream.write(chunk);
    });
  }

  private destroy(pair: Pair, reset: boolean): void {
    if (!this.pairs.delete(pair)) return;
    for (const socket of [pair.client, pair.upstream]) {
      if (!socket || socket.destroyed) continue;
      if (reset && typeof socket.resetAndDestroy === 'function' && !socket.connecting) socket.resetAndDestroy();
      else socket.destroy();
    }
  }
}
