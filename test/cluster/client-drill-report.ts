// What the client drill's workload records, and the availability figures computed from it.
// Shared by test/cluster/client-workload.ts (which records) and client-failover.test.ts (which
// verifies against the database and reports). No I/O.

export type OpKind = 'plain-write' | 'idempotent-write' | 'tx-write' | 'read';

/** One operation of the workload, wall-clock milliseconds. */
export interface OpRecord {
  readonly kind: OpKind;
  /** The unique key a write inserted (rows: one per plain/idempotent write, two per transaction). */
  readonly key?: string;
  readonly start: number;
  readonly end: number;
  readonly ok: boolean;
  /** FailoverPoolError's reason, or 'unexpected' for any other error. */
  readonly failure?: string;
  readonly outcomeUnknown?: boolean;
  readonly message?: string;
}

export interface HookRecord {
  readonly at: number;
  readonly hook: 'detected' | 'retry' | 'recovered';
  readonly endpoint: string;
  readonly role: string;
  readonly downtimeMs?: number;
  readonly attempts?: number;
  readonly error?: string;
}

export interface WorkloadSummary {
  readonly runId: string;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly ops: readonly OpRecord[];
  readonly hooks: readonly HookRecord[];
}

export interface Availability {
  readonly ops: number;
  readonly ok: number;
  readonly failed: number;
  /** ok / ops */
  readonly successRatio: number;
  /** The longest time in the run without a successful completion of this class. */
  readonly longestGapMs: number;
  /** When that gap began and ended (wall-clock ms): the last success before it, the first after. */
  readonly gapFrom: number;
  readonly gapTo: number;
  /** Slowest successful operation (retries make an operation slow rather than failed). */
  readonly maxLatencyMs: number;
  readonly p99LatencyMs: number;
}

/** Availability of a class of operations over [from, to]. */
export function availability(ops: readonly OpRecord[], from: number, to: number): Availability {
  const ok = ops.filter((o) => o.ok);
  const ends = [from, ...ok.map((o) => o.end).filter((t) => t >= from && t <= to).sort((a, b) => a - b), to];
  let longestGapMs = 0;
  let gapFrom = from;
  let gapTo = from;
  for (let i = 1; i < ends.length; i++) {
    if (ends[i]! - ends[i - 1]! > longestGapMs) {
      longestGapMs = ends[i]! - ends[i - 1]!;
      gapFrom = ends[i - 1]!;
      gapTo = ends[i]!;
    }
  }
  const latencies = ok.map((o) => o.end - o.start).sort((a, b) => a - b);
  return {
    ops: ops.length,
    ok: ok.length,
    failed: ops.length - ok.length,
    successRatio: ops.length ? ok.length / ops.length : 0,
    longestGapMs,
    gapFrom,
    gapTo,
    maxLatencyMs: latencies.at(-1) ?? 0,
    p99LatencyMs: latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? 0,
  };
}

export interface RowCount {
  readonly key: string;
  readonly part: number;
  readonly n: number;
}

export interface Verdict {
  /** Acknowledged writes with a row (or a part) missing in the database. */
  readonly lostAcknowledged: string[];
  /** Rows written more than once (a key and part with a count above 1). */
  readonly duplicated: string[];
  /** Writes reported as not committed (outcome known) that the database has. */
  readonly knownFailedButPresent: string[];
  /** Transactions with one part and not the other. */
  readonly partialTransactions: string[];
  /** Writes with an unknown outcome: how many the database has, how many it does not. */
  readonly unknownPresent: number;
  readonly unknownAbsent: number;
}

/** Checks the workload's claims against the rows the database holds for the run. */
export function verify(ops: readonly OpRecord[], rows: readonly RowCount[]): Verdict {
  const parts = new Map<string, Map<number, number>>();
  for (const r of rows) {
    if (!parts.has(r.key)) parts.set(r.key, new Map());
    parts.get(r.key)!.set(r.part, (parts.get(r.key)!.get(r.part) ?? 0) + r.n);
  }
  const expectedParts = (kind: OpKind) => (kind === 'tx-write' ? [1, 2] : [0]);
  const lostAcknowledged: string[] = [];
  const knownFailedButPresent: string[] = [];
  let unknownPresent = 0;
  let unknownAbsent = 0;
  for (const op of ops) {
    if (op.kind === 'read' || !op.key) continue;
    const have = parts.get(op.key);
    if (op.ok) {
      for (const part of expectedParts(op.kind)) if (!have?.get(part)) lostAcknowledged.push(`${op.key}#${part}`);
    } else if (op.outcomeUnknown) {
      if (have) unknownPresent++;
      else unknownAbsent++;
    } else if (have) {
      knownFailedButPresent.push(op.key);
    }
  }
  const duplicated: string[] = [];
  const partialTransactions: string[] = [];
  for (const [key, byPart] of parts) {
    for (const [part, n] of byPart) if (n > 1) duplicated.push(`${key}#${part} x${n}`);
    if ((byPart.has(1) || byPart.has(2)) && !(byPart.has(1) && byPart.has(2))) partialTransactions.push(key);
  }
  return { lostAcknowledged, duplicated, knownFailedButPresent, partialTransactions, unknownPresent, unknownAbsent };
}


/** One Markdown row per class, for the report. */
export function availabilityTable(rows: readonly { scenario: string; kind: string; a: Availability; faultAt: number }[]): string {
  const lines = [
    '| scenario | operations | ops | ok | failed | success | longest gap (from, to after the fault) | slowest ok | p99 |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  const s = (ms: number) => `${ms < 0 ? '' : '+'}${(ms / 1000).toFixed(1)}`;
  for (const { scenario, kind, a, faultAt } of rows) {
    lines.push(
      `| ${scenario} | ${kind} | ${a.ops} | ${a.ok} | ${a.failed} | ${(a.successRatio * 100).toFixed(2)} % | ` +
        `${(a.longestGapMs / 1000).toFixed(1)} s (${s(a.gapFrom - faultAt)} to ${s(a.gapTo - faultAt)} s) | ` +
        `${(a.maxLatencyMs / 1000).toFixed(1)} s | ${(a.p99LatencyMs / 1000).toFixed(2)} s |`,
    );
  }
  return lines.join('\n');
}
