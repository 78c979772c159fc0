// The failover client's drills on the local rehearsal cluster (3 nodes, fast timing; root only):
// FailoverPool readers and writers run in the client namespace the whole time while the leader
// is killed, and then while Patroni switches over. The database must hold every acknowledged
// write, no write twice, nothing the client reported as not committed; the read and write
// availability the client achieved is reported (and written to $CLIENT_DRILL_REPORT, by default
// <tmpdir>/cdk-failover-client-drill.json).
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalCluster } from '../../lib/local';
import {
  availability,
  availabilityTable,
  verify,
  type Availability,
  type OpKind,
  type RowCount,
  type WorkloadSummary,
} from './client-drill-report';
import type { WorkloadConfig } from './client-workload';
import { sleep } from '../../lib/ops/poll';

// A name of its own per run (1-12 lowercase letters and digits): two runs of this file at once
// (two jest processes on one machine) would otherwise tear down each other's cluster.
const CLUSTER = `cli${process.pid}`.slice(0, 12);
const MINUTE = 60_000;
const ROOT = path.resolve(__dirname, '../..');
const REPORT = process.env.CLIENT_DRILL_REPORT ?? path.join(os.tmpdir(), 'cdk-failover-client-drill.json');
const WORKLOAD_MS = 45_000;
const FAULT_AFTER_MS = 8_000;
const WRITE_KINDS: OpKind[] = ['plain-write', 'idempotent-write', 'tx-write'];


/** A running workload: resolves when it printed READY, `done` when it exits with its summary. */
async function startWorkload(cluster: LocalCluster, config: WorkloadConfig): Promise<{ child: ChildProcess; done: Promise<WorkloadSummary> }> {
  const { child } = cluster.spawnInClient([process.execPath, '-r', 'ts-node/register/transpile-only', 'test/cluster/client-workload.ts'], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the workload was not READY within 60 s: ${stderr.slice(-500)}`)), MINUTE);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('READY\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the workload exited (${code}) before READY: ${stderr.slice(-500)}`));
    });
  });
  const done = new Promise<WorkloadSummary>((resolve, reject) => {
    const limit = config.durationMs + config.deadlineMs + 2 * MINUTE;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the workload did not finish within ${limit / 1000} s`));
    }, limit);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`the workload exited with ${code}: ${stderr.slice(-1000)}`));
      try {
        resolve(JSON.parse(stdout) as WorkloadSummary);
      } catch (err) {
        reject(new Error(`the workload printed no summary: ${stdout.slice(0, 200)} ${stderr.slice(-500)}`, { cause: err }));
      }
    });
  });
  done.catch(() => undefined);
  child.stdin!.end(JSON.stringify(config));
  await ready;
  return { child, done };
}

/** Rows of the run, grouped by key and part, read through the writer endpoint with psql. */
async function rowsOf(cluster: LocalCluster, runId: string): Promise<RowCount[]> {
  const out = await cluster.waitForSql(`SELECT key, part, count(*) FROM client_drill WHERE run = '${runId}' GROUP BY key, part`, {
    timeoutMs: MINUTE,
  });
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [key, part, n] = line.split('|');
      return { key: key!, part: Number(part), n: Number(n) };
    });
}

interface ScenarioReport {
  readonly scenario: string;
  readonly faultAt: number;
  readonly newLeaderAfterMs: number;
  readonly availability: Record<string, Availability>;
  readonly failures: Record<string, number>;
  readonly unknownPresent: number;
  readonly unknownAbsent: number;
  /** Outages the hooks reported, per endpoint: detected (ms after the fault) and their downtime. */
  readonly outages: { endpoint: string; role: string; detectedAt: number; downtimeMs?: number }[];
}

const reports: ScenarioReport[] = [];

function report(scenario: string, summary: WorkloadSummary, faultAt: number, newLeaderAfterMs: number, unknown: { present: number; absent: number }): ScenarioReport {
  const { ops, startedAt, endedAt } = summary;
  const writes = ops.filter((o) => o.kind !== 'read');
  const reads = ops.filter((o) => o.kind === 'read');
  const byKind: Record<string, Availability> = {
    writes: availability(writes, startedAt, endedAt),
    reads: availability(reads, startedAt, endedAt),
  };
  for (const kind of [...WRITE_KINDS, 'read' as const]) byKind[kind] = availability(ops.filter((o) => o.kind === kind), startedAt, endedAt);
  const failures: Record<string, number> = {};
  for (const o of ops.filter((x) => !x.ok)) failures[`${o.kind}:${o.failure}`] = (failures[`${o.kind}:${o.failure}`] ?? 0) + 1;
  const outages: ScenarioReport['outages'] = [];
  for (const h of summary.hooks) {
    if (h.hook === 'detected') outages.push({ endpoint: h.endpoint, role: h.role, detectedAt: h.at - faultAt });
    if (h.hook === 'recovered') {
      const open = outages.filter((o) => o.endpoint === h.endpoint && o.role === h.role).at(-1);
      if (open) Object.assign(open, { downtimeMs: h.downtimeMs });
    }
  }
  const r: ScenarioReport = {
    scenario,
    faultAt,
    newLeaderAfterMs,
    availability: byKind,
    failures,
    unknownPresent: unknown.present,
    unknownAbsent: unknown.absent,
    outages,
  };
  reports.push(r);
  return r;
}

function workloadConfig(runId: string, cluster: LocalCluster): WorkloadConfig {
  return {
    runId,
    writer: cluster.writerUri,
    readers: cluster.nodeNames.map((n) => cluster.nodeReaderUri(n)),
    durationMs: WORKLOAD_MS,
    plainWriters: 3,
    idempotentWriters: 1,
    txWriters: 1,
    readerLoops: 3,
    pauseMs: 50,
    maxAttempts: 60,
    deadlineMs: 45_000,
  };
}

/** The checks both drills make, and the figures they report. */
async function verifyRun(cluster: LocalCluster, scenario: string, summary: WorkloadSummary, faultAt: number, newLeaderAfterMs: number) {
  const rows = await rowsOf(cluster, summary.runId);
  const verdict = verify(summary.ops, rows);
  const r = report(scenario, summary, faultAt, newLeaderAfterMs, { present: verdict.unknownPresent, absent: verdict.unknownAbsent });
  console.log(
    `[${CLUSTER}] ${scenario}: new leader after ${(newLeaderAfterMs / 1000).toFixed(1)} s; ` +
      `failures ${JSON.stringify(r.failures)}; outcome unknown: ${verdict.unknownPresent} committed, ${verdict.unknownAbsent} not\n` +
      availabilityTable(Object.entries(r.availability).map(([kind, a]) => ({ scenario, kind, a, faultAt }))),
  );
  fs.writeFileSync(REPORT, `${JSON.stringify(reports, null, 2)}\n`);
  fs.writeFileSync(REPORT.replace(/\.json$/, '') + `-${scenario.replace(/\W+/g, '-')}.workload.json`, JSON.stringify({ faultAt, ...summary }));

  expect(verdict.lostAcknowledged).toEqual([]);
  expect(verdict.duplicated).toEqual([]);
  expect(verdict.knownFailedButPresent).toEqual([]);
  expect(verdict.partialTransactions).toEqual([]);
  // The pool rode through the outage: nothing ran out of attempts or time, and no error
  // escaped that is not a FailoverPoolError. The only failures are writes in flight when the
  // leader went, which the client must not send twice.
  const reasons = new Set(summary.ops.filter((o) => !o.ok).map((o) => o.failure));
  for (const reasonSeen of reasons) expect(['outcome-unknown', 'not-retried']).toContain(reasonSeen);
  expect(summary.ops.filter((o) => o.kind === 'read' && !o.ok)).toEqual([]);
  const inFlightLimit = 2 * (5 /* write loops */);
  expect(summary.ops.filter((o) => !o.ok).length).toBeLessThanOrEqual(inFlightLimit);
  // Writes went on after the fault, not only before it.
  expect(summary.ops.filter((o) => o.kind !== 'read' && o.ok && o.start > faultAt + newLeaderAfterMs).length).toBeGreaterThan(10);
}

if (process.env.SKIP_CLUSTER === '1') {
  test('the client drills are skipped on purpose (SKIP_CLUSTER=1)', () => {
    console.warn('SKIP_CLUSTER=1: the failover client drills did not run');
    expect(process.env.SKIP_CLUSTER).toBe('1');
  });
} else {
  describe('FailoverPool through a failover of the local cluster (3 nodes, fast timing)', () => {
    let cluster: LocalCluster;
    const log = (line: string) => console.log(`[${CLUSTER}] ${line}`);

    beforeAll(async () => {
      cluster = await LocalCluster.up({ clusterName: CLUSTER, nodes: 3, timing: 'fast', log });
      await cluster.sql(
        'CREATE TABLE client_drill (id bigserial PRIMARY KEY, run text NOT NULL, key text NOT NULL, part int NOT NULL, ' +
          'kind text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())',
      );
      await cluster.sql('CREATE INDEX ON client_drill (key)');
    }, 15 * MINUTE);

    afterAll(async () => {
      if (reports.length) console.log(`[${CLUSTER}] report written to ${REPORT}`);
      await LocalCluster.down({ clusterName: CLUSTER });
    }, 3 * MINUTE);

    test('kill the leader: no acknowledged write lost, none doubled, reads and writes ride through', async () => {
      const { done } = await startWorkload(cluster, workloadConfig('kill', cluster));
      await sleep(FAULT_AFTER_MS);
      const leader = (await cluster.leader())!;
      expect(leader).toBeDefined();
      const faultAt = Date.now();
      await cluster.kill(leader);
      const newLeader = await cluster.waitForLeader({ notNode: leader, timeoutMs: MINUTE, intervalMs: 200 });
      const newLeaderAfterMs = Date.now() - faultAt;
      log(`killed ${leader}; ${newLeader} leads after ${(newLeaderAfterMs / 1000).toFixed(1)} s`);
      const summary = await done;
      await verifyRun(cluster, 'kill leader', summary, faultAt, newLeaderAfterMs);

      await cluster.heal(leader);
      await cluster.waitForRole(leader, ['replica', 'sync_standby'], { timeoutMs: 2 * MINUTE });
      await cluster.waitForHealthy({ timeoutMs: 2 * MINUTE });
    }, 8 * MINUTE);

    test("switchover through Patroni's REST API: the same guarantees", async () => {
      const { done } = await startWorkload(cluster, workloadConfig('switchover', cluster));
      await sleep(FAULT_AFTER_MS);
      const leader = (await cluster.leader())!;
      const faultAt = Date.now();
      const answer = await cluster.rest(leader, { method: 'POST', path: '/switchover', json: { leader }, timeoutMs: 40_000 });
      expect([answer.status, answer.body]).toEqual([200, expect.stringMatching(/^Successfully switched over to "pg-\d"/)]);
      const newLeader = await cluster.waitForLeader({ notNode: leader, timeoutMs: MINUTE, intervalMs: 200 });
      const newLeaderAfterMs = Date.now() - faultAt;
      log(`switched over from ${leader} to ${newLeader} in ${(newLeaderAfterMs / 1000).toFixed(1)} s`);
      const summary = await done;
      await verifyRun(cluster, 'switchover', summary, faultAt, newLeaderAfterMs);
    }, 8 * MINUTE);
  });
}
