// The client drill's workload: FailoverPool writers and readers running for a fixed time inside
// the cluster's client namespace (the only place the cluster's addresses are reachable from).
//
//   failover local exec -- node -r ts-node/register/transpile-only test/cluster/client-workload.ts < config.json
//
// Reads a WorkloadConfig as JSON on stdin (the URIs hold a password: stdin, not argv or env),
// prints 'READY' on stderr once its pool has connected, and prints a WorkloadSummary as JSON on
// stdout at the end. Every write inserts a key of its own into client_drill, with no unique
// index, so that a write sent twice shows as a duplicate row.
import { FailoverPool, FailoverPoolError } from '../../lib/client';
import type { HookRecord, OpKind, OpRecord, WorkloadSummary } from './client-drill-report';
import { sleep } from '../../lib/ops/poll';

export interface WorkloadConfig {
  readonly runId: string;
  readonly writer: string;
  readonly readers: readonly string[];
  readonly durationMs: number;
  /** Loops of each kind. */
  readonly plainWriters: number;
  readonly idempotentWriters: number;
  readonly txWriters: number;
  readonly readerLoops: number;
  /** Pause between two operations of a loop. */
  readonly pauseMs: number;
  readonly maxAttempts: number;
  readonly deadlineMs: number;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}


async function main(): Promise<void> {
  const config = JSON.parse(await readStdin()) as WorkloadConfig;
  const hooks: HookRecord[] = [];
  const errorText = (e: unknown) => String((e as { message?: unknown })?.message ?? e).slice(0, 200);
  const pool = new FailoverPool({
    writer: config.writer,
    readers: config.readers,
    maxAttempts: config.maxAttempts,
    deadline: config.deadlineMs,
    baseDelay: 100,
    maxDelay: 1000,
    readerCooldown: 3000,
    pool: { max: 10, connectionTimeoutMillis: 2000 },
    hooks: {
      onFailoverDetected: (e) => hooks.push({ at: Date.now(), hook: 'detected', endpoint: e.endpoint, role: e.role, error: errorText(e.error) }),
      onRetry: (e) => hooks.push({ at: Date.now(), hook: 'retry', endpoint: e.endpoint, role: e.role, attempts: e.attempt, error: errorText(e.error) }),
      onRecovered: (e) =>
        hooks.push({ at: Date.now(), hook: 'recovered', endpoint: e.endpoint, role: e.role, attempts: e.attempts, downtimeMs: e.downtimeMs }),
    },
  });

  // Warm up: the writer and every reader answer.
  await pool.query('SELECT 1');
  for (let i = 0; i < Math.max(1, config.readers.length); i++) await pool.query('SELECT 1', [], { readOnly: true });
  process.stderr.write('READY\n');

  const ops: OpRecord[] = [];
  const startedAt = Date.now();
  const stopAt = startedAt + config.durationMs;
  let seq = 0;

  const record = async (kind: OpKind, key: string | undefined, op: () => Promise<unknown>) => {
    const start = Date.now();
    try {
      await op();
      ops.push({ kind, key, start, end: Date.now(), ok: true });
    } catch (err) {
      const failure = err instanceof FailoverPoolError ? err.reason : 'unexpected';
      const outcomeUnknown = err instanceof FailoverPoolError ? err.outcomeUnknown : true;
      ops.push({ kind, key, start, end: Date.now(), ok: false, failure, outcomeUnknown, message: errorText(err) });
    }
  };

  const loop = async (body: () => Promise<void>) => {
    while (Date.now() < stopAt) {
      await body();
      await sleep(config.pauseMs);
    }
  };

  const loops: Promise<void>[] = [];
  for (let i = 0; i < config.plainWriters; i++) {
    loops.push(
      loop(() => {
        const key = `${config.runId}-p${i}-${++seq}`;
        return record('plain-write', key, () =>
          pool.query("INSERT INTO client_drill (run, key, part, kind) VALUES ($1, $2, 0, 'plain')", [config.runId, key]),
        );
      }),
    );
  }
  for (let i = 0; i < config.idempotentWriters; i++) {
    loops.push(
      loop(() => {
        const key = `${config.runId}-i${i}-${++seq}`;
        // Idempotent by construction: a second run finds the row and inserts nothing.
        return record('idempotent-write', key, () =>
          pool.query(
            "INSERT INTO client_drill (run, key, part, kind) SELECT $1, $2, 0, 'idempotent' WHERE NOT EXISTS (SELECT 1 FROM client_drill WHERE key = $2)",
            [config.runId, key],
            { idempotent: true },
          ),
        );
      }),
    );
  }
  for (let i = 0; i < config.txWriters; i++) {
    loops.push(
      loop(() => {
        const key = `${config.runId}-t${i}-${++seq}`;
        return record('tx-write', key, () =>
          pool.transaction(async (tx) => {
            await tx.query("INSERT INTO client_drill (run, key, part, kind) VALUES ($1, $2, 1, 'tx')", [config.runId, key]);
            await tx.query("INSERT INTO client_drill (run, key, part, kind) VALUES ($1, $2, 2, 'tx')", [config.runId, key]);
          }),
        );
      }),
    );
  }
  for (let i = 0; i < config.readerLoops; i++) {
    loops.push(
      loop(() =>
        record('read', undefined, () => pool.query('SELECT count(*) FROM client_drill WHERE run = $1', [config.runId], { readOnly: true })),
      ),
    );
  }
  await Promise.all(loops);
  const endedAt = Date.now();
  await pool.end();
  const summary: WorkloadSummary = { runId: config.runId, startedAt, endedAt, ops, hooks };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`client-workload: ${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
