import type { PoolClient, QueryConfig, QueryResult, QueryResultRow } from 'pg';
import { backoffDelay } from './backoff';
import { Endpoint } from './endpoint';
import {
  classifyError,
  decideRetry,
  describeError,
  failedBeforeSending,
  FailoverPoolError,
  type FailurePhase,
  type GiveUpReason,
} from './errors';
import { resolveOptions, type EndpointRole, type FailoverPoolHooks, type FailoverPoolOptions, type ResolvedOptions } from './options';

export interface OperationOptions {
  /**
   * The operation only reads: it goes to a reader (round-robin, the writer when none is
   * healthy) and is always retried on a failover symptom. A transaction runs as BEGIN READ ONLY;
   * a single statement is trusted to be what the caller says.
   * @default false
   */
  readonly readOnly?: boolean;
  /**
   * Running the operation twice leaves the database as running it once (an upsert, a write
   * keyed by a client-generated id with ON CONFLICT DO NOTHING...): it is retried even when the
   * connection broke after it was sent.
   * @default false
   */
  readonly idempotent?: boolean;
}

/** The connection a transaction's function runs its statements on. */
export interface TransactionClient {
  query<R extends QueryResultRow = QueryResultRow>(text: string | QueryConfig, values?: unknown[]): Promise<QueryResult<R>>;
}

/** An endpoint's routing state, for health pages and metrics. */
export interface EndpointStatus {
  /** `host:port/database` */
  readonly endpoint: string;
  readonly role: EndpointRole;
  /** Reads may go to it (always true for the writer, which reads fall back to). */
  readonly healthy: boolean;
  /** Time left before reads go to it again. */
  readonly cooldownMs: number;
  /** node-postgres pool counts. */
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}

/** Where one attempt is, for the retry decision. */
interface AttemptState {
  phase: FailurePhase;
  /** Close the connection instead of pooling it again. */
  destroy: boolean;
}

interface Operation<T> {
  /** 'read', 'write', 'transaction', 'read-only transaction' (for messages). */
  readonly name: string;
  readonly readOnly: boolean;
  readonly idempotent: boolean;
  readonly transaction: boolean;
  run(client: PoolClient, state: AttemptState, endpoint: Endpoint): Promise<T>;
}

/** The operation's deadline ran out (internal: becomes a FailoverPoolError). */
class DeadlineReached extends Error {
  constructor(deadlineMs: number) {
    super(`the ${deadlineMs} ms deadline ran out`);
  }
}

/** The pool was ended while the operation waited for a connection (internal). */
class PoolEnded extends Error {
  constructor() {
    super('the pool was ended while waiting for a connection');
  }
}

/**
 * A PostgreSQL pool that rides through a database failover: one node-postgres pool per
 * endpoint, reads spread over the readers, writes to the writer, and retries with exponential
 * backoff and full jitter on the errors a failover produces. A write is sent again only when it
 * never reached the server, when the server refused it (25006: not the primary), or when the
 * caller marked it idempotent; a write whose connection broke after it was sent fails with a
 * FailoverPoolError whose `outcomeUnknown` is true, never silently twice.
 *
 * ```ts
 * const db = new FailoverPool({ writer: process.env.WRITER_URI!, readers: [process.env.READER_URI!] });
 * await db.query('INSERT INTO orders (id, total) VALUES ($1, $2)', [id, total]);
 * const { rows } = await db.query('SELECT * FROM orders WHERE id = $1', [id], { readOnly: true });
 * await db.transaction(async (tx) => { ... }, { idempotent: true });
 * await db.end();
 * ```
 */
export class FailoverPool {
  private readonly options: ResolvedOptions;
  private readonly writer: Endpoint;
  private readonly readers: readonly Endpoint[];
  private nextReader = 0;
  private readonly ending = new AbortController();
  private endPromise: Promise<void> | undefined;

  constructor(options: FailoverPoolOptions) {
    this.options = resolveOptions(options);
    this.writer = new Endpoint(this.options.writer, this.options.pool);
    this.readers = this.options.readers.map((spec) => new Endpoint(spec, this.options.pool));
  }

  /**
   * Runs one statement (autocommit): on a reader when `readOnly`, else on the writer.
   * Application errors (constraint, syntax...) are thrown as node-postgres raised them; when it
   * gives up on a failover symptom it throws a FailoverPoolError.
   */
  public query<R extends QueryResultRow = QueryResultRow>(
    text: string | QueryConfig,
    values?: unknown[],
    options: OperationOptions = {},
  ): Promise<QueryResult<R>> {
    const readOnly = options.readOnly ?? false;
    return this.run<QueryResult<R>>({
      name: readOnly ? 'read' : 'write',
      readOnly,
      idempotent: options.idempotent ?? false,
      transaction: false,
      run: async (client, state) => {
        state.phase = 'statement';
        return client.query<R>(text, values);
      },
    });
  }

  /**
   * Runs `fn` in a transaction on one connection: BEGIN, `fn(tx)`, COMMIT; ROLLBACK when `fn`
   * throws (its error is thrown again). On a failover symptom the whole transaction is run again
   * (a new connection, `fn` called again) when `fn` had not started yet, or when the transaction
   * is `readOnly` or `idempotent`. Otherwise it fails: with `outcomeUnknown` false when COMMIT
   * was never sent (the server rolled it back), true when the connection broke after COMMIT was
   * sent. A write transaction checks at BEGIN that the server is writable, so one that reaches a
   * demoted primary is retried before `fn` runs.
   */
  public transaction<T>(fn: (tx: TransactionClient) => Promise<T>, options: OperationOptions = {}): Promise<T> {
    if (typeof fn !== 'function') throw new TypeError(`FailoverPool: transaction needs a function, got ${typeof fn}`);
    const readOnly = options.readOnly ?? false;
    return this.run<T>({
      name: readOnly ? 'read-only transaction' : 'transaction',
      readOnly,
      idempotent: options.idempotent ?? false,
      transaction: true,
      run: (client, state, endpoint) => runTransaction(client, state, endpoint, fn, readOnly),
    });
  }

  /** Routing state of every endpoint, the writer first. */
  public status(): EndpointStatus[] {
    const now = performance.now();
    return [this.writer, ...this.readers].map((e) => ({
      endpoint: e.label,
      role: e.role,
      healthy: e.role === 'writer' || e.isHealthy(now),
      cooldownMs: e.role === 'writer' ? 0 : Math.ceil(e.cooldownLeft(now)),
      totalCount: e.pool.totalCount,
      idleCount: e.pool.idleCount,
      waitingCount: e.pool.waitingCount,
    }));
  }

  /**
   * Ends every endpoint's pool once the statements running now finish; operations waiting to
   * retry stop with a FailoverPoolError (reason 'pool-ended'). Idempotent.
   */
  public end(): Promise<void> {
    if (!this.endPromise) {
      this.ending.abort();
      this.endPromise = Promise.all([this.writer, ...this.readers].map((e) => e.end())).then(() => undefined);
    }
    return this.endPromise;
  }

  public get ended(): boolean {
    return this.ending.signal.aborted;
  }

  // ---- the retry loop --------------------------------------------------------------------

  private async run<T>(op: Operation<T>): Promise<T> {
    const { maxAttempts, deadlineMs, backoff } = this.options;
    const started = performance.now();
    const deadlineAt = started + deadlineMs;
    let lastError: unknown;
    let lastEndpoint: Endpoint | undefined;
    for (let attempt = 1; ; attempt++) {
      if (this.ended) {
        throw this.giveUp(op, 'pool-ended', { attempts: attempt - 1, started, endpoint: lastEndpoint, cause: lastError });
      }
      const endpoint = this.pick(op.readOnly);
      lastEndpoint = endpoint;
      const state: AttemptState = { phase: 'acquire', destroy: false };
      try {
        const result = await this.attempt(op, endpoint, state, deadlineAt);
        this.succeeded(endpoint, attempt);
        return result;
      } catch (err) {
        if (err instanceof PoolEnded) {
          throw this.giveUp(op, 'pool-ended', { attempts: attempt, started, endpoint, cause: lastError });
        }
        lastError = err;
        if (err instanceof DeadlineReached) {
          this.failed(endpoint, err, state.phase);
          const decision = decideRetry({ ...op, kind: 'connection', phase: state.phase });
          const reason: GiveUpReason = decision.retry ? 'deadline-exceeded' : decision.outcomeUnknown ? 'outcome-unknown' : 'not-retried';
          throw this.giveUp(op, reason, { attempts: attempt, started, endpoint, cause: err });
        }
        const phase = failedBeforeSending(err) ? 'acquire' : state.phase;
        const decision = decideRetry({ ...op, kind: classifyError(err), phase });
        if (!decision.failover) throw err;
        // state.phase, not phase: a dead pooled connection is no failed connect.
        this.failed(endpoint, err, state.phase);
        if (!decision.retry) {
          throw this.giveUp(op, decision.outcomeUnknown ? 'outcome-unknown' : 'not-retried', { attempts: attempt, started, endpoint, cause: err });
        }
        if (attempt >= maxAttempts) {
          throw this.giveUp(op, 'attempts-exhausted', { attempts: attempt, started, endpoint, cause: err });
        }
        const delayMs = backoffDelay(attempt, backoff);
        if (performance.now() + delayMs >= deadlineAt) {
          throw this.giveUp(op, 'deadline-exceeded', { attempts: attempt, started, endpoint, cause: err });
        }
        this.hook('onRetry', { attempt, delayMs, error: err, endpoint: endpoint.label, role: endpoint.role });
        if (!(await this.sleep(delayMs))) {
          throw this.giveUp(op, 'pool-ended', { attempts: attempt, started, endpoint, cause: err });
        }
      }
    }
  }

  /** One attempt: a connection of `endpoint`, the operation on it, the connection back. */
  private async attempt<T>(op: Operation<T>, endpoint: Endpoint, state: AttemptState, deadlineAt: number): Promise<T> {
    const client = await within(endpoint.connect(), deadlineAt, this.options.deadlineMs, (late) => late.release(), this.ending.signal);
    let broken: Error | undefined;
    const onError = (err: Error) => {
      broken ??= err;
    };
    // A checked-out client has no listener of the pool's: its connection dying between two
    // statements would otherwise end the process.
    client.on('error', onError);
    let outcome: 'ok' | 'app-error' | 'failure' = 'failure';
    try {
      const result = await within(op.run(client, state, endpoint), deadlineAt, this.options.deadlineMs);
      outcome = 'ok';
      return result;
    } catch (err) {
      if (!(err instanceof DeadlineReached) && classifyError(err) === 'other' && !failedBeforeSending(err)) outcome = 'app-error';
      if (outcome === 'failure') endpoint.retireConnectionsLike(client);
      throw err;
    } finally {
      client.removeListener('error', onError);
      const destroy = outcome === 'failure' || state.destroy || broken !== undefined || endpoint.isStale(client);
      client.release(destroy ? (broken ?? new Error('FailoverPool: connection closed after a failure')) : undefined);
    }
  }

  /** The writer for writes; for reads the next healthy reader, or the writer when none is. */
  private pick(readOnly: boolean): Endpoint {
    if (!readOnly || this.readers.length === 0) return this.writer;
    const now = performance.now();
    const n = this.readers.length;
    for (let i = 0; i < n; i++) {
      const index = (this.nextReader + i) % n;
      if (this.readers[index]!.isHealthy(now)) {
        this.nextReader = (index + 1) % n;
        return this.readers[index]!;
      }
    }
    return this.writer;
  }

  /**
   * Bookkeeping of a failover symptom. A reader cools down only when connecting to it failed: a
   * session lost mid-statement says its backend went away, and a load balancer in front routes
   * the next connection elsewhere (a reader that is really gone fails its next connect).
   */
  private failed(endpoint: Endpoint, error: unknown, phase: FailurePhase): void {
    const now = performance.now();
    if (endpoint.role === 'reader' && phase === 'acquire') endpoint.markUnhealthy(now, this.options.readerCooldownMs);
    if (endpoint.recordFailure(now)) {
      this.hook('onFailoverDetected', { endpoint: endpoint.label, role: endpoint.role, error });
    }
  }

  private succeeded(endpoint: Endpoint, attempts: number): void {
    const downtimeMs = endpoint.recordSuccess(performance.now());
    if (downtimeMs !== undefined) {
      this.hook('onRecovered', { attempts, downtimeMs: Math.round(downtimeMs), endpoint: endpoint.label, role: endpoint.role });
    }
  }


  private giveUp<T>(
    op: Operation<T>,
    reason: GiveUpReason,
    ctx: { attempts: number; started: number; endpoint?: Endpoint; cause?: unknown },
  ): FailoverPoolError {
    const elapsedMs = Math.round(performance.now() - ctx.started);
    const where = ctx.endpoint?.label ?? 'no endpoint';
    const detail = ctx.cause === undefined ? 'no error' : describeError(ctx.cause);
    let message: string;
    switch (reason) {
      case 'outcome-unknown':
        message = op.transaction
          ? `FailoverPool: transaction outcome unknown: ${detail}, after COMMIT was sent to ${where}; it may have committed. ` +
            'Not run again because it is not marked idempotent: check before running it again'
          : `FailoverPool: write outcome unknown: ${detail}, after the statement was sent to ${where}; it may have committed. ` +
            'Not retried because it is not marked idempotent: check before writing it again';
        break;
      case 'not-retried':
        message =
          `FailoverPool: transaction rolled back, not run again: ${detail} on ${where} before COMMIT was sent, so nothing ` +
          'of it was committed; it is not marked idempotent';
        break;
      case 'attempts-exhausted':
        message = `FailoverPool: ${op.name} failed after ${ctx.attempts} attempts in ${elapsedMs} ms (maxAttempts ${this.options.maxAttempts}); last error on ${where}: ${detail}`;
        break;
      case 'deadline-exceeded':
        message = `FailoverPool: ${op.name} did not succeed within its ${this.options.deadlineMs} ms deadline (${ctx.attempts} attempts); last error on ${where}: ${detail}`;
        break;
      case 'pool-ended':
        message = `FailoverPool: ${op.name} abandoned after ${ctx.attempts} attempts: the pool was ended${ctx.cause === undefined ? '' : `; last error on ${where}: ${detail}`}`;
        break;
    }
    return new FailoverPoolError(message, {
      reason,
      attempts: ctx.attempts,
      elapsedMs,
      outcomeUnknown: reason === 'outcome-unknown',
      endpoint: ctx.endpoint?.label,
      cause: ctx.cause,
    });
  }

  private hook<K extends keyof FailoverPoolHooks>(name: K, event: Parameters<NonNullable<FailoverPoolHooks[K]>>[0]): void {
    const fn = this.options.hooks[name] as ((e: typeof event) => void) | undefined;
    if (!fn) return;
    try {
      fn(event);
    } catch {
      // A logging or metrics hook must not fail the operation.
    }
  }

  /** Resolves true after `ms`, or false at once when the pool is ended. */
  private sleep(ms: number): Promise<boolean> {
    const signal = this.ending.signal;
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** BEGIN, fn, COMMIT on one connection, with the phase kept up to date for the retry decision. */
async function runTransaction<T>(
  client: PoolClient,
  state: AttemptState,
  endpoint: Endpoint,
  fn: (tx: TransactionClient) => Promise<T>,
  readOnly: boolean,
): Promise<T> {
  state.phase = 'begin';
  if (readOnly) {
    await client.query('BEGIN READ ONLY');
  } else {
    // One round trip: BEGIN, and whether this server takes writes (a demoted primary, a standby
    // or default_transaction_read_only say 'on'), so a transaction that reached the wrong server
    // fails here, before fn runs, and is retried.
    const results = (await client.query("BEGIN; SELECT current_setting('transaction_read_only') AS read_only")) as unknown as QueryResult[];
    if (results[1]?.rows[0]?.read_only === 'on') {
      state.destroy = true;
      throw notWritable(endpoint);
    }
  }
  state.phase = 'statement';
  const tx = new Transaction(client);
  let value: T;
  try {
    value = await fn(tx);
  } catch (err) {
    // A connection failure inside fn decides, whatever fn made of it.
    const failure = tx.failure ?? err;
    if (classifyError(failure) === 'other') {
      try {
        await client.query('ROLLBACK');
      } catch {
        state.destroy = true;
      }
      throw err;
    }
    state.destroy = true;
    throw failure;
  } finally {
    tx.close();
  }
  if (tx.failure !== undefined) {
    // fn caught a connection failure and returned: its transaction is gone.
    state.destroy = true;
    throw tx.failure;
  }
  state.phase = 'commit';
  const committed = await client.query('COMMIT');
  if (committed.command === 'ROLLBACK') {
    throw new Error(
      'FailoverPool: the server rolled the transaction back at COMMIT: a statement in it failed and the function caught the error',
    );
  }
  return value;
}

class Transaction implements TransactionClient {
  /** The first failover symptom a statement met. */
  public failure: unknown;
  private closed = false;

  constructor(private readonly client: PoolClient) {}

  public async query<R extends QueryResultRow = QueryResultRow>(text: string | QueryConfig, values?: unknown[]): Promise<QueryResult<R>> {
    if (this.closed) {
      throw new Error('FailoverPool: this transaction is over: run its statements inside the transaction function, before it returns');
    }
    try {
      return await this.client.query<R>(text, values);
    } catch (err) {
      if (this.failure === undefined && classifyError(err) !== 'other') this.failure = err;
      throw err;
    }
  }

  public close(): void {
    this.closed = true;
  }
}

/** A synthetic 25006: the writer endpoint reached a server that does not take writes. */
function notWritable(endpoint: Endpoint): Error {
  return Object.assign(
    new Error(`FailoverPool: ${endpoint.label} is read-only (transaction_read_only is on): it is not the primary`),
    { code: '25006', severity: 'ERROR' },
  );
}

/**
 * `promise`, or a DeadlineReached rejection at `deadlineAt` (performance.now() time), or a
 * PoolEnded rejection when `signal` aborts. A value that arrives after either goes to `onLate`
 * (to release a connection nobody will use).
 */
function within<T>(promise: Promise<T>, deadlineAt: number, deadlineMs: number, onLate?: (value: T) => void, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => settle(() => reject(new PoolEnded()));
    const timer = setTimeout(() => settle(() => reject(new DeadlineReached(deadlineMs))), Math.max(0, deadlineAt - performance.now()));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        if (settled) onLate?.(value);
        else settle(() => resolve(value));
      },
      (err: unknown) => {
        if (!settled) settle(() => reject(err));
      },
    );
  });
}
