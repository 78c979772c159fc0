/**
 * Error classification for the failover pool: which errors a failover produces, and whether a
 * failed operation may be tried again. Pure functions, no I/O.
 */

/**
 * What a failure says about the database:
 * - `connection`: the connection could not be made or was lost (refused, reset, timed out,
 *   terminated, SQLSTATE class 08).
 * - `shutdown`: the server ended the session or refused it while it stops, starts or recovers
 *   (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now).
 * - `read-only`: the server rejected a write because it is (now) read-only: 25006
 *   read_only_sql_transaction, what a demoted primary answers.
 * - `other`: anything else (syntax, constraint, permission...): never retried, passed through as is.
 */
export type FailureKind = 'connection' | 'shutdown' | 'read-only' | 'other';

/** Node.js socket error codes that mean the connection failed or broke. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'EAI_AGAIN',
]);

/** node-postgres and pg-pool messages for a connection that failed or broke. */
const CONNECTION_MESSAGES = [
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Query read timeout',
  'timeout expired',
];

/** Messages that node-postgres raises before it writes anything to the socket. */
const NOT_SENT_MESSAGES = ['Client has encountered a connection error and is not queryable', 'Client was closed and is not queryable'];

const SHUTDOWN_STATES = new Set(['57P01', '57P02', '57P03']);

/**
 * The SQLSTATE of an error the server sent (node-postgres's DatabaseError), or undefined for
 * anything else. A socket error's `code` ('EPIPE' is five letters too) is not a SQLSTATE: a
 * server error also carries a `severity`.
 */
export function sqlState(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; severity?: unknown };
  if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.severity === 'string') return e.code;
  return undefined;
}

/** Classifies one error (not its causes). */
function classifyOne(err: unknown): FailureKind {
  if (typeof err !== 'object' || err === null) return 'other';
  const state = sqlState(err);
  if (state !== undefined) {
    if (state.startsWith('08')) return 'connection';
    if (SHUTDOWN_STATES.has(state)) return 'shutdown';
    if (state === '25006') return 'read-only';
    return 'other';
  }
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e.code === 'string' && SOCKET_CODES.has(e.code)) return 'connection';
  if (typeof e.message === 'string' && CONNECTION_MESSAGES.includes(e.message)) return 'connection';
  return 'other';
}

/**
 * Classifies an error, looking through its cause chain (pg-pool wraps a connect timeout in
 * 'Connection terminated due to connection timeout' with the socket error as its cause).
 */
export function classifyError(err: unknown): FailureKind {
  let current: unknown = err;
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    const kind = classifyOne(current);
    if (kind !== 'other') return kind;
    current = (current as { cause?: unknown }).cause;
  }
  return 'other';
}

/** Whether node-postgres refused the query before writing it to the socket (a dead pooled client). */
export function failedBeforeSending(err: unknown): boolean {
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' && NOT_SENT_MESSAGES.includes(message);
}

/**
 * Where an operation was when it failed:
 * - `acquire`: getting a connection from the pool (connecting, authenticating, waiting for a free
 *   client). Nothing of the operation reached the server.
 * - `begin`: a transaction's BEGIN; the caller's function has not run.
 * - `statement`: a statement was sent (for a transaction: inside the caller's function, before
 *   COMMIT was sent, so the server rolls the transaction back when the connection dies).
 * - `commit`: a transaction's COMMIT was sent.
 */
export type FailurePhase = 'acquire' | 'begin' | 'statement' | 'commit';

export interface RetryContext {
  readonly kind: FailureKind;
  readonly phase: FailurePhase;
  /** The caller said the operation only reads. */
  readonly readOnly: boolean;
  /** The caller said running the operation twice is harmless. */
  readonly idempotent: boolean;
  /** A transaction (COMMIT decides) rather than a single autocommit statement. */
  readonly transaction: boolean;
}

export interface RetryDecision {
  /** Try again (after a backoff), on a freshly chosen endpoint. */
  readonly retry: boolean;
  /**
   * The failure is a failover symptom (the error is wrapped in FailoverPoolError when the pool
   * gives up); false: an application error, thrown as is.
   */
  readonly failover: boolean;
  /** Whether the write may have committed. Only meaningful when `retry` is false. */
  readonly outcomeUnknown: boolean;
}

const PASS_THROUGH: RetryDecision = { retry: false, failover: false, outcomeUnknown: false };

/**
 * The retry rule, as a table:
 *
 * | failure                                          | read-only op | idempotent write | other write |
 * |--------------------------------------------------|--------------|------------------|-------------|
 * | any failover kind while acquiring                | retry        | retry            | retry       |
 * | any failover kind during a transaction's BEGIN   | retry        | retry            | retry       |
 * | 25006 refusing a single statement (not done)     | throw as is  | retry            | retry       |
 * | 25006 inside a transaction's function            | throw as is  | retry            | not retried, rolled back |
 * | connection/shutdown after a statement was sent   | retry        | retry            | outcome unknown |
 * | connection/shutdown inside a transaction         | retry        | retry            | not retried, rolled back |
 * | connection/shutdown after COMMIT was sent        | retry        | retry            | outcome unknown |
 * | other                                            | throw as is  | throw as is      | throw as is |
 *
 * A server that answers 25006 refused the statement: it did not run, and its implicit
 * transaction rolled back, so a single statement is sent again even when it is not idempotent.
 * A transaction's function, once it has run, is re-run only when the caller says it may be (its
 * other side effects are the caller's to judge). 25006 in a read-only operation means the caller
 * wrote in it (a standby, or BEGIN READ ONLY, refused): a bug to surface, not a failover. A 57P01
 * after a statement was sent can follow a commit that is already durable locally (a backend
 * terminated while it waits for its synchronous standby), so it is as ambiguous as a lost
 * connection.
 */
export function decideRetry(ctx: RetryContext): RetryDecision {
  const { kind, phase, readOnly, idempotent, transaction } = ctx;
  if (kind === 'other') return PASS_THROUGH;
  if (kind === 'read-only') {
    if (readOnly) return PASS_THROUGH;
    // The server answered with an error: the statement (and its transaction) did not commit.
    if (transaction && phase !== 'begin' && phase !== 'acquire' && !idempotent) {
      return { retry: false, failover: true, outcomeUnknown: false };
    }
    return { retry: true, failover: true, outcomeUnknown: false };
  }
  if (phase === 'acquire' || phase === 'begin' || readOnly || idempotent) {
    return { retry: true, failover: true, outcomeUnknown: false };
  }
  if (transaction && phase === 'statement') {
    // COMMIT was never sent: the server rolls the transaction back when the session ends.
    return { retry: false, failover: true, outcomeUnknown: false };
  }
  return { retry: false, failover: true, outcomeUnknown: true };
}

export type GiveUpReason = 'attempts-exhausted' | 'deadline-exceeded' | 'outcome-unknown' | 'not-retried' | 'pool-ended';

export interface FailoverPoolErrorDetails {
  readonly reason: GiveUpReason;
  /** Attempts made, the failed one included. */
  readonly attempts: number;
  /** Time from the operation's start to giving up. */
  readonly elapsedMs: number;
  /** The write may or may not have committed: check before doing it again. */
  readonly outcomeUnknown: boolean;
  /** The endpoint of the last attempt, without credentials (`host:port/database`). */
  readonly endpoint?: string;
  /** The last error (also `cause`). */
  readonly cause?: unknown;
}

/**
 * Thrown when the pool gives up on an operation because of a failover symptom. Application
 * errors (a constraint violation, a syntax error) are thrown as node-postgres raised them.
 */
export class FailoverPoolError extends Error {
  public readonly reason: GiveUpReason;
  public readonly attempts: number;
  public readonly elapsedMs: number;
  public readonly outcomeUnknown: boolean;
  public readonly endpoint?: string;

  constructor(message: string, details: FailoverPoolErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'FailoverPoolError';
    this.reason = details.reason;
    this.attempts = details.attempts;
    this.elapsedMs = details.elapsedMs;
    this.outcomeUnknown = details.outcomeUnknown;
    this.endpoint = details.endpoint;
  }
}

/** One line describing an error: its SQLSTATE or socket code and its message. */
export function describeError(err: unknown): string {
  // Duck-typed: errors from another realm (a vm context, a second copy of pg) fail instanceof.
  const e = err as { code?: unknown; message?: unknown } | null;
  if (typeof e === 'object' && e !== null && typeof e.message === 'string') {
    const code = typeof e.code === 'string' && e.code && !e.message.includes(e.code) ? `${e.code} ` : '';
    return `${code}${e.message}`;
  }
  return String(err);
}
