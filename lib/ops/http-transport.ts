import * as http from 'node:http';
import * as https from 'node:https';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { httpInNamespace, type HttpAnswer, type HttpRequest, type HttpsOptions } from '../local/rest';

export type { HttpAnswer, HttpRequest } from '../local/rest';

/** An HTTP answer, or (status 0) why none came and whether the request may have reached the server. */
export interface TransportAnswer extends HttpAnswer {
  /**
   * False when the request certainly never reached the server (the connection was refused or
   * could not be made): an unsafe request may then be sent to another node. True or absent when
   * it may have been received (e.g. timed out while waiting for the answer).
   */
  readonly requestSent?: boolean;
}

/**
 * How the Patroni REST client reaches the nodes. Two implementations: `NodeHttpTransport` (the CLI
 * reaches the addresses itself: VPN, SSM port forwarding, inside the VPC) and
 * `NamespaceHttpTransport` (the local cluster's client namespace, which the CLI's own network
 * namespace cannot reach).
 */
export interface HttpTransport {
  /** For error messages: 'direct', 'namespace cdkfo-local-client'. */
  readonly description: string;
  /** Never throws for network trouble: answers status 0 with `error` instead. */
  send(request: HttpRequest): Promise<TransportAnswer>;
}

/** Largest body read; Patroni's answers are a few kilobytes. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** PEM trust anchor and client certificate for https URLs (a deployed cluster's operator secret). */
export interface TlsPems {
  /** The only CA an https answer is checked against (not the system's). */
  readonly ca: string;
  /** A client certificate (with `key`), for servers that ask for one. */
  readonly cert?: string;
  readonly key?: string;
  /**
   * Names the server's certificate may carry instead of the URL's host: the cluster's node
   * addresses, when ports are forwarded to 127.0.0.1. @default - the URL's host
   */
  readonly serverNames?: readonly string[];
}

/**
 * A TLS identity check that accepts a certificate naming any of `names` (one of the cluster's
 * nodes reached through a forwarded port); the chain is still checked against the CA.
 */
export function identityAmong(names: readonly string[]): (host: string, cert: PeerCertificate) => Error | undefined {
  return (host, cert) => {
    if (names.some((name) => checkServerIdentity(name, cert) === undefined)) return undefined;
    return new Error(`the certificate of ${host} names none of ${names.join(', ')}`);
  };
}

/** HTTP(S) with node:http, bounded by `timeoutMs` from the start of the request to the end of the body. */
export class NodeHttpTransport implements HttpTransport {
  public readonly description = 'direct';

  /** `tls`: for https URLs, the CA the server's certificate must chain to, and a client certificate. */
  constructor(private readonly tls?: TlsPems) {}

  public send(request: HttpRequest): Promise<TransportAnswer> {
    const timeoutMs = request.timeoutMs ?? 2000;
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return Promise.resolve({ status: 0, body: '', error: `invalid URL ${request.url}`, requestSent: false });
    }
    const lib = url.protocol === 'https:' ? https : http;
    const body = request.json === undefined ? undefined : JSON.stringify(request.json);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    if (request.auth) {
      headers.Authorization = `Basic ${Buffer.from(`${request.auth.username}:${request.auth.password}`).toString('base64')}`;
    }
    return new Promise((resolve) => {
      let settled = false;
      let connected = false;
      const finish = (answer: TransportAnswer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(answer);
      };
      const req = lib.request(
        {
          protocol: url.protocol,
          hostname: url.hostname.replace(/^\[|\]$/g, ''),
          port: url.port || (url.protocol === 'https:' ? 443 : 80),
          path: `${url.pathname}${url.search}`,
          method: request.method ?? 'GET',
          headers,
          agent: false,
          ...(url.protocol === 'https:' && this.tls ? httpsOptions(this.tls) : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) {
              req.destroy();
              finish({ status: 0, body: '', error: `answer larger than ${MAX_BODY_BYTES} bytes`, requestSent: true });
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => finish({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', (err) => finish({ status: 0, body: '', error: err.message, requestSent: true }));
        },
      );
      req.on('socket', (socket) => {
        if (!socket.connecting) connected = true;
        socket.once('connect', () => {
          connected = true;
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        finish({ status: 0, body: '', error: describeSocketError(err), requestSent: connected });
      });
      const timer = setTimeout(() => {
        finish({
          status: 0,
          body: '',
          error: connected ? `no answer within ${timeoutMs / 1000} s` : `could not connect within ${timeoutMs / 1000} s`,
          requestSent: connected,
        });
        req.destroy();
      }, timeoutMs);
      req.end(body);
    });
  }
}

function httpsOptions(tls: TlsPems): https.RequestOptions {
  return { ca: tls.ca, cert: tls.cert, key: tls.key, ...(tls.serverNames?.length ? { checkServerIdentity: identityAmong(tls.serverNames) } : {}) };
}

function describeSocketError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'EHOSTUNREACH':
      return 'host unreachable';
    case 'ENETUNREACH':
      return 'network unreachable';
    case 'ENOTFOUND':
      return 'host name not found';
    case 'ECONNRESET':
      return 'connection reset';
    default:
      return err.message;
  }
}

/**
 * HTTP from inside a network namespace (lib/local's curl helper): how the CLI, in the root
 * namespace, reaches the local cluster's private addresses.
 */
export class NamespaceHttpTransport implements HttpTransport {
  public readonly description: string;

  /** `tls`: for https URLs, the CA (and client certificate) every request uses unless it names its own. */
  constructor(
    private readonly namespace: string,
    private readonly tls?: HttpsOptions,
  ) {
    this.description = `namespace ${namespace}`;
  }

  public async send(request: HttpRequest): Promise<TransportAnswer> {
    const answer = await httpInNamespace(this.namespace, { tls: this.tls, ...request });
    if (answer.status !== 0) return answer;
    // curl: "Failed to connect ...", "Connection refused", "Connection timed out" (connect phase)
    // versus "Operation timed out ... bytes received" (the request went out).
    const neverSent = /failed to connect|couldn't connect|connection refused|no route to host|could not resolve|connection timed out|network is unreachable/i.test(
      answer.error ?? '',
    );
    return { ...answer, requestSent: !neverSent };
  }
}
