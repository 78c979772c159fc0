// Where a planned switchover's time goes, from real timestamps: Patroni's and PostgreSQL's log
// lines on the old leader and the candidate, and the drill client's writes. Pure: the logs are
// passed in as text, so the parsing is tested without a cluster.
import type { WriteEvent } from './writer';

/** The moments a switchover passes through, ms since the epoch; undefined where no line was found. */
export interface SwitchoverMarks {
  /** The client sent POST /switchover. */
  readonly request: number;
  /** Old leader, Patroni: "Demoting self (graceful)" (the candidate checked, the failover key written). */
  readonly demoteStart?: number;
  /** Old leader, PostgreSQL: "received fast shutdown request" (after Patroni's CHECKPOINT): writes stop. */
  readonly shutdownStart?: number;
  /** Old leader, PostgreSQL: "database system is shut down". */
  readonly shutdownEnd?: number;
  /** Old leader, Patroni: "Leader key released". */
  readonly keyReleased?: number;
  /** Candidate, Patroni: "promoted self to leader by acquiring session lock". */
  readonly lockAcquired?: number;
  /** Candidate, PostgreSQL: "database system is ready to accept connections" after the promotion. */
  readonly promoted?: number;
  /** Start of the first write the candidate acknowledged: HAProxy routed to it by then. */
  readonly routed?: number;
  /** End of that write. */
  readonly firstWrite?: number;
}

/** One part of the timeline: the span between two marks, and what happens in it. */
export interface SwitchoverPart {
  readonly name: string;
  readonly what: string;
  /** null when either mark is missing. */
  readonly ms: number | null;
}

type MarkName = keyof SwitchoverMarks;

/**
 * The parts in order, each named by the mark that ends it: a part runs from the previous part's
 * mark (the first from `request`) to its own, so they add up to request to firstWrite.
 */
export const SWITCHOVER_PARTS: readonly { readonly name: string; readonly what: string; readonly to: MarkName }[] = [
  { name: 'request', what: "Patroni's REST handler and HA loop: the candidate checked, the failover key written", to: 'demoteStart' },
  { name: 'checkpoint', what: "Patroni's CHECKPOINT on the old leader before it stops PostgreSQL", to: 'shutdownStart' },
  { name: 'shutdown', what: "the old leader's fast shutdown (its shutdown checkpoint); writes fail from here", to: 'shutdownEnd' },
  { name: 'release', what: 'until Patroni releases the leader key (it polls pg_controldata once a second while stopping)', to: 'keyReleased' },
  { name: 'acquire', what: "until the candidate's Patroni says it took the key (its next HA loop, or at once when it watches the key; logged at the end of that loop)", to: 'lockAcquired' },
  { name: 'promote', what: "the candidate's promotion, to PostgreSQL's ready to accept connections", to: 'promoted' },
  { name: 'haproxy', what: "until the start of the first write the new primary took: HAProxy's checks, and up to 100 ms of the client's cadence (below 0: routed before the promotion ended, as Patroni's /primary answers 200 once it holds the key)", to: 'routed' },
  { name: 'client', what: "the client's write on a new connection: connect, TLS, INSERT, synchronous commit", to: 'firstWrite' },
];

/**
 * The time of a line whose first seven captures are year, month, day, hour, minute, second and
 * milliseconds, read as UTC; undefined when the line does not match or the date does not exist.
 */
function utcLineTime(line: string, pattern: RegExp): number | undefined {
  const m = pattern.exec(line);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s, ms] = m.slice(1, 8).map(Number) as [number, number, number, number, number, number, number];
  const t = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  const back = new Date(t);
  const exists = back.getUTCFullYear() === y && back.getUTCMonth() === mo - 1 && back.getUTCDate() === d && back.getUTCHours() === h && back.getUTCMinutes() === mi;
  return exists ? t : undefined;
}

/**
 * "2026-12-02 11:13:19,692 INFO: ..." (Patroni's asctime). Patroni logs in its local time: the
 * local cluster runs it with TZ=UTC (lib/local/processes.ts), so the time is read as UTC.
 */
export function patroniLineTime(line: string): number | undefined {
  return utcLineTime(line, /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d),(\d{3}) /);
}

/** "2026-12-02 11:13:19.709 UTC [3518] LOG: ..." (PostgreSQL's default log_line_prefix, '%m [%p] '); UTC or GMT only. */
export function postgresLineTime(line: string): number | undefined {
  return utcLineTime(line, /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3}) (?:UTC|GMT) /);
}

/** The earliest time at or after `after` of a line that contains `text`; undefined if none. */
export function firstLineAfter(log: string, text: string, after: number, lineTime: (line: string) => number | undefined): number | undefined {
  let first: number | undefined;
  for (const line of log.split('\n')) {
    if (!line.includes(text)) continue;
    const t = lineTime(line);
    if (t !== undefined && t >= after && (first === undefined || t < first)) first = t;
  }
  return first;
}

export interface SwitchoverLogs {
  readonly oldLeaderPatroni: string;
  readonly oldLeaderPostgres: string;
  readonly candidatePatroni: string;
  readonly candidatePostgres: string;
}

/**
 * The marks of one switchover. Patroni logs in whole milliseconds and the request is taken on
 * the client before it is sent, so a mark is searched from the one before it.
 */
export function switchoverMarks(logs: SwitchoverLogs, request: number, events: readonly WriteEvent[], candidateAddress: string): SwitchoverMarks {
  const demoteStart = firstLineAfter(logs.oldLeaderPatroni, 'Demoting self (graceful)', request, patroniLineTime);
  const shutdownStart = firstLineAfter(logs.oldLeaderPostgres, 'received fast shutdown request', demoteStart ?? request, postgresLineTime);
  const shutdownEnd = firstLineAfter(logs.oldLeaderPostgres, 'database system is shut down', shutdownStart ?? request, postgresLineTime);
  const keyReleased = firstLineAfter(logs.oldLeaderPatroni, 'Leader key released', shutdownEnd ?? request, patroniLineTime);
  // From the shutdown, not the release: the old leader logs the release after one more etcd write,
  // and the candidate may log its lock first (a negative `acquire`).
  const lockAcquired = firstLineAfter(logs.candidatePatroni, 'promoted self to leader by acquiring session lock', shutdownEnd ?? request, patroniLineTime);
  const promoted = firstLineAfter(logs.candidatePostgres, 'database system is ready to accept connections', lockAcquired ?? request, postgresLineTime);
  const first = events
    .filter((e) => e.ok && e.server === candidateAddress && e.t0 >= request)
    .reduce<WriteEvent | undefined>((a, e) => (a === undefined || e.t1 < a.t1 ? e : a), undefined);
  return { request, demoteStart, shutdownStart, shutdownEnd, keyReleased, lockAcquired, promoted, routed: first?.t0, firstWrite: first?.t1 };
}

/** The parts of a timeline (SWITCHOVER_PARTS), null where a mark is missing. */
export function switchoverParts(marks: SwitchoverMarks): SwitchoverPart[] {
  return SWITCHOVER_PARTS.map(({ name, what, to }, i) => {
    const a = marks[i === 0 ? 'request' : SWITCHOVER_PARTS[i - 1]!.to];
    const b = marks[to];
    return { name, what, ms: a === undefined || b === undefined ? null : b - a };
  });
}
