// The runbook's etcd procedures, run line by line against real etcd 3.4 members started from the
// rendered etcd.conf.yml, each on a loopback address of its own (as test/patroni/config does).
// `sudo` runs the command as this user; `systemctl start|stop|restart` of the etcd unit starts or
// stops the member's process and, like systemd with Type=notify, waits until it has joined.
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { ClusterSpec, configFilePath, nodePaths, renderEtcdConfig, SYSTEMD_UNIT_NAMES } from '../../lib/patroni/config';
import { EtcdNodeLayout, ProcedureStep, rebuildFromSurvivorSteps, replaceMemberSteps } from '../../lib/runbook/etcd-procedures';
import { Daemon, loopbackSpec, makeTmpDir, removeTmpDir, run, startDaemon, waitFor } from '../patroni/config/fixtures';
import { start } from '../../lib/util/command';

jest.setTimeout(180_000);

const UNIT = SYSTEMD_UNIT_NAMES.etcd;
/** Shell variables a step sets that later steps on the same member use. */
const CARRIED = ['MEMBER', 'ETCD', 'PEER', 'ID', 'INITIAL_CLUSTER'];
/** Lines the test cannot run (no systemd journal, no Patroni here), by pattern. */
const NOT_RUN = [/^sudo journalctl -u /, /^sudo -u postgres patronictl /];

function health(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${url}/health`, { timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 && body.includes('"health":"true"')));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

/** A member: its rendered files, its process, and the shell state of an operator working on it. */
class Member {
  public daemon?: Daemon;
  public exited = false;
  public readonly vars: Record<string, string> = {};
  private starts = 0;

  constructor(
    public readonly spec: ClusterSpec,
    public readonly name: string,
    private readonly root: string,
  ) {}

  get layout(): EtcdNodeLayout {
    const paths = nodePaths(this.spec, this.spec.nodes.find((n) => n.name === this.name)!);
    return { configFile: configFilePath(paths, 'etcd'), dataDir: paths.etcdDataDir, unit: UNIT, patroniConfigFile: configFilePath(paths, 'patroni') };
  }

  get clientUrl(): string {
    const node = this.spec.nodes.find((n) => n.name === this.name)!;
    return `http://${node.address}:${this.spec.ports.etcdClient}`;
  }

  get log(): string {
    return path.join(this.root, `${this.name}-etcd.log`);
  }

  /** As the bootstrap does: the rendered file, byte for byte. */
  writeRenderedConfig(): void {
    fs.mkdirSync(path.dirname(this.layout.configFile), { recursive: true });
    fs.writeFileSync(this.layout.configFile, renderEtcdConfig(this.spec, this.name));
  }

  start(): void {
    this.starts++;
    this.exited = false;
    const daemon = startDaemon('/usr/bin/etcd', ['--config-file', this.layout.configFile], this.log);
    this.daemon = daemon;
    // Noticed through the pid: the fixture does not expose the exit.
    const watch = setInterval(() => {
      try {
        process.kill(daemon.pid, 0);
      } catch {
        if (this.daemon === daemon) this.exited = true;
        clearInterval(watch);
      }
    }, 100);
    watch.unref();
  }

  /** systemctl start: until the member answers healthy (it has joined a cluster with quorum), or its process exits. */
  async startAndWait(): Promise<void> {
    this.start();
    await waitFor(`${this.name} to join`, 30_000, async () => {
      if (this.exited) throw new Error(`${this.name}'s etcd exited:\n${fs.readFileSync(this.log, 'utf8').split('\n').slice(-5).join('\n')}`);
      return health(this.clientUrl);
    }).catch((err) => {
      if (this.exited) throw new Error(`${this.name}'s etcd exited; log ends with:\n${fs.readFileSync(this.log, 'utf8').slice(-1500)}`);
      throw err;
    });
  }

  async stop(): Promise<void> {
    const daemon = this.daemon;
    this.daemon = undefined;
    await daemon?.stop();
  }
}

/** Runs a step's lines on `member` as an operator would, and returns what they printed. */
async function runStep(step: ProcedureStep, member: Member, notRun: string[]): Promise<string> {
  let output = '';
  for (const line of step.lines) {
    if (NOT_RUN.some((p) => p.test(line))) {
      notRun.push(line);
      continue;
    }
    const service = /^sudo systemctl (start|stop|restart) (\S+)$/.exec(line);
    if (service) {
      expect(service[2]).toBe(UNIT);
      if (service[1] !== 'start') await member.stop();
      if (service[1] !== 'stop') await member.startAndWait();
      continue;
    }
    const state = CARRIED.map((v) => (member.vars[v] === undefined ? '' : `${v}=${shellQuote(member.vars[v])}\n`)).join('');
    const script = [
      'sudo() { if [ "$1" = -u ]; then shift 2; fi; "$@"; }',
      state,
      line,
      'rc=$?',
      `for v in ${CARRIED.join(' ')}; do if [ -n "\${!v+x}" ]; then printf '%s=%s\\0' "$v" "\${!v}" >&3; fi; done`,
      'exit $rc',
    ].join('\n');
    const result = await runWithFd3(script);
    output += result.stdout + result.stderr;
    Object.assign(member.vars, result.vars);
  }
  return output;
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** bash -c `script`, collecting the variables it prints to fd 3. */
async function runWithFd3(script: string): Promise<{ stdout: string; stderr: string; vars: Record<string, string> }> {
  const command = start('/bin/bash', ['-c', script], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ETCDCTL_API: '3' },
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  const { child } = command;
  let stdout = '';
  let stderr = '';
  let fd3 = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  (child.stdio[3] as NodeJS.ReadableStream).on('data', (d) => (fd3 += d));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const timer = setTimeout(() => command.kill('SIGKILL'), 30_000);
  try {
    await command.started();
    await closed;
  } finally {
    clearTimeout(timer);
  }
  const vars = Object.fromEntries(
    fd3
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  return { stdout, stderr, vars };
}

async function etcdctl(url: string, ...args: string[]) {
  return run('/usr/bin/etcdctl', ['--endpoints', url, ...args], { env: { ...process.env, ETCDCTL_API: '3' }, timeoutMs: 15_000 });
}

async function etcdctlV2(url: string, ...args: string[]) {
  return run('/usr/bin/etcdctl', ['--endpoints', url, ...args], { env: { ...process.env, ETCDCTL_API: '2' }, timeoutMs: 15_000 });
}

async function memberNames(url: string): Promise<string[]> {
  const list = await etcdctl(url, 'member', 'list', '-w', 'json');
  expect(list.code).toBe(0);
  return (JSON.parse(list.stdout).members as { name: string }[]).map((m) => m.name).sort();
}

/** A new instance for `member`: its etcd data gone, the rendered config written again, started as the bootstrap starts it. */
async function replaceInstance(member: Member): Promise<void> {
  await member.stop();
  fs.rmSync(member.layout.dataDir, { recursive: true, force: true });
  member.writeRenderedConfig();
  member.start();
  await waitFor(`${member.name}'s etcd to give up`, 30_000, async () => member.exited);
}

describe('etcd procedures of the runbook, on etcd 3.4', () => {
  let root: string;
  let spec: ClusterSpec;
  let members: Member[];

  beforeAll(async () => {
    root = makeTmpDir('runbook-etcd');
    spec = await loopbackSpec(root, 3);
    members = spec.nodes.map((n) => new Member(spec, n.name, root));
    for (const m of members) m.writeRenderedConfig();
    for (const m of members) m.start();
    for (const m of members) await waitFor(`${m.name} healthy`, 30_000, () => health(m.clientUrl));
    // Patroni keeps its keys in etcd's v2 store (patroni.yml's `etcd:` section).
    expect((await etcdctlV2(members[0].clientUrl, 'set', '/service/orders-db/leader', 'pg-0')).code).toBe(0);
  }, 60_000);

  afterAll(async () => {
    for (const m of members ?? []) await m.stop(); // one at a time: stopping all at once stalls the leader
    if (root) removeTmpDir(root);
  }, 60_000);

  test('a member whose instance was replaced cannot rejoin with the rendered config (why the procedure exists)', async () => {
    await replaceInstance(members[2]);
    expect(fs.readFileSync(members[2].log, 'utf8')).toContain('has already been bootstrapped');
  });

  test('"Replace an etcd member" brings it back, with its config differing from the rendered one only in initial-cluster-state', async () => {
    const [healthy, , replaced] = members;
    const options = (m: Member) => ({ layout: m.layout, memberNames: spec.nodes.map((n) => n.name) });
    const onHealthy = replaceMemberSteps(options(healthy));
    const onReplaced = replaceMemberSteps(options(replaced));
    healthy.vars.MEMBER = replaced.name;
    const outputs: string[] = [];
    const notRun: string[] = [];
    for (let i = 0; i < onHealthy.length; i++) {
      const member = onHealthy[i].on === 'healthy member' ? healthy : replaced;
      const step = onHealthy[i].on === 'healthy member' ? onHealthy[i] : onReplaced[i];
      outputs.push(await runStep(step, member, notRun));
    }
    expect(healthy.vars.PEER).toBe(`http://${spec.nodes[2].address}:${spec.ports.etcdPeer}`);
    // etcdctl pads the ID to 16 columns: an ID with a leading zero nibble has a space before it.
    expect(outputs[2]).toMatch(/Member +[0-9a-f]{1,16} removed from cluster/);
    expect(outputs[3]).toContain('ETCD_INITIAL_CLUSTER_STATE="existing"');
    const printed = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(outputs[3])![1].split(',').sort();
    const rendered = /^initial-cluster: (.+)$/m.exec(renderEtcdConfig(spec, replaced.name))![1].split(',').sort();
    expect(printed).toEqual(rendered); // so the state line is the only edit needed
    expect(outputs[4]).toContain('initial-cluster-state: existing');
    expect(notRun).toEqual([`sudo journalctl -u ${UNIT} -n 20 --no-pager`, `sudo -u postgres patronictl -c ${healthy.layout.patroniConfigFile} list`]);

    expect(await memberNames(healthy.clientUrl)).toEqual(['pg-0', 'pg-1', 'pg-2']);
    for (const m of members) expect(await health(m.clientUrl)).toBe(true);
    expect((await etcdctlV2(replaced.clientUrl, 'get', '/service/orders-db/leader')).stdout.trim()).toBe('pg-0');
    expect(outputs[5]).toContain('/service/orders-db/leader');
    const edited = fs.readFileSync(replaced.layout.configFile, 'utf8');
    expect(edited).toBe(renderEtcdConfig(spec, replaced.name).replace('initial-cluster-state: new\n', 'initial-cluster-state: existing\n'));
  });

  test('"If etcd lost its quorum" rebuilds the cluster from one survivor, keeping its keys', async () => {
    const [survivor, ...lost] = members;
    for (const m of lost) await replaceInstance(m); // two of three gone with their data: no quorum
    expect((await etcdctl(survivor.clientUrl, '--command-timeout=2s', 'put', '/probe', 'x')).code).not.toBe(0);

    const options = (m: Member) => ({ layout: m.layout, memberNames: spec.nodes.map((n) => n.name) });
    const steps = rebuildFromSurvivorSteps(options(survivor));
    const notRun: string[] = [];
    await runStep(steps[0], survivor, notRun);
    expect(await runStep(steps[1], survivor, notRun)).toContain('/service/orders-db/leader');
    expect(await memberNames(survivor.clientUrl)).toEqual(['pg-0']);
    expect(fs.readFileSync(survivor.layout.configFile, 'utf8')).toBe(renderEtcdConfig(spec, survivor.name));

    for (const member of lost) {
      survivor.vars.MEMBER = member.name;
      let added = '';
      // As the step says: "On `etcdserver: unhealthy cluster` ... wait 10 s and add again".
      for (let attempt = 0; attempt < 6; attempt++) {
        added = await runStep(steps[2], survivor, notRun);
        if (!added.includes('unhealthy cluster')) break;
        await new Promise((r) => setTimeout(r, 3000));
      }
      const initialCluster = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(added);
      expect(initialCluster).not.toBeNull();
      member.vars.INITIAL_CLUSTER = initialCluster![1]; // the operator copies it across
      await runStep(rebuildFromSurvivorSteps(options(member))[3], member, notRun);
      await runStep(steps[4], survivor, notRun);
    }
    await runStep(steps[5], survivor, notRun);

    expect(await memberNames(survivor.clientUrl)).toEqual(['pg-0', 'pg-1', 'pg-2']);
    for (const m of members) expect(await health(m.clientUrl)).toBe(true);
    expect((await etcdctlV2(members[2].clientUrl, 'get', '/service/orders-db/leader')).stdout.trim()).toBe('pg-0');
    expect(fs.readdirSync(path.dirname(survivor.layout.dataDir)).some((f) => f.startsWith(`${path.basename(survivor.layout.dataDir)}.backup-`))).toBe(true);
    expect(notRun).toEqual([`sudo -u postgres patronictl -c ${survivor.layout.patroniConfigFile} list`]);
  });
});
