import { isRunningState, type PatroniClusterView, type PatroniReplicationEntry } from './rest';

export interface HealthExpectation {
  /** Members that must be running: the leader and streaming replicas. */
  readonly members: readonly string[];
  /** A synchronous standby must be listed (synchronous mode on, more than one member). */
  readonly requireSyncStandby: boolean;
}

export interface HealthVerdict {
  readonly healthy: boolean;
  /** Why not, or a one-line summary when healthy. */
  readonly reason: string;
  readonly leader?: string;
  /** The leader is a standby leader (a standby cluster): it takes no writes. */
  readonly standby?: boolean;
}

/** Patroni's str() of a datetime ('2026-12-03 06:40:00.123456+00:00') in epoch milliseconds, or undefined. */
export function patroniTimeMs(value: string | null | undefined): number | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(value ?? '');
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}T${m[2]}${(m[3] ?? '').slice(0, 4)}${m[4]}`);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * Healthy: exactly one leader, running; every expected member running; every expected
 * non-leader streaming from the leader (the leader's pg_stat_replication, as GET /patroni lists
 * it: Patroni 3.0.2's /cluster says only 'running' for a replica); a sync standby when required.
 */
export function assessHealth(
  view: PatroniClusterView | undefined,
  replication: readonly PatroniReplicationEntry[] | undefined,
  expect: HealthExpectation,
): HealthVerdict {
  if (!view) return { healthy: false, reason: 'no Patroni REST API answered' };
  const leaders = view.members.filter((m) => m.role === 'leader' || m.role === 'standby_leader');
  if (leaders.length === 0) return { healthy: false, reason: 'no leader yet' };
  if (leaders.length > 1) return { healthy: false, reason: `${leaders.length} leaders: ${leaders.map((m) => m.name).join(', ')}` };
  const leader = leaders[0]!;
  if (!isRunningState(leader.state)) return { healthy: false, reason: `leader ${leader.name} is ${leader.state}`, leader: leader.name };
  const streaming = new Set((replication ?? []).filter((r) => r.state === 'streaming').map((r) => r.application_name));
  for (const name of expect.members) {
    const member = view.members.find((m) => m.name === name);
    if (!member) return { healthy: false, reason: `${name} not registered yet`, leader: leader.name };
    if (!isRunningState(member.state)) return { healthy: false, reason: `${name} is ${member.state}`, leader: leader.name };
    if (name !== leader.name && !streaming.has(name)) {
      return { healthy: false, reason: `${name} not streaming from ${leader.name} yet`, leader: leader.name };
    }
  }
  const sync = view.members.filter((m) => m.role === 'sync_standby');
  if (expect.requireSyncStandby && sync.length === 0) {
    return { healthy: false, reason: 'no synchronous standby yet', leader: leader.name };
  }
  const replicas = view.members.filter((m) => m !== leader).map((m) => `${m.name} ${m.role}`);
  const standby = leader.role === 'standby_leader';
  return { healthy: true, reason: `${standby ? 'standby leader' : 'leader'} ${leader.name}${replicas.length ? `, ${replicas.join(', ')}` : ''}`, leader: leader.name, standby };
}
