// The failover drills on a running local rehearsal cluster: one implementation, used by the jest
// drills (test/cluster/drills.test.ts) and by the benchmark (bench/run.ts).
//
// Every drill writes through the writer endpoint (the client namespace's front) with a writer
// process (./writer.ts) on a steady cadence, injects its fault, waits (bounded) for the outcome,
// heals, waits for a healthy cluster, stops the writers and then reads back every id: the result
// says which acknowledged writes are missing, when each server accepted writes, and how long
// writes were unavailable. The drills measure and report; the tests assert.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isRunningState, type ApplyChange, type LocalCluster, type NodeRestart } from '../../../lib/local';
import { availability, lostWrites, overlappingWindows, writeWindows, type Availability, type WindowOverlap, type WriteWindow } from './analysis';
import { switchoverMarks, switchoverParts, type SwitchoverMarks, type SwitchoverPart } from './switchover-timeline';
import { WRITES_TABLE, type WriteEvent, type WriterConfig, type WriterTarget } from './writer';
import { sleep } from '../../../lib/ops/poll';

const ROOT = path.resolve(__dirname, '../../..');
const WRITER = path.join(__dirname, 'writer.ts');
const SECOND = 1000;

export type Scenario = 'kill' | 'freeze' | 'partition' | 'switchover' | 'replica-loss' | 'etcd-loss' | 'rejoin' | 'repeated-failover' | 'apply' | 'replace-all' | 'restart-all';
export const FAILOVER_FAULTS = ['kill', 'freeze', 'partition'] as const;
export type FailoverFault = (typeof FAILOVER_FAULTS)[number];

export interface RejoinReport {
  readonly node: string;
  readonly role: string;
  readonly state: string;
  readonly timeline: number | null;
  readonly leaderTimeline: number | null;
  /** Whether the node's Patroni log says "running pg_rewind from" after the fault. */
  readonly rewound: boolean;
  /** Acknowledged ids missing from the node's own PostgreSQL once it streams again. */
  readonly missingOnNode: number;
}

export interface DrillResult {
  readonly scenario: Scenario;
  readonly profile: string;
  readonly runTag: string;
  readonly faultNode: string;
  readonly oldLeader: string;
  /** The leader once the cluster is healthy again. */
  readonly leaderAfter: string;
  readonly faultAt: number;
  /** Write availability seen by the writer endpoint's writer, per fault (five for repeated-failover). */
  readonly faults: readonly { readonly at: number; readonly node: string; readonly availability: Availability }[];
  /** Switchover: from the POST to the first write acknowledged by the candidate. */
  readonly switchoverMs?: number;
  /** Switchover: where its time went, from the nodes' logs and the client's writes. */
  readonly switchoverTimeline?: { readonly marks: SwitchoverMarks; readonly parts: readonly SwitchoverPart[] };
  /** Apply, replace-all: the leader's timeline before and after (each switchover or failover adds one). */
  readonly timelines?: { readonly before: number; readonly after: number };
  /** Restart-all: what `restartAll` reported, and what the once-a-second samples of the members saw. */
  readonly restartAll?: RestartAllObservation;
  /** Leaders observed while a fault that must not cause a failover was in force. */
  readonly leadersDuringFault?: readonly string[];
  readonly windows: readonly WriteWindow[];
  readonly overlaps: readonly WindowOverlap[];
  readonly acked: number;
  readonly lost: readonly string[];
  /** Partition: writes the isolated node acknowledged (own HAProxy or own PostgreSQL) after the fault. */
  readonly isolatedAcksAfterFault?: number;
  readonly rejoin?: RejoinReport;
  /** From healing to a healthy cluster. */
  readonly healthyAfterHealMs?: number;
  /** Every event of the writer endpoint's writer (for the timeline chart). */
  readonly frontEvents: readonly WriteEvent[];
  readonly extraEvents: readonly WriteEvent[];
}

/** One look at every member while `restartAll` runs: those not running (Patroni's REST API silent, or its state not 'running'). */
export interface MemberSample {
  readonly at: number;
  readonly down: readonly string[];
  /** The leader then (GET /patroni of each member that answered), if one answered as leader. */
  readonly leader?: string;
}

export interface RestartAllObservation {
  /** The nodes in the order they were first seen down. */
  readonly order: readonly string[];
  /** The most members seen down in one sample. */
  readonly maxDown: number;
  readonly samples: readonly MemberSample[];
  /** `restartAll`'s own report: the nodes in the order their containers exited. */
  readonly nodes: readonly NodeRestart[];
  readonly seconds: number;
}

export interface DrillOptions {
  readonly log?: (line: string) => void;
  /** Writes per second per target = 1000 / intervalMs. @default 100 */
  readonly intervalMs?: number;
}

// ---- the writer process ----------------------------------------------------------------------

export interface RunningWriter {
  readonly events: WriteEvent[];
  /** SIGTERM, then wait (bounded) for its last events; SIGKILL if it does not exit. */
  stop(): Promise<WriteEvent[]>;
}

/** Starts the writer in the client namespace, or in a node's namespace when `node` is given. */
export async function startWriter(cluster: LocalCluster, config: WriterConfig, node?: string): Promise<RunningWriter> {
  const argv = [process.execPath, '-r', 'ts-node/register/transpile-only', WRITER];
  const options = { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] as ['pipe', 'pipe', 'pipe'] };
  const { child } = node ? cluster.spawnInNode(node, argv, options) : cluster.spawnInClient(argv, options);
  const events: WriteEvent[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString();
    let cut: number;
    while ((cut = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, cut);
      buffered = buffered.slice(cut + 1);
      if (line.trim()) events.push(JSON.parse(line) as WriteEvent);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`writer not READY within 60 s: ${stderr.slice(-300)}`)), 60 * SECOND);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('READY\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`writer exited (${code}) before READY: ${stderr.slice(-300)}`));
    });
    child.stdin!.end(JSON.stringify(config));
  }).catch((err) => {
    child.kill('SIGKILL');
    throw err;
  });
  let stopped: Promise<WriteEvent[]> | undefined;
  return {
    events,
    stop: () =>
      (stopped ??= (async () => {
        child.kill('SIGTERM');
        const code = await Promise.race([exited, sleep(15 * SECOND).then(() => 'timeout' as const)]);
        if (code === 'timeout') {
          child.kill('SIGKILL');
          await Promise.race([exited, sleep(5 * SECOND)]);
        }
        return events;
      })()),
  };
}

// ---- helpers ---------------------------------------------------------------------------------

export { sleep };

/** Bounded in time and in looks: until `predicate` holds for one of the writer's events. */
export async function waitForEvent(writer: RunningWriter, what: string, predicate: (e: WriteEvent) => boolean, timeoutMs: number): Promise<WriteEvent> {
  const deadline = Date.now() + timeoutMs;
  for (let look = 0; look < timeoutMs / 100 + 2; look++) {
    const hit = writer.events.find(predicate);
    if (hit) return hit;
    if (Date.now() > deadline) break;
    await sleep(100);
  }
  const last = writer.events[writer.events.length - 1];
  throw new Error(`timed out after ${timeoutMs / SECOND} s waiting for ${what} (last event: ${JSON.stringify(last)})`);
}

/** Creates the drills' table (idempotent). */
export async function prepareTable(cluster: LocalCluster): Promise<void> {
  await cluster.waitForSql(`CREATE TABLE IF NOT EXISTS ${WRITES_TABLE} (id text PRIMARY KEY, source text NOT NULL, at timestamptz NOT NULL DEFAULT now())`, {
    timeoutMs: 60 * SECOND,
  });
}

/** Ids of this run present on the PostgreSQL behind `uri` (the writer endpoint by default). */
/** The run's ids on the writer, or with `node` on that node's PostgreSQL (queried from the node: the superuser's only way in). */
export async function presentIds(cluster: LocalCluster, runTag: string, node?: string): Promise<Set<string>> {
  const uri = node === undefined ? undefined : cluster.nodePostgresUri(node);
  const out = await cluster.sql(`SELECT id FROM ${WRITES_TABLE} WHERE id LIKE '${runTag}-%'`, { uri, from: node, timeoutMs: 60 * SECOND });
  return new Set(out.split('\n').filter(Boolean));
}

/** Time limits derived from the cluster's timing. */
export function budgets(cluster: LocalCluster): { failoverMs: number; healthyMs: number } {
  const ttl = cluster.timing.ttlSeconds * SECOND;
  return { failoverMs: 3 * ttl + 60 * SECOND, healthyMs: 4 * ttl + 150 * SECOND };
}

function newRunTag(scenario: string): string {
  return `${scenario.replace(/[^a-z]/g, '')}${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
}

function leaderAddressOf(cluster: LocalCluster, name: string): string {
  return cluster.nodeAddress(name);
}

async function currentLeader(cluster: LocalCluster): Promise<string> {
  const leader = await cluster.leader();
  if (!leader) throw new Error('no leader');
  return leader;
}

/** Patroni's log and PostgreSQL's logs (every postgresql-*.log, the week's files) of one node, written since `since`. */
function nodeLogs(cluster: LocalCluster, node: string, since: number): { patroni: string; postgres: string } {
  const logDir = cluster.nodePaths(node).logDir;
  const read = (match: (file: string) => boolean) =>
    (fs.existsSync(logDir) ? fs.readdirSync(logDir) : [])
      .filter(match)
      .map((f) => path.join(logDir, f))
      .filter((f) => fs.statSync(f).mtimeMs >= since)
      .map((f) => fs.readFileSync(f, 'utf8'))
      .join('\n');
  // Patroni rotates its log (patroni.log.1, ...).
  return { patroni: read((f) => /^patroni\.log(\.\d+)?$/.test(f)), postgres: read((f) => /^postgresql-.*\.log$/.test(f)) };
}

async function rejoinReport(cluster: LocalCluster, node: string, since: number, runTag: string, acked: readonly WriteEvent[]): Promise<RejoinReport> {
  const status = await cluster.status();
  const me = status.nodes.find((n) => n.name === node)!;
  const leader = status.nodes.find((n) => n.role === 'leader');
  const rewound = /running pg_rewind from/.test(nodeLogs(cluster, node, since).patroni.slice(-2_000_000));
  // The replica may trail a little: wait (bounded) for every acknowledged id on the node itself.
  let missing = acked.length;
  for (let look = 0; look < 30 && missing > 0; look++) {
    const present = await presentIds(cluster, runTag, node).catch(() => new Set<string>());
    missing = acked.filter((e) => !present.has(e.id)).length;
    if (missing > 0) await sleep(SECOND);
  }
  return {
    node,
    role: me.role,
    state: me.state,
    timeline: me.timeline,
    leaderTimeline: leader?.timeline ?? null,
    rewound,
    missingOnNode: missing,
  };
}

interface Collected {
  readonly front: RunningWriter;
  readonly extra: RunningWriter[];
}

async function stopAll(c: Collected): Promise<void> {
  await Promise.all([c.front.stop(), ...c.extra.map((w) => w.stop())]);
}

async function finish(
  cluster: LocalCluster,
  c: Collected,
  base: Omit<DrillResult, 'windows' | 'overlaps' | 'acked' | 'lost' | 'frontEvents' | 'extraEvents' | 'leaderAfter'>,
): Promise<DrillResult> {
  await stopAll(c);
  const frontEvents = [...c.front.events];
  const extraEvents = c.extra.flatMap((w) => w.events);
  const all = [...frontEvents, ...extraEvents];
  const present = await presentIds(cluster, base.runTag);
  const windows = writeWindows(all);
  return {
    ...base,
    leaderAfter: await currentLeader(cluster),
    windows,
    overlaps: overlappingWindows(windows),
    acked: all.filter((e) => e.ok).length,
    lost: lostWrites(all, present),
    frontEvents,
    extraEvents,
  };
}

async function startFront(cluster: LocalCluster, runTag: string, options: DrillOptions): Promise<RunningWriter> {
  const front = await startWriter(cluster, { runTag, targets: [{ label: 'front', uri: cluster.writerUri }], intervalMs: options.intervalMs });
  await waitForEvent(front, '10 acknowledged writes before the fault', (e) => e.ok && front.events.filter((x) => x.ok).length >= 10, 60 * SECOND);
  return front;
}

async function guarded<T>(cluster: LocalCluster, writers: () => RunningWriter[], body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    await Promise.all(writers().map((w) => w.stop())).catch(() => undefined);
    await cluster.healAll().catch(() => undefined);
    throw err;
  }
}

// ---- the drills ------------------------------------------------------------------------------

/**
 * Unplanned loss of the leader (kill, freeze or partition), then heal: the old leader must rejoin
 * as a replica. For a partition, writers inside the old leader's namespace also write through its
 * own HAProxy and straight to its PostgreSQL the whole time.
 */
export async function failoverDrill(cluster: LocalCluster, fault: FailoverFault | 'rejoin', options: DrillOptions = {}): Promise<DrillResult> {
  const log = options.log ?? (() => undefined);
  const { failoverMs, healthyMs } = budgets(cluster);
  await cluster.waitForHealthy({ timeoutMs: healthyMs });
  await prepareTable(cluster);
  const scenario: Scenario = fault;
  const kind = fault === 'rejoin' ? 'kill' : fault;
  const runTag = newRunTag(scenario);
  const oldLeader = await currentLeader(cluster);
  const oldAddress = leaderAddressOf(cluster, oldLeader);
  const writers: RunningWriter[] = [];
  return guarded(cluster, () => writers, async () => {
    const front = await startFront(cluster, runTag, options);
    writers.push(front);
    const extra: RunningWriter[] = [];
    if (kind === 'partition') {
      const targets: WriterTarget[] = [
        { label: `${oldLeader}-haproxy`, uri: cluster.nodeWriterUri(oldLeader) },
        { label: `${oldLeader}-postgres`, uri: cluster.nodePostgresUri(oldLeader) },
      ];
      const inside = await startWriter(cluster, { runTag, targets, intervalMs: options.intervalMs }, oldLeader);
      writers.push(inside);
      extra.push(inside);
      await waitForEvent(inside, 'a write through the old leader itself', (e) => e.ok, 30 * SECOND);
    }
    await sleep(SECOND);
    const faultAt = Date.now();
    await cluster.fault(kind, oldLeader);
    log(`${scenario}: ${kind} ${oldLeader}`);
    const newLeader = await cluster.waitForLeader({ notNode: oldLeader, timeoutMs: failoverMs, intervalMs: 200 });
    const first = await waitForEvent(front, `a write acknowledged by a node other than ${oldLeader}`, (e) => e.ok && e.t0 >= faultAt && e.server !== oldAddress, failoverMs);
    log(`${scenario}: ${newLeader} leads; writable again after ${((first.t1 - faultAt) / SECOND).toFixed(1)} s`);
    // Hold the fault a while with the new leader taking writes (the isolated node keeps trying).
    await sleep(kind === 'partition' ? 5 * SECOND : 2 * SECOND);
    // The writers inside the isolated node have shown what they came to show. Left running, they
    // open a superuser connection every 100 ms that hangs in the synchronous-replication wait,
    // until no slot is left and Patroni cannot reach its own PostgreSQL to rejoin it ("too many
    // clients already" in the runs that never got healthy again).
    await Promise.all(extra.map((w) => w.stop()));
    const healAt = Date.now();
    await cluster.heal(oldLeader);
    await cluster.waitForRole(oldLeader, ['replica', 'sync_standby'], { timeoutMs: healthyMs });
    await cluster.waitForHealthy({ timeoutMs: healthyMs });
    const healthyAfterHealMs = Date.now() - healAt;
    await sleep(2 * SECOND);
    const c = { front, extra };
    await stopAll(c);
    const ackedAll = [...front.events, ...extra.flatMap((w) => w.events)].filter((e) => e.ok);
    const rejoin = await rejoinReport(cluster, oldLeader, faultAt, runTag, ackedAll);
    const isolatedAcksAfterFault =
      kind === 'partition' ? extra.flatMap((w) => w.events).filter((e) => e.ok && e.t0 >= faultAt && e.t1 < healAt).length : undefined;
    return finish(cluster, c, {
      scenario,
      profile: cluster.timingProfile,
      runTag,
      faultNode: oldLeader,
      oldLeader,
      faultAt,
      faults: [{ at: faultAt, node: oldLeader, availability: availability(front.events, faultAt, oldAddress) }],
      isolatedAcksAfterFault,
      rejoin,
      healthyAfterHealMs,
    });
  });
}

/** Planned switchover through the REST API (POST /switchover, basic auth) to the sync standby. */
export async function switchoverDrill(cluster: LocalCluster, options: DrillOptions = {}): Promise<DrillResult> {
  const log = options.log ?? (() => undefined);
  const { failoverMs, healthyMs } = budgets(cluster);
  await cluster.waitForHealthy({ timeoutMs: healthyMs });
  await prepareTable(cluster);
  const runTag = newRunTag('switchover');
  const members = await cluster.members();
  const oldLeader = members.find((m) => m.role === 'leader')!.name;
  const candidate = (members.find((m) => m.role === 'sync_standby') ?? members.find((m) => m.role !== 'leader'))!.name;
  const writers: RunningWriter[] = [];
  return guarded(cluster, () => writers, async () => {
    const front = await startFront(cluster, runTag, options);
    writers.push(front);
    await sleep(SECOND);
    const faultAt = Date.now();
    const answer = await cluster.rest(oldLeader, { method: 'POST', path: '/switchover', json: { leader: oldLeader, candidate }, timeoutMs: 60 * SECOND });
    if (answer.status !== 200) throw new Error(`POST /switchover answered ${answer.status}: ${answer.body || answer.error}`);
    const first = await waitForEvent(front, `a write acknowledged by ${candidate}`, (e) => e.ok && e.t0 >= faultAt && e.server === cluster.nodeAddress(candidate), failoverMs);
    const switchoverMs = first.t1 - faultAt;
    log(`switchover ${oldLeader} -> ${candidate}: writes on ${candidate} after ${(switchoverMs / SECOND).toFixed(2)} s`);
    await cluster.waitForHealthy({ timeoutMs: healthyMs });
    await sleep(2 * SECOND);
    const old = nodeLogs(cluster, oldLeader, faultAt);
    const cand = nodeLogs(cluster, candidate, faultAt);
    const marks = switchoverMarks(
      { oldLeaderPatroni: old.patroni, oldLeaderPostgres: old.postgres, candidatePatroni: cand.patroni, candidatePostgres: cand.postgres },
      faultAt,
      front.events,
      cluster.nodeAddress(candidate),
    );
    const parts = switchoverParts(marks);
    log(`switchover timeline: ${parts.map((p) => `${p.name} ${p.ms === null ? '?' : p.ms} ms`).join(', ')}`);
    return finish(cluster, { front, extra: [] }, {
      scenario: 'switchover',
      switchoverTimeline: { marks, parts },
      profile: cluster.timingProfile,
      runTag,
      faultNode: oldLeader,
      oldLeader,
      faultAt,
      faults: [{ at: faultAt, node: oldLeader, availability: availability(front.events, faultAt, cluster.nodeAddress(oldLeader)) }],
      switchoverMs,
    });
  });
}

/** The leader's timeline now (NaN without a leader): a switchover or failover adds one. */
async function leaderTimeline(cluster: LocalCluster): Promise<number> {
  return (await cluster.status()).nodes.find((n) => n.role === 'leader')?.timeline ?? NaN;
}

/**
 * `failover local apply` of `change` under continuous writes through the writer endpoint: what a
 * deploy of a changed stack does to a running cluster (booted clusters). The leader's timeline
 * before and after says how many switchovers or failovers the change cost.
 */
export async function applyDrill(cluster: LocalCluster, change: ApplyChange, options: DrillOptions = {}): Promise<DrillResult> {
  const log = options.log ?? (() => undefined);
  const { healthyMs } = budgets(cluster);
  await cluster.waitForHealthy({ timeoutMs: healthyMs });
  await prepareTable(cluster);
  const runTag = newRunTag('apply');
  const oldLeader = (await cluster.waitForLeader({ timeoutMs: healthyMs }));
  const before = await leaderTimeline(cluster);
  const writers: RunningWriter[] = [];
  return guarded(cluster, () => writers, async () => {
    const front = await startFront(cluster, runTag, options);
    writers.push(front);
    await sleep(SECOND);
    const faultAt = Date.now();
    const applied = await cluster.apply({ timeoutMs: 10 * 60 * SECOND, ...change });
    log(`apply ${JSON.stringify(change)}: every node signalled after ${applied.seconds.toFixed(1)} s`);
    await cluster.waitForHealthy({ timeoutMs: healthyMs });
    await sleep(2 * SECOND);
    const after = await leaderTimeline(cluster);
    return finish(cluster, { front, extra: [] }, {
      scenario: 'apply',
      profile: cluster.timingProfile,
      runTag,
      faultNode: oldLeader,
      oldLeader,
      faultAt,
      faults: [{ at: faultAt, node: oldLeader, availability: availability(front.events, faultAt) }],
      timelines: { before, after },
    });
  });
}

/**
 * Every node of a booted cluster replaced in turn under continuous writes, as a planned instance
 * refresh does it: the replicas first, the leader last, each drained first (`cdk-failover-agent
 * drain`: the leader's drain is the one switchover), the cluster healthy again before the next
 * node. One entry in `faults` per node, at the start of its drain.
 */
export async function replaceAllDrill(cluster: LocalCluster, options: DrillOptions = {}): Promise<DrillResult> {
  const log = options.log ?? (() => undefined);
  const { healthyMs } = budgets(cluster);
  const healthy = () => cluster.waitForHealthy({ timeoutMs: healthyMs, members: cluster.nodeNames });
  await healthy();
  await prepareTable(cluster);
  const runTag = newRunTag('replace-all');
  const oldLeader = await cluster.waitForLeader({ timeoutMs: healthyMs });
  const before = await leaderTimeline(cluster);
  const order = [...cluster.nodeNames.filter((n) => n !== oldLeader), oldLeader];
  const writers: RunningWriter[] = [];
  return guarded(cluster, () => writers, async () => {
    const front = await startFront(cluster, runTag, options);
    writers.push(front);
    await sleep(SECOND);
    const started: { at: number; node: string }[] = [];
    for (const node of order) {
      const at = Date.now();
      started.push({ at, node });
      await cluster.replace(node, { drain: true });
      await healthy();
      log(`replace-all: ${node} drained, replaced and healthy again after ${((Date.now() - at) / SECOND).toFixed(1)} s (leader ${await cluster.leader()})`);
    }
    await sleep(2 * SECOND);
    const after = await leaderTimeline(cluster);
    return finish(cluster, { front, extra: [] }, {
      scenario: 'replace-all',
      profile: cluster.timingProfile,
      runTag,
      faultNode: oldLeader,
      oldLeader,
      faultAt: started[0]!.at,
      faults: started.map((s) => ({ ...s, availability: availability(front.events, s.at) })),
      timelines: { before, after },
    });
  });
}

/**
 * Samples once a second which members are down (Patroni silent or not running) and which leads,
 * logging each change, until `stop()`: bounded by its caller's own bounds and by a look count.
 */
export function sampleMembers(cluster: LocalCluster, label: string, log: (line: string) => void): { readonly samples: MemberSample[]; stop(): Promise<void> } {
  const started = Date.now();
  const samples: MemberSample[] = [];
  let sampling = true;
  const running = (async () => {
    for (let look = 0; sampling && look < 4 * 3600; look++) {
      const at = Date.now();
      const seen = await Promise.all(cluster.nodeNames.map(async (name) => ({ name, status: await cluster.nodeStatus(name, 900) })));
      const down = seen.filter((x) => !isRunningState(x.status?.state ?? 'silent')).map((x) => x.name);
      // GET /patroni names the leader's role 'master' (Patroni 3), 'primary' (4).
      const leader = seen.find((x) => ['master', 'primary', 'leader'].includes(x.status?.role ?? ''))?.name;
      const previous = samples[samples.length - 1];
      if (previous === undefined || previous.down.join() !== down.join()) log(`${label}: ${((at - started) / SECOND).toFixed(0)} s: down ${down.join(', ') || 'none'}${leader ? ` (leader ${leader})` : ''}`);
      samples.push({ at, down, ...(leader ? { leader } : {}) });
      await sleep(Math.max(0, SECOND - (Date.now() - at)));
    }
  })();
  return {
    samples,
    stop: async () => {
      sampling = false;
      await running;
    },
  };
}

/**
 * Every node of a booted cluster stopped at once and started again once down, as CloudFormation's
 * instance-type change does it (`restartAll`), under continuous writes. Each node's shutdown
 * drains it (the drain unit, with its instance UPDATE_IN_PROGRESS); every member is looked at once
 * a second meanwhile (GET /patroni from the client, all at once): which were down together, in
 * which order they went down.
 */
export async function restartAllDrill(cluster: LocalCluster, options: DrillOptions = {}): Promise<DrillResult> {
  const log = options.log ?? (() => undefined);
  const { healthyMs } = budgets(cluster);
  const healthy = () => cluster.waitForHealthy({ timeoutMs: healthyMs, members: cluster.nodeNames });
  await healthy();
  await prepareTable(cluster);
  const runTag = newRunTag('restart-all');
  const oldLeader = await cluster.waitForLeader({ timeoutMs: healthyMs });
  const before = await leaderTimeline(cluster);
  const writers: RunningWriter[] = [];
  return guarded(cluster, () => writers, async () => {
    const front = await startFront(cluster, runTag, options);
    writers.push(front);
    await sleep(SECOND);
    const faultAt = Date.now();
    const sampler = sampleMembers(cluster, 'restart-all', log);
    let report: Awaited<ReturnType<LocalCluster['restartAll']>>;
    try {
      report = await cluster.restartAll();
      await healthy();
    } finally {
      await sampler.stop();
    }
    const samples = sampler.samples;
    log(`restart-all: every node restarted in ${report.seconds.toFixed(1)} s and the cluster is healthy after ${((Date.now() - faultAt) / SECOND).toFixed(1)} s`);
    await sleep(2 * SECOND);
    const after = await leaderTimeline(cluster);
    const order: string[] = [];
    for (const sample of samples) for (const name of sample.down) if (!order.includes(name)) order.push(name);
    const restartAll: RestartAllObservation = { order, maxDown: Math.max(0, ...samples.map((x) => x.down.length)), samples, nodes: report.nodes, seconds: report.seconds };
    return finish(cluster, { front, extra: [] }, {
      scenario: 'restart-all',
      profile: cluster.timingProfile,
      runTag,
      faultNode: oldLeader,
      oldLeader,
      faultAt,
      faults: [{ at: faultAt, node: oldLeader, availability: availability(front.events, faultAt) }],
      timelines: { before, after },
      restartAll,
    });
  });
}

/**
 * A fault that must not cause a failover: the loss of a replica (the synchronous standby, the
 * harder case) or of the leader's own etcd member. The leader is sampled every second while the
 * fault lasts (two ttl plus a loop, at least 20 s); writes must go on.
 */
export async function noFailoverDrill(cluster: LocalCluster, scenario: 'replica-loss' | 'etcd-loss', options: DrillOptions = {}): Promise<DrillResult> {
  const log = options.log ?? (() => undefined);
  const { healthyMs } = budgets(cluster);
  await cluster.waitForHealthy({ timeoutMs: healthyMs });
  await prepareTable(cluster);
  const runTag = newRunTag(scenario);
  const members = await cluster.members();
  const oldLeader = members.find((m) => m.role === 'leader')!.name;
  const faultNode =
    scenario === 'etcd-loss' ? oldLeader : (members.find((m) => m.role === 'sync_standby') ?? members.find((m) => m.role !== 'leader'))!.name;
  const writers: RunningWriter[] = [];
  return guarded(cluster, () => writers, async () => {
    const front = await startFront(cluster, runTag, options);
    writers.push(front);
    await sleep(SECOND);
    const faultAt = Date.now();
    await cluster.fault(scenario === 'etcd-loss' ? 'kill-etcd' : 'kill', faultNode);
    log(`${scenario}: fault on ${faultNode} (leader ${oldLeader})`);
    const holdMs = Math.max(20 * SECOND, (2 * cluster.timing.ttlSeconds + cluster.timing.loopWaitSeconds) * SECOND);
    const leadersDuringFault: string[] = [];
    for (let look = 0; look < holdMs / SECOND + 1 && Date.now() - faultAt < holdMs; look++) {
      leadersDuringFault.push((await cluster.leader()) ?? 'none');
      await sleep(SECOND);
    }
    await cluster.heal(faultNode);
    const healAt = Date.now();
    await cluster.waitForHealthy({ timeoutMs: healthyMs });
    const healthyAfterHealMs = Date.now() - healAt;
    await sleep(2 * SECOND);
    return finish(cluster, { front, extra: [] }, {
      scenario,
      profile: cluster.timingProfile,
      runTag,
      faultNode,
      oldLeader,
      faultAt,
      faults: [{ at: faultAt, node: faultNode, availability: availability(front.events, faultAt) }],
      leadersDuringFault,
      healthyAfterHealMs,
    });
  });
}

/** `count` leader kills in a row under one continuous writer, each healed before the next. */
export async function repeatedFailoverDrill(cluster: LocalCluster, count = 5, options: DrillOptions = {}): Promise<DrillResult> {
  const log = options.log ?? (() => undefined);
  const { failoverMs, healthyMs } = budgets(cluster);
  await cluster.waitForHealthy({ timeoutMs: healthyMs });
  await prepareTable(cluster);
  const runTag = newRunTag('repeated');
  const firstLeader = await currentLeader(cluster);
  const writers: RunningWriter[] = [];
  return guarded(cluster, () => writers, async () => {
    const front = await startFront(cluster, runTag, options);
    writers.push(front);
    const faults: { at: number; node: string; availability: Availability }[] = [];
    for (let i = 0; i < count; i++) {
      await cluster.waitForHealthy({ timeoutMs: healthyMs });
      const leader = await currentLeader(cluster);
      await sleep(SECOND);
      const at = Date.now();
      await cluster.kill(leader);
      const next = await cluster.waitForLeader({ notNode: leader, timeoutMs: failoverMs, intervalMs: 200 });
      const first = await waitForEvent(front, `a write acknowledged by ${next}`, (e) => e.ok && e.t0 >= at && e.server !== cluster.nodeAddress(leader), failoverMs);
      log(`failover ${i + 1}/${count}: ${leader} -> ${next}, writable again after ${((first.t1 - at) / SECOND).toFixed(1)} s`);
      faults.push({ at, node: leader, availability: availability(front.events, at, cluster.nodeAddress(leader)) });
      await sleep(SECOND);
      await cluster.heal(leader);
      await cluster.waitForRole(leader, ['replica', 'sync_standby'], { timeoutMs: healthyMs });
    }
    await cluster.waitForHealthy({ timeoutMs: healthyMs });
    await sleep(2 * SECOND);
    // Recompute each fault's figures over the whole run (later acks may now exist).
    const events = front.events;
    return finish(cluster, { front, extra: [] }, {
      scenario: 'repeated-failover',
      profile: cluster.timingProfile,
      runTag,
      faultNode: firstLeader,
      oldLeader: firstLeader,
      faultAt: faults[0]!.at,
      faults: faults.map((f) => ({ ...f, availability: availability(events, f.at, cluster.nodeAddress(f.node)) })),
    });
  });
}

/** A one-line summary of a result for logs. */
export function summarize(r: DrillResult): string {
  const a = r.faults.map((f) => (f.availability.writableAgainMs === null ? 'never' : `${(f.availability.writableAgainMs / SECOND).toFixed(1)}s`));
  return (
    `${r.profile}/${r.scenario}: fault on ${r.faultNode}, leader ${r.oldLeader} -> ${r.leaderAfter}; writable again ${a.join(', ')}; ` +
    `longest gap ${(Math.max(...r.faults.map((f) => f.availability.longestGapMs)) / SECOND).toFixed(1)}s; ` +
    (r.switchoverMs !== undefined ? `switchover ${(r.switchoverMs / SECOND).toFixed(2)}s; ` : '') +
    `${r.acked} acked, ${r.lost.length} lost, ${r.overlaps.length} overlapping write windows`
  );
}
