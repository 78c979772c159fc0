// The switchover timeline: Patroni's and PostgreSQL's log lines and the client's writes turned
// into the parts of a switchover (the lines as Patroni 3.0.2 and PostgreSQL 15 write them).
import {
  SWITCHOVER_PARTS,
  firstLineAfter,
  patroniLineTime,
  postgresLineTime,
  switchoverMarks,
  switchoverParts,
  type SwitchoverLogs,
} from '../cluster/drills/switchover-timeline';
import type { WriteEvent } from '../cluster/drills/writer';

const T0 = Date.UTC(2026, 11, 2, 11, 13, 19, 517);
/** Patroni's asctime, in UTC (the local cluster runs it with TZ=UTC); PostgreSQL's %m says UTC. */
const patroni = (ms: number, message: string) => `${new Date(T0 + ms).toISOString().replace('T', ' ').replace('.', ',').replace('Z', '')} INFO: ${message}`;
const postgres = (ms: number, message: string) => `${new Date(T0 + ms).toISOString().replace('T', ' ').replace('Z', '')} UTC [3518] LOG:  ${message}`;

const logs: SwitchoverLogs = {
  oldLeaderPatroni: [
    patroni(-900, 'Demoting self (graceful)'), // an earlier switchover: before the request, not this one
    patroni(29, 'received switchover request with leader=pg-2 candidate=pg-0 scheduled_at=None'),
    patroni(175, 'Demoting self (graceful)'),
    patroni(1296, 'Leader key released'),
  ].join('\n'),
  oldLeaderPostgres: [
    postgres(192, 'checkpoint starting: immediate force wait'),
    postgres(215, 'received fast shutdown request'),
    postgres(254, 'database system is shut down'),
  ].join('\n'),
  candidatePatroni: [patroni(-100, 'no action. I am (pg-0), a secondary, and following a leader (pg-2)'), patroni(1908, 'promoted self to leader by acquiring session lock')].join('\n'),
  candidatePostgres: [postgres(1910, 'received promote request'), postgres(1976, 'database system is ready to accept connections')].join('\n'),
};

const write = (t0: number, t1: number, ok: boolean, server?: string): WriteEvent => ({ source: 'front', id: `x${t0}`, t0: T0 + t0, t1: T0 + t1, ok, server });
const events: WriteEvent[] = [
  write(-100, -80, true, '10.0.0.13'),
  write(250, 1250, false),
  write(2200, 2260, true, '10.0.0.11'),
  write(2300, 2320, true, '10.0.0.11'),
  write(2100, 2290, true, '10.0.0.11'), // started earlier, ended later: the first by its end is 2260
];

describe('the switchover timeline', () => {
  test('log lines give their times: Patroni in local time with a comma, PostgreSQL with its zone', () => {
    expect(patroniLineTime(patroni(175, 'x'))).toBe(T0 + 175);
    expect(postgresLineTime(postgres(215, 'x'))).toBe(T0 + 215);
    expect(patroniLineTime('Traceback (most recent call last):')).toBeUndefined();
    expect(postgresLineTime('\tDETAIL:  End of WAL reached')).toBeUndefined();
    // A zone it cannot place, or a date that does not exist, gives no time rather than a wrong one.
    expect(postgresLineTime('2026-12-02 11:13:19.709 CET [1] LOG:  x')).toBeUndefined();
    expect(patroniLineTime('2026-13-02 11:13:19,692 INFO: x')).toBeUndefined();
    expect(postgresLineTime('2026-02-30 11:13:19.709 UTC [1] LOG:  x')).toBeUndefined();
    expect(patroniLineTime('2026-12-02 24:13:19,692 INFO: x')).toBeUndefined();
  });

  test('the first matching line at or after a time is found; an earlier one is not', () => {
    expect(firstLineAfter(logs.oldLeaderPatroni, 'Demoting self', T0, patroniLineTime)).toBe(T0 + 175);
    expect(firstLineAfter(logs.oldLeaderPatroni, 'Demoting self', T0 + 176, patroniLineTime)).toBeUndefined();
    expect(firstLineAfter('', 'anything', 0, patroniLineTime)).toBeUndefined();
    // Files joined out of order: the earliest time wins, not the first line.
    expect(firstLineAfter([postgres(900, 'x'), postgres(300, 'x'), postgres(100, 'x')].join('\n'), 'x', T0 + 200, postgresLineTime)).toBe(T0 + 300);
  });

  test("the candidate's lock logged before the old leader's release line gives a negative acquire, not a missing one", () => {
    const early = { ...logs, candidatePatroni: patroni(1290, 'promoted self to leader by acquiring session lock') };
    const parts = Object.fromEntries(switchoverParts(switchoverMarks(early, T0, events, '10.0.0.11')).map((p) => [p.name, p.ms]));
    expect(parts.acquire).toBe(-6);
    expect(parts.promote).toBe(1976 - 1290);
  });

  test('the parts run from the request to the first write on the candidate, and add up to it', () => {
    const marks = switchoverMarks(logs, T0, events, '10.0.0.11');
    expect(marks.routed).toBe(T0 + 2200);
    expect(marks.firstWrite).toBe(T0 + 2260);
    const parts = switchoverParts(marks);
    expect(parts.map((p) => [p.name, p.ms])).toEqual([
      ['request', 175],
      ['checkpoint', 40],
      ['shutdown', 39],
      ['release', 1042],
      ['acquire', 612],
      ['promote', 68],
      ['haproxy', 224],
      ['client', 60],
    ]);
    expect(parts.reduce((n, p) => n + p.ms!, 0)).toBe(2260);
    expect(parts.map((p) => p.name)).toEqual(SWITCHOVER_PARTS.map((p) => p.name));
  });

  test('a missing line leaves its two parts unknown, not wrong', () => {
    const marks = switchoverMarks({ ...logs, oldLeaderPatroni: logs.oldLeaderPatroni.replace(/.*Leader key released.*/, '') }, T0, events, '10.0.0.11');
    const parts = Object.fromEntries(switchoverParts(marks).map((p) => [p.name, p.ms]));
    expect(parts.release).toBeNull();
    expect(parts.acquire).toBeNull();
    expect(parts.promote).toBe(68);
  });

  test('no write on the candidate: the client parts are unknown', () => {
    const marks = switchoverMarks(logs, T0, events.filter((e) => e.server !== '10.0.0.11'), '10.0.0.11');
    const parts = Object.fromEntries(switchoverParts(marks).map((p) => [p.name, p.ms]));
    expect([parts.haproxy, parts.client]).toEqual([null, null]);
  });
});
