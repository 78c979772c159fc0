// The user data, run by bash and python3 as a node runs it.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PatroniTiming, SynchronousMode, WatchdogMode } from '../../lib';
import { NODE_AGENT_PY } from '../../lib/patroni/config';
import { NODE_METADATA_KEY } from '../../lib/patroni/user-data';
import { run } from '../../lib/util/command';
import { setupCluster } from './cluster-fixture';
import { runUserData, unpackNode } from './user-data-helpers';

describe('PatroniCluster user data, run', () => {
  const { template } = setupCluster({ timing: PatroniTiming.FAST, synchronousMode: SynchronousMode.STRICT, watchdog: WatchdogMode.AUTOMATIC });

  test('reads the instance metadata, installs the agent from it byte for byte and records the identity', async () => {
    const { userData, document, logicalId } = unpackNode(template, 2);
    const { agent, identity } = await runUserData(userData, { [NODE_METADATA_KEY]: document });
    expect(agent).toBe(NODE_AGENT_PY);
    expect(identity).toEqual({ stackName: 'TestStack', logicalId, region: 'eu-west-1', nodeName: expect.stringMatching(/-2$/) });
  });

  test('passes shellcheck', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-failover-ud-'));
    try {
      fs.writeFileSync(path.join(dir, 'user-data.sh'), unpackNode(template, 0).userData);
      const check = await run('shellcheck', ['--shell=bash', path.join(dir, 'user-data.sh')], { allowFailure: true });
      expect({ code: check.code, out: check.stdout }).toEqual({ code: 0, out: '' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('metadata without an agent: exit non-zero with one line naming the runbook', async () => {
    const { userData } = unpackNode(template, 0);
    await expect(runUserData(userData, { [NODE_METADATA_KEY]: { bundle: 'H4sIAAAAAAACA6uuBQBDv6ajAgAAAA==' } })).rejects.toThrow(
      /cdk-failover: the instance's metadata holds no node agent \(runbook: A node's bootstrap failed\)/,
    );
  });
});
