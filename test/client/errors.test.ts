import * as net from 'node:net';
import { Client, DatabaseError } from 'pg';
import { classifyError, decideRetry, FailoverPoolError, sqlState, type FailurePhase } from '../../lib/client';

/** A DatabaseError as node-postgres builds it from a server's ErrorResponse. */
function serverError(code: string, message = 'server said no'): DatabaseError {
  const err = new DatabaseError(message, 100, 'error');
  err.code = code;
  err.severity = 'ERROR';
  return err;
}

function socketError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code, errno: -1, syscall: 'connect' });
}

describe('classifyError', () => {
  test('socket errors of a failed or broken connection are connection failures', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH']) {
      expect([code, classifyError(socketError(code))]).toEqual([code, 'connection']);
    }
  });

  test("node-postgres's and pg-pool's messages for lost or timed-out connections are connection failures", () => {
    for (const message of [
      'Connection terminated unexpectedly',
      'Connection terminated due to connection timeout',
      'timeout exceeded when trying to connect',
      'Client has encountered a connection error and is not queryable',
    ]) {
      expect([message, classifyError(new Error(message))]).toEqual([message, 'connection']);
    }
  });

  test('SQLSTATE class 08 is a connection failure; 57P01, 57P02, 57P03 a shutdown; 25006 read-only', () => {
    expect(classifyError(serverError('08006'))).toBe('connection');
    expect(classifyError(serverError('08P01'))).toBe('connection');
    expect(classifyError(serverError('57P01', 'terminating connection due to administrator command'))).toBe('shutdown');
    expect(classifyError(serverError('57P02'))).toBe('shutdown');
    expect(classifyError(serverError('57P03', 'the database system is starting up'))).toBe('shutdown');
    expect(classifyError(serverError('25006', 'cannot execute INSERT in a read-only transaction'))).toBe('read-only');
  });

  test('application errors are not failover symptoms', () => {
    expect(classifyError(serverError('23505', 'duplicate key value'))).toBe('other');
    expect(classifyError(serverError('42601', 'syntax error'))).toBe('other');
    expect(classifyError(serverError('40001', 'could not serialize access'))).toBe('other');
    expect(classifyError(serverError('57014', 'canceling statement due to statement timeout'))).toBe('other');
    expect(classifyError(new Error('Connection terminated unexpectedly, or not'))).toBe('other');
    expect(classifyError(new TypeError('x is not a function'))).toBe('other');
    expect(classifyError(undefined)).toBe('other');
    expect(classifyError('ECONNREFUSED')).toBe('other');
  });

  test('looks through the cause chain (pg-pool wraps a connect timeout)', () => {
    const wrapped = new Error('the app wrapped it', { cause: new Error('outer', { cause: socketError('ETIMEDOUT') }) });
    expect(classifyError(wrapped)).toBe('connection');
  });

  test("a socket code of five letters (EPIPE) is not taken for a SQLSTATE", () => {
    expect(sqlState(socketError('EPIPE'))).toBeUndefined();
    expect(sqlState(serverError('25006'))).toBe('25006');
  });

  test('a real refused connection from node-postgres is a connection failure', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const client = new Client({ host: '127.0.0.1', port, user: 'x', password: 'y', database: 'z' });
    const err = await client.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(classifyError(err)).toBe('connection');
  });
});

describe('decideRetry: the retry rule', () => {
  const ops = {
    read: { readOnly: true, idempotent: false, transaction: false },
    idempotentWrite: { readOnly: false, idempotent: true, transaction: false },
    write: { readOnly: false, idempotent: false, transaction: false },
    readTx: { readOnly: true, idempotent: false, transaction: true },
    idempotentTx: { readOnly: false, idempotent: true, transaction: true },
    tx: { readOnly: false, idempotent: false, transaction: true },
  } as const;
  type Op = keyof typeof ops;
  const verdict = (op: Op, kind: 'connection' | 'shutdown' | 'read-only' | 'other', phase: FailurePhase) => {
    const d = decideRetry({ ...ops[op], kind, phase });
    if (!d.failover) return 'throw as is';
    if (d.retry) return 'retry';
    return d.outcomeUnknown ? 'outcome unknown' : 'rolled back';
  };

  test('anything that failed before it was sent is retried, writes included', () => {
    for (const op of Object.keys(ops) as Op[]) {
      expect([op, verdict(op, 'connection', 'acquire')]).toEqual([op, 'retry']);
      expect([op, verdict(op, 'shutdown', 'acquire')]).toEqual([op, 'retry']);
    }
    expect(verdict('tx', 'connection', 'begin')).toBe('retry');
    expect(verdict('tx', 'read-only', 'begin')).toBe('retry');
  });

  test('a write whose connection broke after it was sent is not retried: its outcome is unknown', () => {
    expect(verdict('write', 'connection', 'statement')).toBe('outcome unknown');
    expect(verdict('write', 'shutdown', 'statement')).toBe('outcome unknown');
    expect(verdict('tx', 'connection', 'commit')).toBe('outcome unknown');
    expect(verdict('tx', 'shutdown', 'commit')).toBe('outcome unknown');
  });

  test('reads and idempotent operations are retried after they were sent', () => {
    for (const op of ['read', 'idempotentWrite', 'readTx', 'idempotentTx'] as const) {
      for (const phase of ['statement', 'commit'] as const) {
        expect([op, phase, verdict(op, 'connection', phase)]).toEqual([op, phase, 'retry']);
        expect([op, phase, verdict(op, 'shutdown', phase)]).toEqual([op, phase, 'retry']);
      }
    }
  });

  test('a transaction that broke before COMMIT was sent is known to be rolled back, and not run again', () => {
    expect(verdict('tx', 'connection', 'statement')).toBe('rolled back');
    expect(verdict('tx', 'read-only', 'statement')).toBe('rolled back');
    expect(verdict('idempotentTx', 'read-only', 'statement')).toBe('retry');
  });

  test('25006 refusing a single write is retried (the server did not run it); in a read-only operation it is the caller\'s bug', () => {
    expect(verdict('write', 'read-only', 'statement')).toBe('retry');
    expect(verdict('read', 'read-only', 'statement')).toBe('throw as is');
    expect(verdict('readTx', 'read-only', 'statement')).toBe('throw as is');
  });

  test('application errors are thrown as is, whatever the operation', () => {
    for (const op of Object.keys(ops) as Op[]) {
      for (const phase of ['acquire', 'begin', 'statement', 'commit'] as const) {
        expect(verdict(op, 'other', phase)).toBe('throw as is');
      }
    }
  });
});

describe('FailoverPoolError', () => {
  test('carries attempts, elapsed time, outcome and the last error as its cause', () => {
    const cause = serverError('57P01');
    const err = new FailoverPoolError('FailoverPool: write outcome unknown: ...', {
      reason: 'outcome-unknown',
      attempts: 3,
      elapsedMs: 1234,
      outcomeUnknown: true,
      endpoint: '127.0.0.1:5432/postgres',
      cause,
    });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('FailoverPoolError');
    expect(err).toMatchObject({ reason: 'outcome-unknown', attempts: 3, elapsedMs: 1234, outcomeUnknown: true });
    expect(err.cause).toBe(cause);
  });
});
