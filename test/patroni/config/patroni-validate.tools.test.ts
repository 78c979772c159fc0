// The rendered etcd and Patroni files, handed to the real etcd 3.4 and Patroni 3.0.2: three etcd
// members on loopback addresses of their own, then `patroni --validate-config` per node (it insists
// on reaching every etcd host).
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import {
  ClusterSpec,
  configFilePath,
  FILL_PLACEHOLDERS_PY,
  nodePaths,
  renderEtcdConfig,
  renderPatroniConfig,
} from '../../../lib/patroni/config';
import { Daemon, envWithoutPatroni, loopbackSpec, makeTmpDir, removeTmpDir, run, startDaemon, waitFor } from './fixtures';

function etcdHealthy(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: address, port, path: '/health', timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 && body.includes('"health":"true"')));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

function validate(file: string) {
  return run('/usr/bin/patroni', ['--validate-config', file], { env: envWithoutPatroni(), timeoutMs: 30_000 });
}

describe('rendered files on real etcd 3.4 and Patroni 3.0.2', () => {
  let root: string;
  let spec: ClusterSpec;
  const etcds: Daemon[] = [];

  beforeAll(async () => {
    root = makeTmpDir('validate');
    spec = await loopbackSpec(root, 3);
    for (const node of spec.nodes) {
      const paths = nodePaths(spec, node);
      fs.mkdirSync(paths.configDir, { recursive: true });
      fs.writeFileSync(configFilePath(paths, 'etcd'), renderEtcdConfig(spec, node.name));
      fs.writeFileSync(configFilePath(paths, 'patroni'), renderPatroniConfig(spec, node.name));
      etcds.push(startDaemon('/usr/bin/etcd', ['--config-file', configFilePath(paths, 'etcd')], path.join(root, `${node.name}-etcd.log`)));
    }
    for (const node of spec.nodes) {
      await waitFor(`etcd member ${node.name} to be healthy`, 30_000, () => etcdHealthy(node.address, spec.ports.etcdClient));
    }
  }, 60_000);

  afterAll(async () => {
    for (const etcd of etcds) await etcd.stop(); // one by one: stopping all at once stalls the leader
    if (root) removeTmpDir(root);
  }, 30_000);

  test('each etcd member starts with the rendered name, timings and initial cluster', () => {
    for (const node of spec.nodes) {
      const log = fs.readFileSync(path.join(root, `${node.name}-etcd.log`), 'utf8');
      const line = log.split('\n').find((l) => l.includes('"msg":"starting an etcd server"'));
      expect(line).toBeDefined();
      const started = JSON.parse(line as string);
      expect(started).toMatchObject({
        name: node.name,
        'heartbeat-interval': '100ms',
        'election-timeout': '1s',
        'initial-cluster-state': 'new',
        'initial-cluster-token': 'orders-db',
        'pre-vote': true,
        'auto-compaction-mode': 'periodic',
        'auto-compaction-retention': '1h0m0s',
        'data-dir': nodePaths(spec, node).etcdDataDir,
      });
      expect(started['initial-cluster']).toBe(
        spec.nodes.map((n) => `${n.name}=http://${n.address}:${spec.ports.etcdPeer}`).join(','),
      );
    }
  });

  test('the members form one three-member cluster', async () => {
    const endpoints = spec.nodes.map((n) => `http://${n.address}:${spec.ports.etcdClient}`).join(',');
    const list = await run('/usr/bin/etcdctl', ['--endpoints', endpoints, 'member', 'list', '-w', 'json'], {
      env: { ...process.env, ETCDCTL_API: '3' },
      timeoutMs: 15_000,
    });
    expect(list.code).toBe(0);
    const names = (JSON.parse(list.stdout).members as { name: string }[]).map((m) => m.name).sort();
    expect(names).toEqual(['pg-0', 'pg-1', 'pg-2']);
  }, 20_000);

  test('patroni --validate-config accepts every node\'s patroni.yml', async () => {
    for (const node of spec.nodes) {
      const result = await validate(configFilePath(nodePaths(spec, node), 'patroni'));
      expect({ node: node.name, code: result.code, stderr: result.stderr }).toEqual({ node: node.name, code: 0, stderr: '' });
    }
  }, 60_000);

  test('patroni --validate-config accepts patroni.yml after the bootstrap filled in awkward passwords', async () => {
    const file = path.join(root, 'filled.yml');
    fs.writeFileSync(file, renderPatroniConfig(spec, 'pg-0'));
    const passwords = { SU: `it's "a": #pass\\word`, REPL: 'off', REWIND: '0123', API: ' yes: {x}\n' };
    const fill = await run(
      '/usr/bin/python3',
      [
        '-',
        file,
        '__SUPERUSER_PASSWORD__=SU',
        '__REPLICATION_PASSWORD__=REPL',
        '__REWIND_PASSWORD__=REWIND',
        '__RESTAPI_PASSWORD__=API',
      ],
      { input: FILL_PLACEHOLDERS_PY, env: { ...process.env, ...passwords } },
    );
    expect(fill).toMatchObject({ code: 0, stderr: '' });
    const result = await validate(file);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  }, 30_000);

  test('patroni --validate-config rejects an unquoted watchdog `off` (what a YAML 1.2 writer emits)', async () => {
    const file = path.join(root, 'unquoted.yml');
    const rendered = renderPatroniConfig(spec, 'pg-0');
    expect(rendered).toContain('mode: "off"');
    fs.writeFileSync(file, rendered.replace('mode: "off"', 'mode: off'));
    const result = await validate(file);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('watchdog.mode False');
  }, 30_000);
});
