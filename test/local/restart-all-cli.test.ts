// `failover local restart-all`'s bad input: one readable line and a non-zero exit, before anything
// is stopped (no running cluster is needed to see these: a state file says what the cluster is).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { failover } from './failover-cli';

describe('failover local restart-all: bad input', () => {
  let stateRoot: string;
  beforeAll(() => {
    stateRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'restart-all-cli-'));
    // A cluster whose services run as processes: what `failover local up` (without --boot) records.
    const dir = path.join(stateRoot, 'procs');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ version: 1, clusterName: 'procs', stateRoot, mode: 'processes', dir, nodes: [] }));
  });
  afterAll(() => fs.rmSync(stateRoot, { recursive: true, force: true }));

  test.each([
    [['procs'], /^failover: restart-all needs a booted cluster \('failover local up --boot'\); 'procs' runs its services as processes$/],
    [['nosuch'], /^failover: no local cluster 'nosuch' \(no .*\/nosuch\/state\.json\)/],
  ])('cluster %j: exit 1 with one line', async ([cluster], message) => {
    const r = await failover(['local', 'restart-all', '--cluster', cluster!, '--state-root', stateRoot]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
  }, 120_000);

  test('--help says what it does', async () => {
    const r = await failover(['local', 'restart-all', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.replace(/\s+/g, ' ')).toContain("stops every booted node at once, as CloudFormation's instance-type change does, and starts each again once it is down");
  }, 120_000);
});
