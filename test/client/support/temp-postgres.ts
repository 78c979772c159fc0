// A throwaway PostgreSQL 15 server on a loopback port for the client's tests: initdb into a temp
// directory (as the postgres user when the tests run as root), pg_ctl start/stop by data
// directory, and the PID of its postmaster for a last-resort stop. Nothing else is touched.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { run } from '../../../lib/util/command';

export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Why a temp server cannot run here, or undefined. */
export function cannotRunPostgres(): string | undefined {
  if (!fs.existsSync(path.join(PG_BIN, 'initdb'))) {
    return `PostgreSQL 15 is not installed (no ${PG_BIN}/initdb): apt-get install postgresql-15, or set PG_BIN`;
  }
  if (process.getuid?.() === 0) {
    const users = fs.readFileSync('/etc/passwd', 'utf8').split('\n');
    if (!users.some((line) => line.startsWith('postgres:'))) return 'running as root, but there is no postgres user to run initdb as';
  }
  return undefined;
}

/** A free loopback TCP port (bound, read, released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export class TempPostgres {
  /** `tls`: a server certificate and key (PEM) to serve, with `ssl = on`. */
  public static async start(options: { tls?: { certificatePem: string; privateKeyPem: string } } = {}): Promise<TempPostgres> {
    const reason = cannotRunPostgres();
    if (reason) throw new Error(reason);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cdkfo-client-pg-'));
    const password = randomBytes(12).toString('hex');
    const pg = new TempPostgres(root, await freePort(), password, options.tls !== undefined);
    try {
      fs.chmodSync(root, 0o755);
      fs.writeFileSync(path.join(root, 'pwfile'), `${password}\n`, { mode: 0o644 });
      if (options.tls) {
        fs.writeFileSync(path.join(root, 'server.crt'), options.tls.certificatePem, { mode: 0o644 });
        fs.writeFileSync(path.join(root, 'server.key'), options.tls.privateKeyPem, { mode: 0o600 });
      }
      if (pg.asRoot) await run('chown', ['-R', 'postgres:postgres', root]);
      await pg.pgRun('initdb', [
        '-D', pg.dataDir, '-U', 'postgres', '--pwfile', path.join(root, 'pwfile'),
        '--auth-host=scram-sha-256', '--auth-local=trust', '-E', 'UTF8', '--no-sync', '--locale=C',
      ], 60_000);
      fs.rmSync(path.join(root, 'pwfile'));
      await pg.startAgain();
      return pg;
    } catch (err) {
      await pg.destroy().catch(() => undefined);
      throw err;
    }
  }

  public readonly dataDir: string;
  private pid: number | undefined;
  private readonly asRoot = process.getuid?.() === 0;

  private constructor(
    public readonly root: string,
    public readonly port: number,
    public readonly password: string,
    private readonly tls = false,
  ) {
    this.dataDir = path.join(root, 'data');
  }

  /** A URI to this server (or to a proxy on `port`), with an application_name to tell endpoints apart. */
  public uri(options: { port?: number; applicationName?: string; connectTimeout?: number } = {}): string {
    const params = new URLSearchParams();
    if (options.applicationName) params.set('application_name', options.applicationName);
    if (options.connectTimeout !== undefined) params.set('connect_timeout', String(options.connectTimeout));
    const query = params.toString();
    return `postgresql://postgres:${this.password}@127.0.0.1:${options.port ?? this.port}/postgres${query ? `?${query}` : ''}`;
  }

  /** pg_ctl start, waiting until it accepts connections. */
  public async startAgain(): Promise<void> {
    const options = [
      `-p ${this.port}`, '-c listen_addresses=127.0.0.1', `-c unix_socket_directories=${this.root}`,
      '-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off', '-c max_connections=200',
      ...(this.tls ? ['-c ssl=on', `-c ssl_cert_file=${this.root}/server.crt`, `-c ssl_key_file=${this.root}/server.key`] : []),
    ].join(' ');
    await this.pgRun('pg_ctl', ['-D', this.dataDir, '-l', path.join(this.root, 'server.log'), '-w', '-t', '30', '-o', options, 'start'], 45_000);
    this.pid = Number(fs.readFileSync(path.join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  }

  /** pg_ctl stop (fast: sessions get 57P01 and are closed). */
  public async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (this.pid === undefined) return;
    try {
      await this.pgRun('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '30', 'stop'], 45_000);
    } catch (err) {
      // Last resort, by the PID this helper started.
      try {
        process.kill(this.pid, 'SIGQUIT');
      } catch {
        // already gone
      }
      throw err;
    } finally {
      this.pid = undefined;
    }
  }

  /** One statement on a fresh connection (not through the pool under test). */
  public async sql<R extends Record<string, unknown> = Record<string, unknown>>(text: string, values?: unknown[]): Promise<R[]> {
    const client = new Client({ connectionString: this.uri({ applicationName: 'test-admin' }), connectionTimeoutMillis: 5000 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  /** Makes every session (new and existing) read-only, as a demoted primary is. */
  public async setReadOnly(readOnly: boolean): Promise<void> {
    await this.sql(`ALTER SYSTEM SET default_transaction_read_only = ${readOnly ? 'on' : 'off'}`);
    await this.sql('SELECT pg_reload_conf()');
    // The reload reaches sessions at their next command; give the postmaster a moment.
    await new Promise((r) => setTimeout(r, 300));
  }

  /** pg_terminate_backend on the sessions of an application_name (57P01 for them). */
  public async terminate(applicationName: string): Promise<number> {
    const rows = await this.sql<{ n: string }>(
      'SELECT count(pg_terminate_backend(pid))::text AS n FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
      [applicationName],
    );
    return Number(rows[0]!.n);
  }

  public async destroy(): Promise<void> {
    try {
      await this.stop('immediate');
    } finally {
      fs.rmSync(this.root, { recursive: true, force: true });
    }
  }

  private async pgRun(tool: string, args: string[], timeoutMs: number): Promise<void> {
    const bin = path.join(PG_BIN, tool);
    const [file, argv] = this.asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
    try {
      await run(file, argv, { timeoutMs, cwd: this.root });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`${tool} failed: ${(e.stderr || e.message).trim().split('\n').slice(-3).join(' | ')}`, { cause: err });
    }
  }
}
