// Pure analysis of the writers' events: which writes were acknowledged, when each node accepted
// writes, whether two nodes ever did at once, and how long writes were unavailable.
import type { WriteEvent } from './writer';

/** The span during which one PostgreSQL server, on one timeline, acknowledged writes. */
export interface WriteWindow {
  readonly server: string;
  readonly timeline: number;
  /** Start of the first acknowledged attempt and end of the last one, ms since the epoch. */
  readonly from: number;
  readonly to: number;
  readonly acks: number;
}

export interface WindowOverlap {
  readonly a: WriteWindow;
  readonly b: WriteWindow;
  readonly overlapMs: number;
}

export interface Availability {
  /** From the fault to the end of the first acknowledged write by another server; null if none. */
  readonly writableAgainMs: number | null;
  /** From the last acknowledged write that started before the fault to that first one after it. */
  readonly gapAroundFaultMs: number | null;
  /** Longest time between two consecutive acknowledgements (by end time) over the whole run. */
  readonly longestGapMs: number;
  readonly acked: number;
  readonly failed: number;
}

export function acknowledged(events: readonly WriteEvent[]): WriteEvent[] {
  return events.filter((e) => e.ok);
}

/**
 * One window per (server, timeline): a promoted node starts a new timeline, so a node that leads
 * twice (after a failback) has two windows, and a demoted old leader that still acknowledged
 * writes on its old timeline shows as a window of its own.
 */
export function writeWindows(events: readonly WriteEvent[]): WriteWindow[] {
  const byKey = new Map<string, { server: string; timeline: number; from: number; to: number; acks: number }>();
  for (const e of acknowledged(events)) {
    const key = `${e.server}/${e.timeline}`;
    const w = byKey.get(key);
    if (!w) byKey.set(key, { server: e.server ?? '?', timeline: e.timeline ?? -1, from: e.t0, to: e.t1, acks: 1 });
    else {
      w.from = Math.min(w.from, e.t0);
      w.to = Math.max(w.to, e.t1);
      w.acks++;
    }
  }
  return [...byKey.values()].sort((x, y) => x.from - y.from);
}

/**
 * Windows that overlap in time. A window runs from the START of its first acknowledged attempt to
 * the END of its last, so it contains every instant its server may have accepted a write: two
 * overlapping windows are not proof of split brain, but no overlap is proof of its absence.
 */
export function overlappingWindows(windows: readonly WriteWindow[]): WindowOverlap[] {
  const out: WindowOverlap[] = [];
  for (let i = 0; i < windows.length; i++) {
    for (let j = i + 1; j < windows.length; j++) {
      const a = windows[i]!;
      const b = windows[j]!;
      const overlapMs = Math.min(a.to, b.to) - Math.max(a.from, b.from);
      if (overlapMs > 0) out.push({ a, b, overlapMs });
    }
  }
  return out;
}

/** Acknowledged ids that `present` lacks. */
export function lostWrites(events: readonly WriteEvent[], present: ReadonlySet<string>): string[] {
  return acknowledged(events)
    .map((e) => e.id)
    .filter((id) => !present.has(id));
}

/**
 * Write availability of one source around a fault at `faultAt`. `oldServer` is the leader at the
 * fault: "writable again" is the first acknowledgement by a different server that began after the
 * fault (pass undefined when no failover is expected: then any server counts).
 */
export function availability(events: readonly WriteEvent[], faultAt: number, oldServer?: string): Availability {
  const acks = acknowledged(events).sort((x, y) => x.t1 - y.t1);
  const after = acks.find((e) => e.t0 >= faultAt && (oldServer === undefined || e.server !== oldServer));
  const before = acks.filter((e) => e.t0 < faultAt).pop();
  let longestGapMs = 0;
  for (let i = 1; i < acks.length; i++) longestGapMs = Math.max(longestGapMs, acks[i]!.t1 - acks[i - 1]!.t1);
  return {
    writableAgainMs: after ? after.t1 - faultAt : null,
    gapAroundFaultMs: after && before ? after.t1 - before.t1 : null,
    longestGapMs,
    acked: acks.length,
    failed: events.length - acks.length,
  };
}

/** Percentile by nearest rank (p in 0..100) of the numbers given; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}
