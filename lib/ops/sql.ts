import type { PeerCertificate } from 'node:tls';
import type { Client as PgClient } from 'pg';
import type { LocalCluster } from '../local/cluster';
import { OpsError, oneLine } from './errors';

/** SQL through the writer endpoint: rows as arrays of text (NULL as ''). */
export interface SqlRunner {
  /** For messages: 'psql in cdkfo-local-client', 'pg to db.example.com:5432'. */
  readonly description: string;
  /** Runs one statement; throws OpsError with the server's or the client's message. */
  query(sql: string, options?: { readonly timeoutMs?: number }): Promise<string[][]>;
}

/** The local cluster: psql inside its client namespace, through the front (the NLB stand-in). */
export class LocalSqlRunner implements SqlRunner {
  public readonly description: string;

  constructor(private readonly cluster: LocalCluster) {
    this.description = `psql in ${cluster.clientNamespace} to ${cluster.writer}`;
  }

  public async query(sql: string, options: { readonly timeoutMs?: number } = {}): Promise<string[][]> {
    const r = await this.cluster.trySql(sql, { timeoutMs: options.timeoutMs ?? 15_000 });
    if (r.code !== 0) throw new OpsError(`psql: ${r.stderr.trim().split('\n')[0] || `exit ${r.code}`}`);
    return parsePsqlRows(r.stdout);
  }
}

/** psql -A -t output: one row a line, fields separated by '|'. */
export function parsePsqlRows(stdout: string): string[][] {
  return stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('|'));
}

/** node-postgres's `ssl`: with `ca`, the server's certificate must chain to it and name the host dialled, or pass `checkServerIdentity`. */
export type PgSsl = boolean | { readonly rejectUnauthorized?: boolean; readonly ca?: string; readonly checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined };

export interface PgConnection {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
  readonly database: string;
  /** @default 5000 */
  readonly connectTimeoutMs?: number;
  /** TLS settings of node-postgres (with `ca`: the chain and `host` checked, verify-full). */
  readonly ssl?: PgSsl;
}

/** A deployed cluster: node-postgres to the writer endpoint, a new connection per statement. */
export class PgSqlRunner implements SqlRunner {
  public readonly description: string;

  /** `ssl`: for a URI, TLS settings the URI's own `sslmode` overrides. */
  constructor(
    private readonly connection: PgConnection | string,
    private readonly ssl?: PgSsl,
  ) {
    this.description = typeof connection === 'string' ? 'pg to the given writer URI' : `pg to ${connection.host}:${connection.port}`;
  }

  public async query(sql: string, options: { readonly timeoutMs?: number } = {}): Promise<string[][]> {
    const timeoutMs = options.timeoutMs ?? 15_000;
    const base =
      typeof this.connection === 'string'
        ? { connectionString: this.connection, ...(this.ssl ? { ssl: this.ssl } : {}) }
        : {
            host: this.connection.host,
            port: this.connection.port,
            user: this.connection.user,
            password: this.connection.password,
            database: this.connection.database,
            ssl: this.connection.ssl,
          };
    const client = new (loadPg().Client)({
      ...base,
      connectionTimeoutMillis: typeof this.connection === 'string' ? 5000 : (this.connection.connectTimeoutMs ?? 5000),
      statement_timeout: timeoutMs,
      query_timeout: timeoutMs + 1000,
      application_name: 'cdk-failover-drill',
    });
    client.on('error', () => undefined); // a dropped connection surfaces through the query
    try {
      await client.connect();
      const result = await client.query({ text: sql, rowMode: 'array' });
      const rows = (result.rows ?? []) as unknown[][];
      return rows.map((r) => r.map((v) => (v === null || v === undefined ? '' : v instanceof Date ? v.toISOString() : String(v))));
    } catch (err) {
      throw new OpsError(`${this.description}: ${oneLine(err)}`);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/**
 * pg is an optional peer dependency (CDK-only users do not install it): loaded only when a drill
 * really talks to a deployed writer endpoint, with a message that says what to install.
 */
function loadPg(): { Client: typeof PgClient } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('pg') as { Client: typeof PgClient };
  } catch {
    throw new Error("the database drill needs the 'pg' package: npm install pg");
  }
}
