// The drills' write workload: runs inside a namespace of the local cluster (the client namespace,
// or a node's own namespace to write through that node's side of a partition), because the
// cluster's addresses are reachable only there.
//
//   ip netns exec <namespace> node -r ts-node/register/transpile-only test/cluster/drills/writer.ts < config.json
//
// Reads a WriterConfig as JSON on stdin (the URIs hold a password: stdin, not argv), prints READY
// on stderr once started, then on each tick (every `intervalMs`) and for each target starts one
// insert on a NEW connection with a unique id, without waiting for the previous one (so that a
// hung attempt does not hide when the endpoint comes back). Each attempt's outcome is one JSON
// line on stdout (a WriteEvent). SIGTERM (or `durationMs`) stops new attempts; in-flight ones get
// `attemptTimeoutMs` to finish, then the program exits.
//
// An insert is acknowledged only when PostgreSQL answered the autocommit INSERT, i.e. after the
// commit (and, in synchronous mode, after the synchronous standby confirmed it). A timed-out
// attempt is abandoned by destroying its socket, never by a server-side statement_timeout: that
// would cancel the synchronous-replication wait and report a commit that no standby holds.
import { Client } from 'pg';
import { sleep } from '../../../lib/ops/poll';

export interface WriterTarget {
  /** Names the source in ids and events, e.g. 'front' or 'pg-0-haproxy'. */
  readonly label: string;
  readonly uri: string;
}

export interface WriterConfig {
  /** Prefix of every id, unique per drill. */
  readonly runTag: string;
  readonly targets: readonly WriterTarget[];
  /** @default 100 */
  readonly intervalMs?: number;
  /** @default 1000 */
  readonly connectTimeoutMs?: number;
  /** Whole attempt (connect + insert) limit. @default 4000 */
  readonly attemptTimeoutMs?: number;
  /** Attempts in flight per target at most; a tick that finds this many skips. @default 40 */
  readonly maxInFlight?: number;
  /** Hard stop, a safety net when no signal comes. @default 30 minutes */
  readonly durationMs?: number;
}

/** One attempt: `ok` with the accepting server and its timeline, or the error. */
export interface WriteEvent {
  readonly source: string;
  readonly id: string;
  /** Attempt start and end, ms since the epoch. */
  readonly t0: number;
  readonly t1: number;
  readonly ok: boolean;
  /** inet_server_addr() of the PostgreSQL that committed the row. */
  readonly server?: string;
  /** Timeline of the WAL the row went to (from pg_walfile_name). */
  readonly timeline?: number;
  readonly error?: string;
}

/** The table every drill writes to (created by the drill before the writers start). */
export const WRITES_TABLE = 'drill_writes';

export const INSERT_SQL =
  `INSERT INTO ${WRITES_TABLE} (id, source) VALUES ($1, $2) ` +
  "RETURNING host(inet_server_addr()) AS server, ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS timeline";

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}


function destroy(client: Client): void {
  try {
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  } catch {
    // already gone
  }
}

async function attempt(target: WriterTarget, id: string, config: Required<Omit<WriterConfig, 'targets' | 'runTag'>>): Promise<WriteEvent> {
  const t0 = Date.now();
  const client = new Client({ connectionString: target.uri, connectionTimeoutMillis: config.connectTimeoutMs });
  client.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${config.attemptTimeoutMs} ms`)), config.attemptTimeoutMs);
  });
  try {
    const work = (async () => {
      await client.connect();
      return client.query<{ server: string; timeline: number }>(INSERT_SQL, [id, target.label]);
    })();
    work.catch(() => undefined);
    const result = await Promise.race([work, timeout]);
    const row = result.rows[0]!;
    const t1 = Date.now();
    void client.end().catch(() => undefined);
    return { source: target.label, id, t0, t1, ok: true, server: row.server, timeline: Number(row.timeline) };
  } catch (err) {
    destroy(client);
    const message = String((err as { message?: unknown })?.message ?? err).split('\n')[0]!.slice(0, 160);
    return { source: target.label, id, t0, t1: Date.now(), ok: false, error: message };
  } finally {
    clearTimeout(timer);
  }
}

async function main(): Promise<void> {
  const raw = JSON.parse(await readStdin()) as WriterConfig;
  const config = {
    intervalMs: raw.intervalMs ?? 100,
    connectTimeoutMs: raw.connectTimeoutMs ?? 1000,
    attemptTimeoutMs: raw.attemptTimeoutMs ?? 4000,
    maxInFlight: raw.maxInFlight ?? 40,
    durationMs: raw.durationMs ?? 30 * 60_000,
  };
  let stopping = false;
  process.on('SIGTERM', () => (stopping = true));
  process.on('SIGINT', () => (stopping = true));
  const started = Date.now();
  const inFlight = new Map<string, Set<Promise<void>>>(raw.targets.map((t) => [t.label, new Set()]));
  const seq = new Map<string, number>(raw.targets.map((t) => [t.label, 0]));
  process.stderr.write('READY\n');
  for (let tick = 0; !stopping && Date.now() - started < config.durationMs; tick++) {
    for (const target of raw.targets) {
      const flying = inFlight.get(target.label)!;
      if (flying.size >= config.maxInFlight) continue;
      const n = seq.get(target.label)! + 1;
      seq.set(target.label, n);
      const id = `${raw.runTag}-${target.label}-${n}`;
      const p: Promise<void> = attempt(target, id, config).then((event) => {
        process.stdout.write(`${JSON.stringify(event)}\n`);
        flying.delete(p);
      });
      flying.add(p);
    }
    const next = started + (tick + 1) * config.intervalMs;
    await sleep(Math.max(0, next - Date.now()));
  }
  const pending = [...inFlight.values()].flatMap((s) => [...s]);
  await Promise.race([Promise.all(pending), sleep(config.attemptTimeoutMs + 1000)]);
  process.stdout.write('', () => process.exit(0));
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`writer failed: ${String((err as Error)?.stack ?? err)}\n`);
    process.exit(2);
  });
}
