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

/** The parts in order; each runs from the previous part's end mark to its own. Their sum is request to firstWrite. */
export const SWITCHOVER_PARTS: readonly { readonly name: string; readonly what: string; readonly from: MarkName; readonly to: MarkName }[] = [
  { name: 'request', what: "Patroni's REST handler and HA loop: the candidate checked, the failover key written", from: 'request', to: 'demoteStart' },
  { name: 'checkpoint', what: "Patroni's CHECKPOINT on the old leader before it stops PostgreSQL", from: 'demoteStart', to: 'shutdownStart' },
  { name: 'shutdown', what: "the old leader's fast shutdown (its shutdown checkpoint); writes fail from here", from: 'shutdownStart', to: 'shutdownEnd' },
  { name: 'release', what: 'until Patroni releases the leader key (it polls pg_controldata once a second while stopping)', from: 'shutdownEnd', to: 'keyReleased' },
  { name: 'acquire', what: "until the candidate's Patroni takes the key (its next HA loop, or at once when it watches the key)", from: 'keyReleased', to: 'lockAcquired' },
  { name: 'promote', what: "the candidate's promotion (pg_ctl promote to ready to accept connections)", from: 'lockAcquired', to: 'promoted' },
  { name: 'haproxy', what: "until HAProxy routes to the new primary, to the start of the first write it took (below 0: routed before the promotion ended, as Patroni's /primary answers 200 once it holds the key)", from: 'promoted', to: 'routed' },
  { name: 'client', what: "the client's write on a new connection: connect, TLS, INSERT, synchronous commit", from: 'routed', to: 'firstWrite' },
];

/** "2026-12-02 11:13:19,692 INFO: ..." (Patroni's asctime, the process's local time). */
export function patroniLineTime(line: string): number | undefined {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d),(\d{3}) /.exec(line);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s, ms] = m.slice(1).map(Number) as [number, number, number, number, number, number, number];
  return new Date(y, mo - 1, d, h, mi, s, ms).getTime();
}

/** "2026-12-02 11:13:19.709 UTC [3518] LOG: ..." (PostgreSQL's default log_line_prefix, '%m [%p] '). */
export function postgresLineTime(line: string): number | undefined {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3}) (\S+) /.exec(line);
  if (!m) return undefined;
  const utc = m[3] === 'UTC' || m[3] === 'GMT';
  const t = Date.parse(`${m[1]}T${m[2]}${utc ? 'Z' : ''}`);
  return Number.isNaN(t) ? undefined : t;
}

/** The time of the first line at or after `after` that contains `text`; undefined if none. */
export function firstLineAfter(log: string, text: string, after: number, lineTime: (line: string) => number | undefined): number | undefined {
  for (const line of log.split('\n')) {
    if (!line.includes(text)) continue;
    const t = lineTime(line);
    if (t !== undefined && t >= after) return t;
  }
  return undefined;
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
  const lockAcquired = firstLineAfter(logs.candidatePatroni, 'promoted self to leader by acquiring session lock', keyReleased ?? request, patroniLineTime);
  const promoted = firstLineAfter(logs.candidatePostgres, 'database system is ready to accept connections', lockAcquired ?? request, postgresLineTime);
  const first = events
    .filter((e) => e.ok && e.server === candidateAddress && e.t0 >= request)
    .reduce<WriteEvent | undefined>((a, e) => (a === undefined || e.t1 < a.t1 ? e : a), undefined);
  return { request, demoteStart, shutdownStart, shutdownEnd, keyReleased, lockAcquired, promoted, routed: first?.t0, firstWrite: first?.t1 };
}

/** The parts of a timeline (SWITCHOVER_PARTS), null where a mark is missing. */
export function switchoverParts(marks: SwitchoverMarks): SwitchoverPart[] {
  return SWITCHOVER_PARTS.map(({ name, what, from, to }) => {
    const a = marks[from];
    const b = marks[to];
    return { name, what, ms: a === undefined || b === undefined ? null : b - a };
  });
}
