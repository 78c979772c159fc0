// `failover local apply --image`: an ID of no AMI shape is one readable line naming the option,
// the value and what is allowed, and a non-zero exit, before any cluster is opened.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { failover } from './failover-cli';

describe('failover local apply --image', () => {
  let stateRoot: string;
  beforeAll(() => {
    stateRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'apply-image-cli-'));
    const dir = path.join(stateRoot, 'procs');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ version: 1, clusterName: 'procs', stateRoot, mode: 'processes', dir, nodes: [] }));
  });
  afterAll(() => fs.rmSync(stateRoot, { recursive: true, force: true }));

  test.each(['ami-123', 'ami-0123456789ABCDEF0', 'ami-0123456789abcdef', 'i-0123456789abcdef0', ''])('%j: exit 1, one line naming the option, the value and the AMI shape', async (value) => {
    const r = await failover(['local', 'apply', '--cluster', 'procs', '--state-root', stateRoot, '--image', value]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toEqual([`error: option '--image <ami-id>' argument '${value}' is invalid. must be an AMI ID ('ami-' and 8 or 17 lowercase hex digits), e.g. ami-0123456789abcdef0.`]);
  }, 120_000);

  test.each(['ami-0123456789abcdef0', 'ami-12345678'])('%j is taken (the cluster is then opened: a processes cluster refuses apply)', async (value) => {
    const r = await failover(['local', 'apply', '--cluster', 'procs', '--state-root', stateRoot, '--image', value]);
    expect([r.code, r.stderr.trim()]).toEqual([1, "failover: apply needs a booted cluster ('failover local up --boot'); 'procs' runs its services as processes"]);
  }, 120_000);

  test('nothing to apply names --image too; --help says what it does', async () => {
    const none = await failover(['local', 'apply', '--cluster', 'procs', '--state-root', stateRoot]);
    expect([none.code, none.stderr.trim()]).toEqual([1, 'failover: nothing to apply: give --timing, --set-parameter and/or --image.']);
    const help = await failover(['local', 'apply', '--help']);
    expect(help.stdout.replace(/\s+/g, ' ')).toContain("--image <ami-id> a new machine image: each node's agent replaces its own root volume");
  }, 120_000);
});
