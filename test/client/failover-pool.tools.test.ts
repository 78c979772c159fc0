// FailoverPool against a real PostgreSQL 15 (a temp server on a loopback port), with TCP proxies
// in between to refuse, reset, hang or cut connections the way a failover does, plus the
// server's own failures: pg_ctl stop/start, pg_terminate_backend (57P01) and a read-only
// server (25006, a demoted primary).
import { DatabaseError } from 'pg';
import {
  FailoverPool,
  FailoverPoolError,
  backoffCeiling,
  type FailoverDetectedEvent,
  type FailoverPoolOptions,
  type RecoveredEvent,
  type RetryEvent,
} from '../../lib/client';
import { newKey, rejection } from './support/assertions';
import { TcpProxy } from './support/tcp-proxy';
import { cannotRunPostgres, TempPostgres } from './support/temp-postgres';
import { sleep } from '../../lib/ops/poll';

const reason = cannotRunPostgres();
const INSERT = "INSERT INTO writes (key) VALUES ($1) RETURNING current_setting('application_name') AS app";
const APP = "SELECT current_setting('application_name') AS app";

if (reason) {
  test('a temporary PostgreSQL can run here', () => {
    throw new Error(`${reason}: the client's tests run against a real PostgreSQL 15`);
  });
} else {
  describe('FailoverPool against a real PostgreSQL 15', () => {
    let pg: TempPostgres;
    const proxies: TcpProxy[] = [];
    const pools: FailoverPool[] = [];
    let events: { detected: FailoverDetectedEvent[]; retries: RetryEvent[]; recovered: RecoveredEvent[] };

    const proxy = async () => {
      const p = await TcpProxy.start({ host: '127.0.0.1', port: pg.port });
      proxies.push(p);
      return p;
    };
    const via = (p: TcpProxy, applicationName: string) => pg.uri({ port: p.port, applicationName });
    const pool = (options: Partial<FailoverPoolOptions> & Pick<FailoverPoolOptions, 'writer'>) => {
      const p = new FailoverPool({
        baseDelay: 20,
        maxDelay: 200,
        maxAttempts: 50,
        deadline: 15_000,
        hooks: {
          onFailoverDetected: (e) => events.detected.push(e),
          onRetry: (e) => events.retries.push(e),
          onRecovered: (e) => events.recovered.push(e),
        },
        ...options,
      });
      pools.push(p);
      return p;
    };
    const count = async (key: string, table = 'writes') =>
      Number((await pg.sql<{ n: string }>(`SELECT count(*)::text AS n FROM ${table} WHERE key = $1`, [key]))[0]!.n);

    beforeAll(async () => {
      pg = await TempPostgres.start();
      await pg.sql('CREATE TABLE writes (id bigserial PRIMARY KEY, key text NOT NULL)');
      await pg.sql('CREATE TABLE idem (key text PRIMARY KEY)');
    }, 90_000);

    afterAll(async () => {
      await pg?.destroy();
    }, 60_000);

    beforeEach(() => {
      events = { detected: [], retries: [], recovered: [] };
    });

    afterEach(async () => {
      for (const p of proxies.splice(0)) p.close();
      await Promise.all(pools.splice(0).map((p) => p.end()));
    });

    describe('routing', () => {
      test('writes go to the writer; reads go round-robin over the readers', async () => {
        const [w, r1, r2] = [await proxy(), await proxy(), await proxy()];
        const db = pool({ writer: via(w, 'w'), readers: [via(r1, 'r1'), via(r2, 'r2')] });
        const reads: string[] = [];
        for (let i = 0; i < 6; i++) reads.push((await db.query<{ app: string }>(APP, [], { readOnly: true })).rows[0]!.app);
        expect(reads).toEqual(['r1', 'r2', 'r1', 'r2', 'r1', 'r2']);
        expect((await db.query<{ app: string }>(INSERT, [newKey('route')])).rows[0]!.app).toBe('w');
        expect((await db.query<{ app: string }>(APP)).rows[0]!.app).toBe('w');
      });

      test('a reader that refuses connections cools down while reads go to the other, then gets reads again', async () => {
        const [w, r1, r2] = [await proxy(), await proxy(), await proxy()];
        // A cooldown well past six reads on a loaded machine, so r1 is not tried again among them.
        const db = pool({ writer: via(w, 'w'), readers: [via(r1, 'r1'), via(r2, 'r2')], readerCooldown: 2000 });
        r1.refuse();
        const reads: string[] = [];
        for (let i = 0; i < 6; i++) reads.push((await db.query<{ app: string }>(APP, [], { readOnly: true })).rows[0]!.app);
        expect(reads).toEqual(['r2', 'r2', 'r2', 'r2', 'r2', 'r2']);
        expect(events.retries).toHaveLength(1);
        expect(events.retries[0]).toMatchObject({ attempt: 1, role: 'reader', endpoint: `127.0.0.1:${r1.port}/postgres` });
        expect((events.retries[0]!.error as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
        expect(events.detected).toEqual([expect.objectContaining({ role: 'reader', endpoint: `127.0.0.1:${r1.port}/postgres` })]);
        const r1Status = db.status().find((s) => s.endpoint.endsWith(`:${r1.port}/postgres`))!;
        expect(r1Status.healthy).toBe(false);
        expect(r1Status.cooldownMs).toBeGreaterThan(0);

        await r1.accept();
        await sleep(2100);
        const after = new Set<string>();
        for (let i = 0; i < 4; i++) after.add((await db.query<{ app: string }>(APP, [], { readOnly: true })).rows[0]!.app);
        expect([...after].sort()).toEqual(['r1', 'r2']);
        expect(events.recovered).toEqual([expect.objectContaining({ role: 'reader', attempts: 1 })]);
      });

      test('a reader whose session is lost mid-read does not cool down: the read is retried on the next reader', async () => {
        const [w, r1, r2] = [await proxy(), await proxy(), await proxy()];
        const db = pool({ writer: via(w, 'w'), readers: [via(r1, 'r1'), via(r2, 'r2')] });
        const read = db.query<{ app: string }>(`${APP} FROM pg_sleep(0.5)`, [], { readOnly: true });
        await sleep(250);
        r1.reset();
        expect((await read).rows[0]!.app).toBe('r2');
        expect(events.retries).toHaveLength(1);
        expect(events.retries[0]).toMatchObject({ role: 'reader', endpoint: `127.0.0.1:${r1.port}/postgres` });
        expect(db.status().map((s) => s.healthy)).toEqual([true, true, true]);
        expect((await db.query<{ app: string }>(APP, [], { readOnly: true })).rows[0]!.app).toBe('r1');
      });

      test('reads fall back to the writer when every reader is down', async () => {
        const [w, r1, r2] = [await proxy(), await proxy(), await proxy()];
        const db = pool({ writer: via(w, 'w'), readers: [via(r1, 'r1'), via(r2, 'r2')] });
        r1.refuse();
        r2.refuse();
        const reads: string[] = [];
        for (let i = 0; i < 4; i++) reads.push((await db.query<{ app: string }>(APP, [], { readOnly: true })).rows[0]!.app);
        expect(reads).toEqual(['w', 'w', 'w', 'w']);
        expect(db.status().map((s) => s.healthy)).toEqual([true, false, false]);
      });

      test('without readers, reads go to the writer', async () => {
        const w = await proxy();
        const db = pool({ writer: via(w, 'w') });
        expect((await db.query<{ app: string }>(APP, [], { readOnly: true })).rows[0]!.app).toBe('w');
      });
    });

    describe('writes that were never sent', () => {
      test('a write that could not connect is retried until the writer is back, and lands once', async () => {
        const w = await proxy();
        const db = pool({ writer: via(w, 'w') });
        w.refuse();
        const key = newKey('refused');
        const write = db.query(INSERT, [key]);
        await sleep(400);
        await w.accept();
        await write;
        expect(await count(key)).toBe(1);
        expect(events.retries.length).toBeGreaterThan(1);
        expect(events.retries.every((e) => (e.error as NodeJS.ErrnoException).code === 'ECONNREFUSED')).toBe(true);
        expect(events.retries.map((e) => e.attempt)).toEqual(events.retries.map((_, i) => i + 1));
        expect(events.detected).toHaveLength(1);
        expect(events.recovered).toHaveLength(1);
        expect(events.recovered[0]!.attempts).toBe(events.retries.length + 1);
        // The outage runs from the first refused connect to the first success, after the proxy listens again.
        expect(events.recovered[0]!.downtimeMs).toBeGreaterThan(150);
        expect(events.recovered[0]!.downtimeMs).toBeLessThan(5000);
        expect(JSON.stringify([events.retries.map((e) => e.endpoint), events.detected.map((e) => e.endpoint)])).not.toContain(pg.password);
      }, 20_000);

      test('writes ride through a real server restart (pg_ctl stop -m fast, start), each landing once', async () => {
        const db = pool({ writer: pg.uri({ applicationName: 'restart' }) });
        await db.query(INSERT, [newKey('warm')]); // a pooled connection that the stop terminates
        await pg.stop('fast');
        const keys = Array.from({ length: 6 }, () => newKey('restart'));
        const writes = Promise.all(keys.map((k) => db.query(INSERT, [k])));
        await sleep(1000);
        await pg.startAgain();
        await writes;
        for (const k of keys) expect(await count(k)).toBe(1);
        const codes = new Set(events.retries.map((e) => (e.error as { code?: string }).code));
        expect(codes.has('ECONNREFUSED')).toBe(true);
        expect(events.detected).toHaveLength(1);
        expect(events.recovered).toHaveLength(1);
      }, 60_000);
    });

    describe('writes that were sent', () => {
      test('a write whose session is terminated mid-statement (57P01) fails with outcome unknown, and is not retried', async () => {
        const db = pool({ writer: pg.uri({ applicationName: 'victim-1' }) });
        const key = newKey('terminated');
        const write = rejection(db.query('INSERT INTO writes (key) SELECT $1 FROM pg_sleep(1.5)', [key]));
        await sleep(500);
        expect(await pg.terminate('victim-1')).toBe(1);
        const err = await write;
        expect(err).toBeInstanceOf(FailoverPoolError);
        expect(err).toMatchObject({ reason: 'outcome-unknown', outcomeUnknown: true, attempts: 1 });
        expect(err.message).toMatch(/^FailoverPool: write outcome unknown: 57P01 terminating connection due to administrator command, after the statement was sent to 127\.0\.0\.1:\d+\/postgres; it may have committed/);
        expect((err.cause as DatabaseError).code).toBe('57P01');
        expect(events.retries).toEqual([]);
        // Here the termination came first, so it did not commit; the client could not know that.
        expect(await count(key)).toBe(0);
      }, 20_000);

      test('the same write marked idempotent is run again and lands once', async () => {
        const db = pool({ writer: pg.uri({ applicationName: 'victim-2' }) });
        const key = newKey('idempotent');
        const write = db.query('INSERT INTO idem (key) SELECT $1 FROM pg_sleep(0.8) ON CONFLICT DO NOTHING', [key], { idempotent: true });
        await sleep(300);
        expect(await pg.terminate('victim-2')).toBe(1);
        await write;
        expect(await count(key, 'idem')).toBe(1);
        expect(events.retries.map((e) => (e.error as DatabaseError).code)).toEqual(['57P01']);
      }, 20_000);

      test('a read whose session is terminated mid-statement is retried', async () => {
        const db = pool({ writer: pg.uri({ applicationName: 'victim-3' }) });
        const read = db.query<{ one: number }>('SELECT 1 AS one FROM pg_sleep(0.8)', [], { readOnly: true });
        await sleep(300);
        expect(await pg.terminate('victim-3')).toBe(1);
        expect((await read).rows).toEqual([{ one: 1 }]);
        expect(events.retries).toHaveLength(1);
      }, 20_000);

      test('a write lost after it reached the server fails with outcome unknown, and it did commit: a blind retry would have doubled it', async () => {
        const w = await proxy();
        const db = pool({ writer: via(w, 'w') });
        const key = newKey('cut');
        const cut = w.cutAfter(new RegExp(key));
        const err = await rejection(db.query(INSERT, [key]));
        await cut;
        expect(err).toMatchObject({ name: 'FailoverPoolError', reason: 'outcome-unknown', outcomeUnknown: true, attempts: 1 });
        expect(err.message).toMatch(/^FailoverPool: write outcome unknown: (read ECONNRESET|Connection terminated unexpectedly), after the statement was sent/);
        expect(await count(key)).toBe(1);
      }, 20_000);

      test('the same cut on an idempotent write is retried, and the row is there once', async () => {
        const w = await proxy();
        const db = pool({ writer: via(w, 'w') });
        const key = newKey('cut-idempotent');
        const cut = w.cutAfter(new RegExp(key));
        await db.query('INSERT INTO idem (key) VALUES ($1) ON CONFLICT DO NOTHING', [key], { idempotent: true });
        await cut;
        expect(await count(key, 'idem')).toBe(1);
        expect(events.retries).toHaveLength(1);
      }, 20_000);
    });

    describe('a server that is no longer the primary (25006)', () => {
      afterEach(async () => {
        await pg.setReadOnly(false);
      });

      test('a refused write is retried until the server takes writes again, and lands once', async () => {
        const db = pool({ writer: pg.uri({ applicationName: 'demoted' }) });
        await pg.setReadOnly(true);
        const key = newKey('read-only');
        const write = db.query(INSERT, [key]);
        await sleep(700);
        await pg.setReadOnly(false);
        await write;
        expect(await count(key)).toBe(1);
        expect(events.retries.length).toBeGreaterThan(0);
        expect(events.retries.every((e) => (e.error as DatabaseError).code === '25006')).toBe(true);
      }, 20_000);

      test('connections made before the failover are closed, not reused', async () => {
        const db = pool({ writer: pg.uri({ applicationName: 'epoch' }) });
        const pids = async () =>
          (await Promise.all([1, 2, 3].map(() => db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid FROM pg_sleep(0.2)')))).map(
            (r) => r.rows[0]!.pid,
          );
        const before = await pids();
        expect(new Set(before).size).toBe(3);
        await pg.setReadOnly(true);
        const write = db.query(INSERT, [newKey('epoch')]);
        await sleep(300);
        await pg.setReadOnly(false);
        await write;
        const after = await pids();
        expect(after.filter((pid) => before.includes(pid))).toEqual([]);
      }, 20_000);

      test('a write that stays refused fails after maxAttempts, with the 25006 as its cause', async () => {
        const db = pool({ writer: pg.uri({ applicationName: 'stuck' }), maxAttempts: 3 });
        await pg.setReadOnly(true);
        const err = await rejection(db.query(INSERT, [newKey('stuck')]));
        expect(err).toMatchObject({ reason: 'attempts-exhausted', attempts: 3, outcomeUnknown: false });
        expect(err.message).toMatch(/^FailoverPool: write failed after 3 attempts in \d+ ms \(maxAttempts 3\); last error on 127\.0\.0\.1:\d+\/postgres: 25006 cannot execute INSERT in a read-only transaction$/);
        expect((err.cause as DatabaseError).code).toBe('25006');
        expect(events.retries.map((e) => e.attempt)).toEqual([1, 2]);
      }, 20_000);

      test('25006 in a read is the caller writing in it: thrown as is, not retried', async () => {
        const db = pool({ writer: pg.uri({ applicationName: 'mislabelled' }) });
        await pg.setReadOnly(true);
        const err = await rejection(db.query(INSERT, [newKey('mislabelled')], { readOnly: true }));
        expect(err).toBeInstanceOf(DatabaseError);
        expect((err as unknown as DatabaseError).code).toBe('25006');
        expect(events.retries).toEqual([]);
      }, 20_000);
    });

    describe('bounds', () => {
      test('maxAttempts bounds the retries; the delays stay under the backoff ceiling; the error keeps its cause', async () => {
        const w = await proxy();
        w.refuse();
        const db = pool({ writer: via(w, 'w'), maxAttempts: 4, baseDelay: 40, maxDelay: 100 });
        const err = await rejection(db.query(INSERT, [newKey('max')]));
        expect(err).toMatchObject({ name: 'FailoverPoolError', reason: 'attempts-exhausted', attempts: 4, outcomeUnknown: false });
        expect((err.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
        expect(err.message).not.toContain(pg.password);
        expect(events.retries.map((e) => e.attempt)).toEqual([1, 2, 3]);
        for (const e of events.retries) {
          expect(e.delayMs).toBeGreaterThanOrEqual(0);
          expect(e.delayMs).toBeLessThanOrEqual(backoffCeiling(e.attempt, { baseDelayMs: 40, maxDelayMs: 100 }));
        }
        expect(err.elapsedMs).toBeLessThan(2000);
      }, 20_000);

      test('the deadline bounds an operation on a server that accepts and never answers', async () => {
        const w = await proxy();
        w.mode = 'blackhole';
        const db = pool({ writer: via(w, 'w'), deadline: 1000 });
        const started = Date.now();
        const err = await rejection(db.query(INSERT, [newKey('hang')]));
        const took = Date.now() - started;
        expect(err).toMatchObject({ reason: 'deadline-exceeded', attempts: 1, outcomeUnknown: false });
        expect(err.message).toMatch(/^FailoverPool: write did not succeed within its 1000 ms deadline \(1 attempts\); last error on 127\.0\.0\.1:\d+\/postgres: the 1000 ms deadline ran out$/);
        expect(took).toBeGreaterThanOrEqual(990);
        expect(took).toBeLessThan(1600);
      }, 20_000);

      test('the deadline cuts a write that is still running: its outcome is unknown, and it does commit later', async () => {
        const db = pool({ writer: pg.uri({ applicationName: 'slow' }), deadline: 500 });
        const key = newKey('slow');
        const started = Date.now();
        const err = await rejection(db.query('INSERT INTO writes (key) SELECT $1 FROM pg_sleep(1.2)', [key]));
        expect(Date.now() - started).toBeLessThan(1100);
        expect(err).toMatchObject({ reason: 'outcome-unknown', outcomeUnknown: true });
        expect(err.message).toContain('write outcome unknown: the 500 ms deadline ran out, after the statement was sent');
        // The server only notices the closed connection when it answers: the insert commits.
        for (let i = 0; i < 30 && (await count(key)) === 0; i++) await sleep(100);
        expect(await count(key)).toBe(1);
      }, 20_000);

      test('a deadline shorter than the backoff gives up instead of sleeping past it', async () => {
        const w = await proxy();
        w.refuse();
        const db = pool({ writer: via(w, 'w'), deadline: 300, baseDelay: 1000, maxDelay: 1000 });
        const started = Date.now();
        const err = await rejection(db.query(APP));
        expect(err.reason).toBe('deadline-exceeded');
        expect(Date.now() - started).toBeLessThan(1000); // not the 1 s backoff: the deadline cut it short
      }, 20_000);
    });

    describe('errors and lifecycle', () => {
      test('application errors are thrown as node-postgres raised them, and not retried', async () => {
        const db = pool({ writer: pg.uri({ applicationName: 'app-errors' }) });
        const syntax = await rejection(db.query('SELEC 1'));
        expect(syntax).toBeInstanceOf(DatabaseError);
        expect((syntax as unknown as DatabaseError).code).toBe('42601');
        const key = newKey('dup');
        await db.query('INSERT INTO idem (key) VALUES ($1)', [key]);
        const dup = await rejection(db.query('INSERT INTO idem (key) VALUES ($1)', [key], { idempotent: true }));
        expect((dup as unknown as DatabaseError).code).toBe('23505');
        expect(events.retries).toEqual([]);
        expect(events.detected).toEqual([]);
        // The connection is still good and pooled.
        expect(db.status()[0]!.totalCount).toBe(1);
      }, 20_000);

      test('a hook that throws does not fail the operation', async () => {
        const w = await proxy();
        const throwing = () => {
          throw new Error('broken logger');
        };
        const db = pool({ writer: via(w, 'w'), hooks: { onRetry: throwing, onFailoverDetected: throwing, onRecovered: throwing } });
        w.refuse();
        const write = db.query(INSERT, [newKey('hooks')]);
        await sleep(200);
        await w.accept();
        await expect(write).resolves.toBeDefined();
      }, 20_000);

      test('end() stops an operation waiting to retry, and refuses new ones', async () => {
        const w = await proxy();
        w.refuse();
        const db = pool({ writer: via(w, 'w'), baseDelay: 2000, maxDelay: 2000 });
        const pending = rejection(db.query(APP));
        await sleep(100);
        const started = Date.now();
        await db.end();
        const err = await pending;
        expect(Date.now() - started).toBeLessThan(500);
        expect(err).toMatchObject({ reason: 'pool-ended' });
        const after = await rejection(db.query(APP));
        expect(after).toMatchObject({ reason: 'pool-ended', attempts: 0 });
        expect(after.message).toBe('FailoverPool: write abandoned after 0 attempts: the pool was ended');
      }, 20_000);

      test('end() also stops an operation waiting for a connection that hangs', async () => {
        const w = await proxy();
        w.mode = 'blackhole';
        const db = pool({ writer: via(w, 'w'), pool: { connectionTimeoutMillis: 1500 } });
        const pending = rejection(db.query(APP));
        await sleep(200);
        const started = Date.now();
        const ended = db.end();
        const err = await pending;
        expect(Date.now() - started).toBeLessThan(300);
        expect(err).toMatchObject({ reason: 'pool-ended', attempts: 1 });
        // node-postgres ends the pool once the hanging connect times out.
        await ended;
      }, 20_000);
    });
  });
}
