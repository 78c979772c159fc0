import { createHash, randomBytes } from 'node:crypto';
import type { DrillCase } from './drill-runner';
import { OpsError, oneLine } from './errors';
import { DEFAULT_MAX_LAG_BYTES, type PatroniClient, type PatroniMember, type ReplicaCandidate } from './patroni-client';
import { found, notYet, poll } from './poll';
import type { SqlRunner } from './sql';

export interface DbDrillOptions {
  readonly patroni: PatroniClient;
  /** SQL through the writer endpoint. */
  readonly sql: SqlRunner;
  /** The member to promote. @default - the best healthy replica */
  readonly candidate?: string;
  /** Rows written before the switchover. @default 100 */
  readonly rows?: number;
  /** In this many transactions. @default 10 */
  readonly batches?: number;
  /** Until the candidate leads and the writer endpoint reaches it. @default 120000 */
  readonly switchoverTimeoutMs?: number;
  /** Until the old leader streams again as a replica. @default 180000 */
  readonly rejoinTimeoutMs?: number;
  /** Until the cluster is healthy again (cleanup). @default 180000 */
  readonly healthyTimeoutMs?: number;
  readonly maxLagBytes?: number;
  /** Appears in the report's test name. @default 'db' */
  readonly label?: string;
}

/**
 * The database drill as a test case: a planned switchover through Patroni's REST API, checked
 * from the outside.
 * setup: the cluster is healthy, a candidate is fit, the writer endpoint reaches the leader, N rows
 * with unique ids are committed into a drill table of their own. execute: POST /switchover, wait
 * until the candidate leads and the writer endpoint reaches it. verify: another leader, a later
 * timeline, the old leader streaming again as a replica, every row written before present (count
 * and checksum of the ids), a new write commits. cleanup: drop the drill table, wait until healthy.
 */
export function dbDrillCase(options: DbDrillOptions): DrillCase {
  const { patroni, sql } = options;
  const rowCount = options.rows ?? 100;
  const batches = Math.max(1, Math.min(options.batches ?? 10, rowCount));
  const maxLag = options.maxLagBytes ?? DEFAULT_MAX_LAG_BYTES;
  const runId = `${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${randomBytes(3).toString('hex')}`;
  const table = `cdk_failover_drill_${runId}`;
  const ids = Array.from({ length: rowCount }, (_, i) => `${runId}-${String(i).padStart(6, '0')}`);
  let oldLeader: PatroniMember | undefined;
  let candidate: ReplicaCandidate | undefined;
  let newLeader: PatroniMember | undefined;
  let oldTimeline: number | undefined;
  let tableCreated = false;
  const label = options.label ?? 'db';

  const writerReaches = async (member: PatroniMember): Promise<{ ok: boolean; detail: string }> => {
    const [row] = await sql.query('SELECT pg_is_in_recovery(), host(inet_server_addr())', { timeoutMs: 5000 });
    const [recovery, address] = row ?? [];
    const ok = recovery === 'f' && (!member.host || address === member.host);
    return { ok, detail: `writer endpoint is on ${address || 'an unknown address'} (${recovery === 'f' ? 'primary' : 'in recovery'}); ${member.name} is ${member.host ?? 'at an unknown host'}` };
  };

  return {
    name: `${label} switchover`,
    description: 'planned switchover through the Patroni REST API, with rows written before checked after',

    async plan(ctx) {
      const status = await patroni.clusterStatus();
      const leader = await patroni.leader(status);
      let chosen: string;
      try {
        chosen = (await patroni.chooseCandidate({ candidate: options.candidate, maxLagBytes: maxLag, status })).name;
      } catch (err) {
        chosen = `none fit now (${oneLine(err)})`;
      }
      ctx.log(`members: ${status.members.map((m) => `${m.name} ${m.role} ${m.state}`).join(', ')}`);
      return [
        `Patroni REST API: ${patroni.urls.join(', ')} (answered: ${status.source})`,
        `1. check: cluster healthy; the writer endpoint (${sql.description}) reaches leader ${leader?.name ?? '(none now)'}`,
        `2. CREATE TABLE ${table}; INSERT ${rowCount} rows with unique ids in ${batches} transactions`,
        `3. POST /switchover {leader: ${leader?.name ?? '?'}, candidate: ${chosen}}; wait until it leads and the writer endpoint reaches it`,
        `4. verify: another leader, a later timeline, ${leader?.name ?? 'the old leader'} streaming again as a replica, all ${rowCount} rows present (count and checksum), a new write commits`,
        `5. cleanup, always: DROP TABLE ${table}; wait until the cluster is healthy`,
        'nothing was changed (--dry-run)',
      ];
    },

    async setup(ctx) {
      const health = await patroni.health({ maxLagBytes: maxLag });
      ctx.check('the cluster is healthy', health.healthy, health.healthy ? `leader ${health.leader?.name}, replicas ${health.replicas.map((r) => `${r.name} (${r.role}, lag ${r.lagBytes})`).join(', ')}` : health.issues.join('; '));
      if (!health.healthy) return;
      const status = await patroni.clusterStatus();
      oldLeader = await patroni.leader(status);
      if (!oldLeader) throw new OpsError('no leader');
      candidate = await patroni.chooseCandidate({ candidate: options.candidate, maxLagBytes: maxLag, status });
      // PostgreSQL's own timeline (GET /patroni): the DCS's copy in /cluster lags a loop behind.
      oldTimeline = (await patroni.nodeStatus(patroni.urlOf(oldLeader))).timeline ?? oldLeader.timeline;
      ctx.log(`leader ${oldLeader.name} on timeline ${oldTimeline}; candidate ${candidate.name} (${candidate.role}, lag ${candidate.lagBytes} bytes)`);
      ctx.measure('old_leader', oldLeader.name);
      ctx.measure('old_timeline', oldTimeline ?? 'unknown');
      const w = await writerReaches(oldLeader);
      if (!ctx.check('the writer endpoint reaches the leader', w.ok, w.detail)) return;
      tableCreated = true; // from here on cleanup drops it (DROP TABLE IF EXISTS)
      await sql.query(`CREATE TABLE ${table} (id text PRIMARY KEY, batch integer NOT NULL, written_at timestamptz NOT NULL DEFAULT clock_timestamp())`);
      const perBatch = Math.ceil(rowCount / batches);
      for (let b = 0; b < batches; b++) {
        const slice = ids.slice(b * perBatch, (b + 1) * perBatch);
        if (slice.length === 0) break;
        await sql.query(`INSERT INTO ${table} (id, batch) VALUES ${slice.map((id) => `('${id}', ${b})`).join(', ')}`);
      }
      const [row] = await sql.query(`SELECT count(*) FROM ${table}`);
      ctx.check(`${rowCount} rows are committed before the switchover`, Number(row?.[0]) === rowCount, `${row?.[0]} rows in ${table}, in ${batches} transactions`);
    },

    async execute(ctx) {
      const started = Date.now();
      const outcome = await patroni.switchover({ candidate: candidate!.name, maxLagBytes: maxLag });
      ctx.log(`Patroni answered ${outcome.status || 'nothing'}: ${outcome.message}`);
      newLeader = await patroni.waitForLeader({
        notMember: oldLeader!.name,
        timeoutMs: options.switchoverTimeoutMs ?? 120_000,
        signal: ctx.signal,
        onProgress: (r, ms) => ctx.log(`waiting for a new leader (${(ms / 1000).toFixed(0)} s): ${r}`),
      });
      ctx.measure('new_leader', newLeader.name);
      ctx.measure('switchover_seconds', round((Date.now() - started) / 1000));
      ctx.log(`${newLeader.name} leads after ${round((Date.now() - started) / 1000)} s; waiting for the writer endpoint to reach it`);
      await poll(
        `the writer endpoint to reach ${newLeader.name}`,
        async () => {
          const w = await writerReaches(newLeader!);
          return w.ok ? found(true) : notYet(w.detail);
        },
        { timeoutMs: options.switchoverTimeoutMs ?? 120_000, intervalMs: 500, signal: ctx.signal, onProgress: (r) => ctx.log(`waiting for the writer endpoint: ${r}`) },
      );
      ctx.measure('writable_after_seconds', round((Date.now() - started) / 1000));
    },

    async verify(ctx) {
      const status = await patroni.clusterStatus();
      const leader = await patroni.leader(status);
      ctx.check('a different member leads', !!leader && leader.name !== oldLeader!.name, `leader ${leader?.name ?? 'none'}, was ${oldLeader!.name}`);
      ctx.check('the chosen candidate leads', leader?.name === candidate!.name, `leader ${leader?.name ?? 'none'}, candidate ${candidate!.name}`);
      let newTimeline: number | undefined;
      try {
        newTimeline = await poll(
          `a timeline after ${oldTimeline} on ${leader?.name}`,
          async () => {
            const tl = (await patroni.nodeStatus(patroni.urlOf(leader!))).timeline;
            return tl !== undefined && oldTimeline !== undefined && tl > oldTimeline ? found(tl) : notYet(`${leader?.name} is on timeline ${tl ?? '?'}`);
          },
          { timeoutMs: 30_000, intervalMs: 500, signal: ctx.signal },
        );
        ctx.check('the timeline advanced', true, `timeline ${oldTimeline} -> ${newTimeline} (PostgreSQL on ${leader?.name})`);
      } catch (err) {
        if ((err as Error).name === 'InterruptedError') throw err;
        ctx.check('the timeline advanced', false, oneLine(err));
      }

      const rejoinStarted = Date.now();
      try {
        const m = await patroni.waitForMember(oldLeader!.name, ['replica', 'sync_standby'], {
          timeoutMs: options.rejoinTimeoutMs ?? 180_000,
          intervalMs: 1000,
          signal: ctx.signal,
          onProgress: (r, ms) => ctx.log(`waiting for ${oldLeader!.name} to rejoin (${(ms / 1000).toFixed(0)} s): ${r}`),
        });
        ctx.measure('old_leader_rejoined_seconds', round((Date.now() - rejoinStarted) / 1000));
        const own = await patroni.nodeStatus(patroni.urlOf(m));
        ctx.check(
          'the old leader rejoined as a streaming replica',
          own.role !== 'master' && own.role !== 'primary' && own.timeline === newTimeline,
          `${m.name} is ${m.role} (PostgreSQL: ${own.role}, ${own.state}, timeline ${own.timeline ?? '?'}), streaming from ${leader?.name}`,
        );
      } catch (err) {
        if ((err as Error).name === 'InterruptedError') throw err;
        ctx.check('the old leader rejoined as a streaming replica', false, oneLine(err));
      }

      const w = await writerReaches(leader ?? newLeader!);
      ctx.check('the writer endpoint reaches the new leader', w.ok, w.detail);
      const [row] = await sql.query(`SELECT count(*), md5(coalesce(string_agg(id, ',' ORDER BY id COLLATE "C"), '')) FROM ${table}`);
      const expected = createHash('md5').update([...ids].sort().join(',')).digest('hex');
      ctx.check(
        `all ${rowCount} rows written before are present`,
        Number(row?.[0]) === rowCount && row?.[1] === expected,
        `${row?.[0]} rows, ids checksum ${row?.[1] === expected ? 'matches' : `differs (${row?.[1]} != ${expected})`}`,
      );
      ctx.measure('rows_verified', Number(row?.[0]) || 0);
      await sql.query(`INSERT INTO ${table} (id, batch) VALUES ('${runId}-after', -1)`);
      const [after1] = await sql.query(`SELECT count(*) FROM ${table} WHERE id = '${runId}-after'`);
      ctx.check('a write after the switchover commits', after1?.[0] === '1', `row ${runId}-after ${after1?.[0] === '1' ? 'committed' : 'missing'}`);
    },

    async cleanup(ctx) {
      if (tableCreated) {
        await poll(
          `DROP TABLE ${table}`,
          async () => {
            await sql.query(`DROP TABLE IF EXISTS ${table}`);
            return found(true);
          },
          { timeoutMs: 60_000, intervalMs: 1000, onProgress: (r) => ctx.log(`dropping ${table}: ${r}`) },
        );
        ctx.log(`dropped ${table}`);
      }
      if (!oldLeader) return; // setup stopped before anything changed
      const started = Date.now();
      try {
        const h = await patroni.waitForHealthy({
          timeoutMs: options.healthyTimeoutMs ?? 180_000,
          maxLagBytes: maxLag,
          onProgress: (r, ms) => ctx.log(`waiting for a healthy cluster (${(ms / 1000).toFixed(0)} s): ${r}`),
        });
        ctx.check('the cluster is healthy after the drill', true, `leader ${h.leader?.name}, ${h.replicas.length} replicas streaming, after ${round((Date.now() - started) / 1000)} s`);
      } catch (err) {
        ctx.check('the cluster is healthy after the drill', false, oneLine(err));
      }
    },
  };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
