// FailoverPool.transaction against a real PostgreSQL 15: commit and rollback, connections lost
// inside the function and after COMMIT was sent (TCP proxy cuts), a read-only server at BEGIN
// (25006), and 57P01 in a read-only transaction.
import { DatabaseError } from 'pg';
import { FailoverPool, type FailoverPoolOptions, type RetryEvent, type TransactionClient } from '../../lib/client';
import { newKey, rejection } from './support/assertions';
import { TcpProxy } from './support/tcp-proxy';
import { cannotRunPostgres, TempPostgres } from './support/temp-postgres';
import { sleep } from '../../lib/ops/poll';

const reason = cannotRunPostgres();

if (reason) {
  test('a temporary PostgreSQL can run here', () => {
    throw new Error(`${reason}: the client's tests run against a real PostgreSQL 15`);
  });
} else {
  describe('FailoverPool.transaction against a real PostgreSQL 15', () => {
    let pg: TempPostgres;
    const proxies: TcpProxy[] = [];
    const pools: FailoverPool[] = [];
    let retries: RetryEvent[];

    const proxy = async () => {
      const p = await TcpProxy.start({ host: '127.0.0.1', port: pg.port });
      proxies.push(p);
      return p;
    };
    const pool = (options: Partial<FailoverPoolOptions> & Pick<FailoverPoolOptions, 'writer'>) => {
      const p = new FailoverPool({ baseDelay: 20, maxDelay: 200, maxAttempts: 50, deadline: 15_000, hooks: { onRetry: (e) => retries.push(e) }, ...options });
      pools.push(p);
      return p;
    };
    const count = async (key: string) => Number((await pg.sql<{ n: string }>('SELECT count(*)::text AS n FROM tx_rows WHERE key = $1', [key]))[0]!.n);
    /** Two rows per transaction: both or neither. */
    const writeTwo = (key: string) => async (tx: TransactionClient) => {
      await tx.query('INSERT INTO tx_rows (key, part) VALUES ($1, 1)', [key]);
      await tx.query('INSERT INTO tx_rows (key, part) VALUES ($1, 2)', [key]);
      return key;
    };

    beforeAll(async () => {
      pg = await TempPostgres.start();
      await pg.sql('CREATE TABLE tx_rows (id bigserial PRIMARY KEY, key text NOT NULL, part int NOT NULL)');
    }, 90_000);

    afterAll(async () => {
      await pg?.destroy();
    }, 60_000);

    beforeEach(() => {
      retries = [];
    });

    afterEach(async () => {
      for (const p of proxies.splice(0)) p.close();
      await Promise.all(pools.splice(0).map((p) => p.end()));
    });

    test('commits, and returns what the function returns', async () => {
      const db = pool({ writer: pg.uri() });
      const key = newKey('commit');
      expect(await db.transaction(writeTwo(key))).toBe(key);
      expect(await count(key)).toBe(2);
    });

    test("rolls back and throws the function's own error", async () => {
      const db = pool({ writer: pg.uri() });
      const key = newKey('rollback');
      const mine = new Error('the order is invalid');
      const err = await rejection(
        db.transaction(async (tx) => {
          await writeTwo(key)(tx);
          throw mine;
        }),
      );
      expect(err).toBe(mine);
      expect(await count(key)).toBe(0);
      // The connection was rolled back and pooled again, not destroyed.
      expect(db.status()[0]!.totalCount).toBe(1);
      expect(await db.transaction(writeTwo(newKey('after-rollback')))).toBeDefined();
    });

    test('a connection lost inside a transaction that is not idempotent: not run again, known rolled back', async () => {
      const w = await proxy();
      const db = pool({ writer: pg.uri({ port: w.port }) });
      const key = newKey('lost-inside');
      let calls = 0;
      const cut = w.cutAfter(/part\) VALUES \(\$1, 2\)/);
      const err = await rejection(
        db.transaction(async (tx) => {
          calls++;
          return writeTwo(key)(tx);
        }),
      );
      await cut;
      expect(err).toMatchObject({ name: 'FailoverPoolError', reason: 'not-retried', outcomeUnknown: false, attempts: 1 });
      expect(err.message).toMatch(/^FailoverPool: transaction rolled back, not run again: .* before COMMIT was sent, so nothing of it was committed/);
      expect(calls).toBe(1);
      // The broken connection was destroyed, not pooled.
      expect(db.status()[0]!.totalCount).toBe(0);
      // The server rolls it back once it sees the connection gone.
      await sleep(300);
      expect(await count(key)).toBe(0);
    }, 20_000);

    test('the same loss in an idempotent transaction runs it again, and it commits once', async () => {
      const w = await proxy();
      const db = pool({ writer: pg.uri({ port: w.port }) });
      const key = newKey('lost-idempotent');
      let calls = 0;
      const cut = w.cutAfter(/part\) VALUES \(\$1, 2\)/);
      await db.transaction(
        async (tx) => {
          calls++;
          return writeTwo(key)(tx);
        },
        { idempotent: true },
      );
      await cut;
      expect(calls).toBe(2);
      expect(await count(key)).toBe(2);
    }, 20_000);

    test('a connection lost after COMMIT was sent: outcome unknown, and here it did commit', async () => {
      const w = await proxy();
      const db = pool({ writer: pg.uri({ port: w.port }) });
      const key = newKey('lost-commit');
      const cut = w.cutAfter(/COMMIT/);
      const err = await rejection(db.transaction(writeTwo(key)));
      await cut;
      expect(err).toMatchObject({ reason: 'outcome-unknown', outcomeUnknown: true, attempts: 1 });
      expect(err.message).toMatch(/^FailoverPool: transaction outcome unknown: .*, after COMMIT was sent to 127\.0\.0\.1:\d+\/postgres; it may have committed/);
      expect(await count(key)).toBe(2);
    }, 20_000);

    test('a write transaction that reaches a read-only server is retried before its function runs', async () => {
      const db = pool({ writer: pg.uri({ applicationName: 'tx-demoted' }) });
      const key = newKey('demoted');
      let calls = 0;
      await pg.setReadOnly(true);
      try {
        const tx = db.transaction(async (t) => {
          calls++;
          return writeTwo(key)(t);
        });
        await sleep(700);
        await pg.setReadOnly(false);
        await tx;
      } finally {
        await pg.setReadOnly(false);
      }
      expect(calls).toBe(1);
      expect(await count(key)).toBe(2);
      expect(retries.length).toBeGreaterThan(0);
      expect(retries[0]!.error).toMatchObject({ code: '25006' });
      expect((retries[0]!.error as Error).message).toMatch(/is read-only \(transaction_read_only is on\): it is not the primary$/);
    }, 20_000);

    test('a read-only transaction runs as BEGIN READ ONLY: a write in it is thrown as is, not retried', async () => {
      const db = pool({ writer: pg.uri() });
      const err = await rejection(db.transaction(writeTwo(newKey('ro')), { readOnly: true }));
      expect(err).toBeInstanceOf(DatabaseError);
      expect((err as unknown as DatabaseError).code).toBe('25006');
      expect(retries).toEqual([]);
    });

    test('a read-only transaction whose session is terminated (57P01) is run again', async () => {
      const db = pool({ writer: pg.uri({ applicationName: 'tx-victim' }) });
      let calls = 0;
      const read = db.transaction(
        async (tx) => {
          calls++;
          await tx.query('SELECT pg_sleep(0.6)');
          return (await tx.query<{ n: number }>('SELECT 42 AS n')).rows[0]!.n;
        },
        { readOnly: true },
      );
      await sleep(250);
      expect(await pg.terminate('tx-victim')).toBe(1);
      expect(await read).toBe(42);
      expect(calls).toBe(2);
      expect(retries.map((e) => (e.error as DatabaseError).code)).toEqual(['57P01']);
    }, 20_000);

    test('a function that caught a failed statement cannot commit silently', async () => {
      const db = pool({ writer: pg.uri() });
      const key = newKey('swallowed');
      const err = await rejection(
        db.transaction(async (tx) => {
          await tx.query('INSERT INTO tx_rows (key, part) VALUES ($1, 1)', [key]);
          await tx.query('SELECT 1 / 0').catch(() => undefined);
        }),
      );
      expect(err.message).toBe(
        'FailoverPool: the server rolled the transaction back at COMMIT: a statement in it failed and the function caught the error',
      );
      expect(await count(key)).toBe(0);
    });

    test('the transaction client refuses statements once the function has returned', async () => {
      const db = pool({ writer: pg.uri() });
      let leaked: TransactionClient | undefined;
      await db.transaction(async (tx) => {
        leaked = tx;
      });
      await expect(leaked!.query('SELECT 1')).rejects.toThrow(
        'FailoverPool: this transaction is over: run its statements inside the transaction function, before it returns',
      );
    });
  });
}
