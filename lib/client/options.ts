import type { PoolConfig } from 'pg';
import type { BackoffPolicy } from './backoff';

/**
 * A length of time: milliseconds as a number, or anything with `toMilliseconds()` (such as
 * aws-cdk-lib's `Duration`, which this runtime module does not import).
 */
export type DurationLike = number | { toMilliseconds(): number };

/** Which endpoint served (or failed) an operation. */
export type EndpointRole = 'writer' | 'reader';

export interface FailoverDetectedEvent {
  /** `host:port/database` (never the credentials). */
  readonly endpoint: string;
  readonly role: EndpointRole;
  /** The first error of the outage. */
  readonly error: unknown;
}

export interface RetryEvent {
  /** The attempt that failed (1-based); the next one is `attempt + 1`. */
  readonly attempt: number;
  /** How long the pool waits before the next attempt. */
  readonly delayMs: number;
  readonly error: unknown;
  /** Where the failed attempt ran, `host:port/database`. */
  readonly endpoint: string;
  readonly role: EndpointRole;
}

export interface RecoveredEvent {
  /** Attempts the operation that succeeded took. */
  readonly attempts: number;
  /** Time from the first failure seen on the endpoint to this success. */
  readonly downtimeMs: number;
  readonly endpoint: string;
  readonly role: EndpointRole;
}

/**
 * Callbacks for the application's logs and metrics. They run synchronously inside the pool; an
 * exception thrown by one is ignored, so that a logging bug cannot fail a query.
 */
export interface FailoverPoolHooks {
  /** An endpoint that worked (or was never tried) failed with a failover symptom. Once per outage and endpoint. */
  readonly onFailoverDetected?: (event: FailoverDetectedEvent) => void;
  /** An operation failed with a failover symptom and will be tried again after `delayMs`. */
  readonly onRetry?: (event: RetryEvent) => void;
  /** The first success on an endpoint after `onFailoverDetected`. */
  readonly onRecovered?: (event: RecoveredEvent) => void;
}

export interface FailoverPoolOptions {
  /**
   * The writer endpoint: a `postgres://` or `postgresql://` URI that reaches the current primary
   * (HAProxy's writer port, an NLB, PatroniCluster's writer endpoint, `failover local status
   * --json`'s `writerUri`). One host per URI: node-postgres cannot parse multi-host URIs.
   */
  readonly writer: string;
  /**
   * Reader endpoints, URIs as for `writer`. Read-only operations go round-robin over those not
   * cooling down after a failed connect, and to the writer when none is left.
   * @default - reads go to the writer
   */
  readonly readers?: readonly string[];
  /**
   * Attempts per operation, the first included.
   * @default 10
   */
  readonly maxAttempts?: number;
  /**
   * Time budget per operation, from its start to its result or error, backoff delays and hung
   * connections included (a statement still running at the deadline has its connection
   * destroyed). Milliseconds, or a `Duration`.
   * @default 30_000
   */
  readonly deadline?: DurationLike;
  /**
   * Cap of the first backoff delay; the cap doubles with each failed attempt up to `maxDelay`.
   * @default 100
   */
  readonly baseDelay?: DurationLike;
  /**
   * Largest backoff delay.
   * @default 5_000
   */
  readonly maxDelay?: DurationLike;
  /**
   * How long a reader that could not be connected to (refused, timed out, closed or refused by
   * the server during the connect) gets no reads. A session lost mid-statement does not count:
   * behind a load balancer the next connection goes to another backend.
   * @default 5_000
   */
  readonly readerCooldown?: DurationLike;
  /**
   * node-postgres pool settings for every endpoint (`max`, `idleTimeoutMillis`, `ssl`,
   * `statement_timeout`...). The connection itself comes from the URIs, so `connectionString`,
   * `host`, `port`, `user`, `password` and `database` are refused here.
   * @default - `connectionTimeoutMillis` from the URI's `connect_timeout` or 5_000, `keepAlive: true` with the first keepalive after 60 s idle
   */
  readonly pool?: PoolConfig;
  /**
   * The cluster CA's certificate (PEM): every endpoint is then reached over TLS, and the server's
   * certificate must chain to this CA and name the host the URI dials (libpq's `verify-full`).
   * For URIs without `sslmode`/`sslrootcert`; with them, the URIs say it themselves.
   * @default - TLS as the URIs say
   */
  readonly caCertificate?: string;
  readonly hooks?: FailoverPoolHooks;
}

/** A parsed endpoint: its URI and a label without credentials. */
export interface EndpointSpec {
  readonly uri: string;
  readonly role: EndpointRole;
  /** `host:port/database` */
  readonly label: string;
  /** The URI's `connect_timeout` in milliseconds, when it has one. */
  readonly connectTimeoutMs?: number;
}

export interface ResolvedOptions {
  readonly writer: EndpointSpec;
  readonly readers: readonly EndpointSpec[];
  readonly maxAttempts: number;
  readonly deadlineMs: number;
  readonly backoff: BackoffPolicy;
  readonly readerCooldownMs: number;
  readonly pool: PoolConfig;
  readonly hooks: FailoverPoolHooks;
}

export const DEFAULTS = {
  maxAttempts: 10,
  deadlineMs: 30_000,
  baseDelayMs: 100,
  maxDelayMs: 5_000,
  readerCooldownMs: 5_000,
  connectionTimeoutMs: 5_000,
} as const;

const CONNECTION_KEYS = ['connectionString', 'host', 'port', 'user', 'password', 'database'] as const;
const HOOK_NAMES = ['onFailoverDetected', 'onRetry', 'onRecovered'] as const;

/** Thrown for invalid FailoverPool options. */
export class FailoverPoolOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FailoverPoolOptionsError';
  }
}

/** Checks the options and fills in the defaults; every error names the option and the value. */
export function resolveOptions(options: FailoverPoolOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new FailoverPoolOptionsError(`FailoverPool: options must be an object with at least 'writer', got ${String(options)}`);
  }
  const writer = parseEndpoint(options.writer, 'writer', 'writer');
  if (options.readers !== undefined && !Array.isArray(options.readers)) {
    throw new FailoverPoolOptionsError(`FailoverPool: readers must be an array of URIs, got ${typeof options.readers}`);
  }
  const readers = (options.readers ?? []).map((uri, i) => parseEndpoint(uri, `readers[${i}]`, 'reader'));

  const maxAttempts = options.maxAttempts ?? DEFAULTS.maxAttempts;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new FailoverPoolOptionsError(`FailoverPool: maxAttempts must be an integer of at least 1, got ${String(maxAttempts)}`);
  }
  const deadlineMs = toMilliseconds(options.deadline, 'deadline', DEFAULTS.deadlineMs);
  if (deadlineMs <= 0) throw new FailoverPoolOptionsError(`FailoverPool: deadline must be more than 0 ms, got ${deadlineMs}`);
  const baseDelayMs = toMilliseconds(options.baseDelay, 'baseDelay', DEFAULTS.baseDelayMs);
  const maxDelayMs = toMilliseconds(options.maxDelay, 'maxDelay', Math.max(DEFAULTS.maxDelayMs, baseDelayMs));
  if (maxDelayMs < baseDelayMs) {
    throw new FailoverPoolOptionsError(`FailoverPool: maxDelay (${maxDelayMs} ms) must be at least baseDelay (${baseDelayMs} ms)`);
  }
  const readerCooldownMs = toMilliseconds(options.readerCooldown, 'readerCooldown', DEFAULTS.readerCooldownMs);

  const pool = options.pool ?? {};
  if (typeof pool !== 'object' || pool === null) {
    throw new FailoverPoolOptionsError(`FailoverPool: pool must be an object of node-postgres pool settings, got ${String(pool)}`);
  }
  for (const key of CONNECTION_KEYS) {
    if ((pool as Record<string, unknown>)[key] !== undefined) {
      throw new FailoverPoolOptionsError(
        `FailoverPool: pool.${key} is not allowed: each endpoint's connection comes from its URI (writer, readers)`,
      );
    }
  }
  const resolvedPool = withCaCertificate(pool, options.caCertificate, [writer, ...readers]);
  const hooks = options.hooks ?? {};
  for (const name of HOOK_NAMES) {
    const hook = (hooks as Record<string, unknown>)[name];
    if (hook !== undefined && typeof hook !== 'function') {
      throw new FailoverPoolOptionsError(`FailoverPool: hooks.${name} must be a function, got ${typeof hook}`);
    }
  }
  return { writer, readers, maxAttempts, deadlineMs, backoff: { baseDelayMs, maxDelayMs }, readerCooldownMs, pool: resolvedPool, hooks };
}

const TLS_URI_PARAMETERS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'ssl'];

/** `pool.ssl` for `caCertificate`: the CA alone is trusted, and node's TLS checks the host name or address. */
function withCaCertificate(pool: PoolConfig, ca: unknown, endpoints: readonly EndpointSpec[]): PoolConfig {
  if (ca === undefined) return pool;
  if (typeof ca !== 'string' || !/-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(ca)) {
    throw new FailoverPoolOptionsError(`FailoverPool: caCertificate must be a PEM certificate (-----BEGIN CERTIFICATE-----), got ${typeof ca === 'string' ? `${ca.length} characters without one` : typeof ca}`);
  }
  if (pool.ssl !== undefined) {
    throw new FailoverPoolOptionsError('FailoverPool: give caCertificate or pool.ssl, not both');
  }
  for (const endpoint of endpoints) {
    const set = TLS_URI_PARAMETERS.filter((name) => new URL(endpoint.uri).searchParams.has(name));
    if (set.length) {
      throw new FailoverPoolOptionsError(
        `FailoverPool: caCertificate and the ${endpoint.role} URI's ${set.join(', ')} both say how to use TLS (${endpoint.label}): give one`,
      );
    }
  }
  return { ...pool, ssl: { ca, rejectUnauthorized: true } };
}

function toMilliseconds(value: DurationLike | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  let ms: unknown = value;
  if (typeof value === 'object' && value !== null && typeof value.toMilliseconds === 'function') ms = value.toMilliseconds();
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    const shown = typeof value === 'object' ? JSON.stringify(value) : String(value);
    throw new FailoverPoolOptionsError(`FailoverPool: ${name} must be a finite, non-negative number of milliseconds or a Duration, got ${shown}`);
  }
  return ms;
}

/**
 * Parses a connection URI the way it will be used. Errors never show the password: the URI is
 * shown with it masked.
 */
export function parseEndpoint(uri: unknown, name: string, role: EndpointRole): EndpointSpec {
  if (typeof uri !== 'string' || uri.trim() === '') {
    throw new FailoverPoolOptionsError(`FailoverPool: ${name} must be a postgresql:// connection URI, got ${uri === '' ? 'an empty string' : typeof uri}`);
  }
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    const hint = /@[^/?]*,/.test(uri) ? ' (node-postgres takes one host per URI: give each endpoint its own)' : '';
    throw new FailoverPoolOptionsError(`FailoverPool: ${name} is not a valid connection URI: ${maskPassword(uri)}${hint}`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new FailoverPoolOptionsError(
      `FailoverPool: ${name} must use the postgres:// or postgresql:// scheme, got '${url.protocol}' in ${maskPassword(uri)}`,
    );
  }
  const socketHost = url.searchParams.get('host');
  if (!url.hostname && !socketHost) {
    throw new FailoverPoolOptionsError(`FailoverPool: ${name} has no host: ${maskPassword(uri)}`);
  }
  const host = url.hostname || socketHost!;
  const port = url.port || url.searchParams.get('port') || '5432';
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || decodeURIComponent(url.username) || 'postgres';
  let connectTimeoutMs: number | undefined;
  const connectTimeout = url.searchParams.get('connect_timeout');
  if (connectTimeout !== null) {
    const seconds = Number(connectTimeout);
    if (!Number.isFinite(seconds) || seconds < 0) {
      throw new FailoverPoolOptionsError(`FailoverPool: ${name} has connect_timeout=${connectTimeout}: it must be a number of seconds`);
    }
    if (seconds > 0) connectTimeoutMs = seconds * 1000;
  }
  return { uri, role, label: `${host}:${port}/${database}`, connectTimeoutMs };
}

/** The URI with its password replaced by `***` (for error messages). */
export function maskPassword(uri: string): string {
  return uri.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}
