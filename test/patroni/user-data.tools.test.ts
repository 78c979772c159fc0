// The user data's header, run by bash and python3 as a node runs it.
import { PatroniTiming, SynchronousMode, WatchdogMode } from '../../lib';
import { setupCluster } from './cluster-fixture';
import { runBootHeader, unpackNodeUserData } from './user-data-helpers';

describe('PatroniCluster user data, run', () => {
  const { template, cluster } = setupCluster({ timing: PatroniTiming.FAST, synchronousMode: SynchronousMode.STRICT, watchdog: WatchdogMode.AUTOMATIC });

  test('the boot header, run by bash and python3 as on the node, unpacks the script byte for byte', async () => {
    const { userData, script } = unpackNodeUserData(template, 2, cluster);
    expect(await runBootHeader(userData)).toBe(script);
  });
});
