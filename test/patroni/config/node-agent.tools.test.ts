// The node agent's own logic, run by Debian's python3 (the agent is imported as a module; nothing
// here talks to AWS, etcd or Patroni). Its rollout on real nodes is the booted rehearsal's.
import * as fs from 'fs';
import * as path from 'path';
import { NODE_AGENT_PY, NodeBundleOptions, packBundle, renderNodeBundle } from '../../../lib/patroni/config';
import { ec2Spec, makeTmpDir, removeTmpDir, run } from './fixtures';

const OPTIONS: NodeBundleOptions = {
  secretIds: { superuser: 'arn:s', replication: 'arn:r', rewind: 'arn:w', restApi: 'arn:a' },
  dataVolume: { device: '/dev/sdf', volumeId: 'vol-0123456789abcdef0' },
};

describe('the node agent (python3)', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTmpDir('agent');
    fs.writeFileSync(path.join(dir, 'agent.py'), NODE_AGENT_PY);
  });
  afterEach(() => removeTmpDir(dir));

  /** Runs `body` with the agent imported as `agent`; its stdout parsed as JSON. */
  async function py(body: string, input = ''): Promise<unknown> {
    const program = `import importlib.util, json, sys\nspec = importlib.util.spec_from_file_location('agent', ${JSON.stringify(path.join(dir, 'agent.py'))})\nagent = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(agent)\n${body}\n`;
    const r = await run('/usr/bin/python3', ['-c', program], { input });
    if (r.code !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout);
  }

  test('compiles, and refuses an unknown command with its usage', async () => {
    const r = await run('/usr/bin/python3', [path.join(dir, 'agent.py'), 'upgrade']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toBe('usage: cdk-failover-agent boot|reconcile|apply|write-files');
  });

  test('the /config patch: changed values, nested parameters, and parameters no longer wanted set to null', async () => {
    const current = { ttl: 30, loop_wait: 10, synchronous_mode: true, postgresql: { use_slots: true, parameters: { work_mem: '4MB', shared_buffers: '64MB', old: 'x' } } };
    const wanted = { ttl: 7, loop_wait: 10, synchronous_mode: true, postgresql: { use_slots: true, parameters: { work_mem: '8MB', shared_buffers: '64MB' } } };
    const j = (v: unknown) => `json.loads(${JSON.stringify(JSON.stringify(v))})`;
    expect(await py(`print(json.dumps(agent.diff(${j(current)}, ${j(wanted)})))`)).toEqual({
      ttl: 7,
      postgresql: { parameters: { work_mem: '8MB', old: null } },
    });
    expect(await py(`print(json.dumps(agent.diff(${j(wanted)}, ${j(wanted)})))`)).toEqual({});
  });

  test('a changed member set is refused with the reason and the supported path; the same set in another order is not', async () => {
    const problem = (await py(`print(json.dumps(agent.membership_problem(['db-0', 'db-1', 'db-2'], ['db-0', 'db-1', 'db-2', 'db-3', 'db-4'])))`)) as string;
    expect(problem).toBe(
      'the cluster runs members db-0, db-1, db-2, the change wants db-0, db-1, db-2, db-3, db-4: a change of the node count or names cannot be applied ' +
        'to a running cluster (supported: a new cluster restored from a backup; one lost member: the runbook\'s "Replace an etcd member")',
    );
    expect(await py(`print(json.dumps(agent.membership_problem(['db-2', 'db-0', 'db-1'], ['db-0', 'db-1', 'db-2'])))`)).toBeNull();
  });

  test('a required watchdog without a device is refused before patroni.yml changes (no node could lead after the reload)', async () => {
    const yml = (mode: string) => JSON.stringify(`scope: db\nwatchdog:\n  mode: '${mode}'\n  device: /dev/watchdog\n`);
    const problem = (mode: string, exists: boolean) => py(`print(json.dumps(agent.watchdog_problem(${yml(mode)}, ${exists ? 'True' : 'False'})))`);
    expect(await problem('required', false)).toMatch(/^watchdog mode required, but this node has no \/dev\/watchdog .*replace the nodes one at a time$/);
    expect(await problem('required', true)).toBeNull();
    expect(await problem('automatic', false)).toBeNull();
    expect(await problem('off', false)).toBeNull();
  });

  test('write_files writes only what changed since the last run, with the bundle\'s modes, and the values filled in', async () => {
    const bundle = renderNodeBundle(ec2Spec(), 'pg-0', OPTIONS);
    // Only root-owned files without passwords, relocated under the temporary directory.
    const files = bundle.files
      .filter((f) => !f.passwords && f.owner === 'root')
      .map((f) => ({ ...f, path: path.join(dir, 'root', f.path), content: `${f.content}# __MARK__\n` }));
    const desired = { generation: 'g1', values: { __MARK__: 'filled' }, bundle: { ...bundle, files } };
    fs.writeFileSync(path.join(dir, 'desired.json'), JSON.stringify(desired));
    const write = `agent.FILE_HASHES = ${JSON.stringify(path.join(dir, 'hashes.json'))}\ndesired = json.load(open(${JSON.stringify(path.join(dir, 'desired.json'))}))\nprint(json.dumps([f['path'] for f in agent.write_files({}, desired)]))`;
    expect(await py(write)).toEqual(files.map((f) => f.path));
    expect(await py(write)).toEqual([]);
    const haproxy = files.find((f) => f.path.endsWith('haproxy.cfg'))!;
    expect(fs.readFileSync(haproxy.path, 'utf8')).toBe(haproxy.content.replace('__MARK__', 'filled'));
    expect(fs.statSync(haproxy.path).mode & 0o777).toBe(0o644);
    expect(fs.statSync(files.find((f) => f.path.endsWith('cdk-failover-agent'))!.path).mode & 0o777).toBe(0o755);
    fs.writeFileSync(path.join(dir, 'desired.json'), JSON.stringify({ ...desired, values: { __MARK__: 'changed' } }));
    expect(await py(write)).toEqual(files.map((f) => f.path));
  });

  test('the bundle the agent reads is the one packed into the metadata', async () => {
    const bundle = renderNodeBundle(ec2Spec(), 'pg-0', OPTIONS);
    const text = `import base64, gzip\nprint(gzip.decompress(base64.b64decode(sys.stdin.read())).decode())`;
    expect(await py(text, packBundle(bundle))).toEqual(JSON.parse(JSON.stringify(bundle)));
  });
});
