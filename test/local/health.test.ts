import { standbyLine } from '../../lib/cli/local';
import { assessHealth, patroniTimeMs } from '../../lib/local/health';
import { isRunningState, type PatroniClusterView } from '../../lib/local/rest';

const member = (name: string, role: string, state: string) => ({ name, role, state });
const streamingFrom = (...names: string[]) => names.map((n) => ({ application_name: n, state: 'streaming', sync_state: 'async' }));

describe('the local cluster reads Patroni the way the ops client does', () => {
  test("running means 'running' (Patroni 3.x) or 'streaming' (4.x replicas)", () => {
    expect(['running', 'streaming', 'starting', 'stopped', 'creating replica'].map(isRunningState)).toEqual([true, true, false, false, false]);
  });

  test('a 4.x cluster whose replicas say streaming is healthy', () => {
    const view: PatroniClusterView = { members: [member('pg-0', 'leader', 'running'), member('pg-1', 'sync_standby', 'streaming'), member('pg-2', 'replica', 'streaming')] };
    expect(assessHealth(view, streamingFrom('pg-1', 'pg-2'), { members: ['pg-0', 'pg-1', 'pg-2'], requireSyncStandby: true })).toMatchObject({ healthy: true, leader: 'pg-0' });
  });

  test('a replica that is starting, or running but not streaming from the leader, is not', () => {
    const view: PatroniClusterView = { members: [member('pg-0', 'leader', 'running'), member('pg-1', 'replica', 'starting'), member('pg-2', 'replica', 'running')] };
    const expectation = { members: ['pg-0', 'pg-1', 'pg-2'], requireSyncStandby: false };
    expect(assessHealth(view, streamingFrom('pg-2'), expectation)).toEqual({ healthy: false, reason: 'pg-1 is starting', leader: 'pg-0' });
    const started = { members: view.members.map((m) => ({ ...m, state: 'running' })) };
    expect(assessHealth(started, streamingFrom('pg-1'), expectation)).toEqual({ healthy: false, reason: 'pg-2 not streaming from pg-0 yet', leader: 'pg-0' });
  });

  test('a standby cluster is healthy with a running standby leader and replicas streaming from it, and says it is a standby', () => {
    const view: PatroniClusterView = { members: [member('pg-0', 'standby_leader', 'running'), member('pg-1', 'replica', 'running'), member('pg-2', 'replica', 'running')] };
    expect(assessHealth(view, streamingFrom('pg-1', 'pg-2'), { members: ['pg-0', 'pg-1', 'pg-2'], requireSyncStandby: false })).toEqual({
      healthy: true,
      reason: 'standby leader pg-0, pg-1 replica, pg-2 replica',
      leader: 'pg-0',
      standby: true,
    });
    const primary = { members: [member('pg-0', 'leader', 'running'), ...view.members.slice(1)] };
    expect(assessHealth(primary, streamingFrom('pg-1', 'pg-2'), { members: ['pg-0', 'pg-1', 'pg-2'], requireSyncStandby: false })).toMatchObject({ healthy: true, standby: false });
  });
});

describe("a standby's readiness", () => {
  test("Patroni's str() of a datetime is read to the millisecond, whatever its zone; anything else is unknown", () => {
    expect(patroniTimeMs('2026-12-03 06:40:00.123456+00:00')).toBe(Date.UTC(2026, 11, 3, 6, 40, 0, 123));
    expect(patroniTimeMs('2026-12-03 08:40:00+02:00')).toBe(Date.UTC(2026, 11, 3, 6, 40, 0));
    expect(patroniTimeMs('2026-12-03T06:40:00Z')).toBe(Date.UTC(2026, 11, 3, 6, 40, 0));
    for (const bad of [null, undefined, '', 'yesterday', '2026-12-03 06:40:00', '2026-13-03 06:40:00+00:00']) expect(patroniTimeMs(bad)).toBeUndefined();
  });

  test('one status line: the primary followed, the standby leader and how old its last replayed commit is, or that nothing can be promoted', () => {
    expect(standbyLine({ of: 'a', leader: 'pg-1', replayAgeSeconds: 12.34 })).toBe("of 'a': standby leader pg-1, last commit of the primary replayed 12.3 s ago");
    expect(standbyLine({ of: 'a', leader: 'pg-1', replayAgeSeconds: null })).toBe("of 'a': standby leader pg-1, no commit of the primary replayed yet");
    expect(standbyLine({ of: 'a', leader: null, replayAgeSeconds: null })).toBe("of 'a': no standby leader runs (nothing to promote)");
  });
});
