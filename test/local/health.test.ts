import { assessHealth } from '../../lib/local/health';
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
