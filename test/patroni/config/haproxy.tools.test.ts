// HAProxy itself reads the rendered configuration: `haproxy -c`, then routing by role.
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';
import { ClusterSpec, HAPROXY_HEALTH_PATHS, nodePaths, renderHaproxyConfig } from '../../../lib/patroni/config';
import { Daemon, ec2Spec, loopbackSpec, makeTmpDir, removeTmpDir, run, startDaemon, waitFor } from './fixtures';

describe('renderHaproxyConfig, checked by HAProxy 2.6', () => {
  const spec = ec2Spec();

  test('haproxy -c accepts it, with and without a node', async () => {
    const dir = makeTmpDir('haproxy-c');
    try {
      const paths = { ...nodePaths(spec, spec.nodes[0]), runDir: dir };
      const local = { ...spec, paths };
      for (const [name, text] of [['node', renderHaproxyConfig(local, 'pg-0')], ['any', renderHaproxyConfig(local)]]) {
        const file = path.join(dir, `${name}.cfg`);
        fs.writeFileSync(file, text);
        const check = await run('/usr/sbin/haproxy', ['-c', '-f', file]);
        expect({ code: check.code, out: check.stdout.trim(), err: check.stderr }).toEqual({ code: 0, out: 'Configuration file is valid', err: '' });
      }
    } finally {
      removeTmpDir(dir);
    }
  });
});

// HAProxy for real against stand-ins: per node a fake Patroni REST API (answers as its role says)
// and a fake PostgreSQL (says its node name on connect).
describe('rendered haproxy.cfg routes by Patroni role', () => {
  let root: string;
  let spec: ClusterSpec;
  let haproxy: Daemon;
  const roles = new Map<string, 'primary' | 'replica'>();
  const checks: string[] = [];
  const servers: (http.Server | net.Server)[] = [];
  const sockets = new Set<net.Socket>();

  function get(pathname: string): Promise<number> {
    const node = spec.nodes[0];
    return new Promise((resolve, reject) => {
      const req = http.get({ host: node.address, port: spec.ports.haproxyHealth, path: pathname, timeout: 2000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('timeout')));
    });
  }

  /** Connects through HAProxy and resolves with the first line the backend sends, and the socket. */
  function connect(port: number): Promise<{ name: string; socket: net.Socket }> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: spec.nodes[0].address, port });
      socket.setTimeout(5000, () => socket.destroy(new Error('no greeting')));
      socket.once('error', reject);
      socket.once('data', (d) => {
        socket.setTimeout(0);
        resolve({ name: d.toString().trim(), socket });
      });
    });
  }

  function listen(server: http.Server | net.Server, address: string, port: number): Promise<void> {
    servers.push(server);
    return new Promise((resolve) => server.listen(port, address, () => resolve()));
  }

  beforeAll(async () => {
    root = makeTmpDir('haproxy-live');
    spec = await loopbackSpec(root, 3, {
      // Checks time out after one interval: 500 ms and 3 misses ride out a stalled jest worker.
      timing: { ...ec2Spec().timing, haproxyCheckIntervalMs: 500, haproxyFall: 3, haproxyRise: 1 },
    });
    for (const node of spec.nodes) {
      roles.set(node.name, node.name === 'pg-1' ? 'primary' : 'replica');
      const rest = http.createServer((req, res) => {
        checks.push(`${node.name} ${req.method} ${req.url}`);
        const role = roles.get(node.name);
        const ok = req.method === 'OPTIONS' && (req.url === '/primary' ? role === 'primary' : req.url?.startsWith('/replica?') && role === 'replica');
        res.writeHead(ok ? 200 : 503).end();
      });
      await listen(rest, node.address, spec.ports.restApi);
      const postgres = net.createServer((socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => undefined);
        socket.write(`${node.name}\n`);
      });
      await listen(postgres, node.address, spec.ports.postgres);
    }
    const paths = nodePaths(spec, spec.nodes[0]);
    fs.mkdirSync(paths.runDir, { recursive: true });
    fs.mkdirSync(paths.configDir, { recursive: true });
    const cfg = path.join(paths.configDir, 'haproxy.cfg');
    fs.writeFileSync(cfg, renderHaproxyConfig(spec, 'pg-0'));
    haproxy = startDaemon('/usr/sbin/haproxy', ['-db', '-f', cfg], path.join(root, 'haproxy.log'));
    // HAProxy 2.6 starts servers up; a server's state means something once its first check has been
    // answered and processed, which is certain when its second check arrives.
    const checked = (name: string, url: string) => checks.filter((c) => c.startsWith(`${name} OPTIONS ${url}`)).length >= 2;
    await waitFor('HAProxy to check every node twice for both listeners', 15_000, async () =>
      spec.nodes.every((n) => checked(n.name, '/primary') && checked(n.name, '/replica?')),
    );
  }, 40_000);

  afterAll(async () => {
    if (haproxy) await haproxy.stop();
    sockets.forEach((s) => s.destroy());
    await Promise.all(servers.map((s) => new Promise((r) => s.close(() => r(undefined)))));
    if (root) removeTmpDir(root);
  }, 30_000);

  test('checks with OPTIONS /primary and /replica?lag=<replicaMaxLagBytes>', () => {
    const kinds = new Set(checks.map((c) => c.split(' ').slice(1).join(' ')));
    expect([...kinds].sort()).toEqual(['OPTIONS /primary', `OPTIONS /replica?lag=${spec.replicaMaxLagBytes}`]);
  });

  test('the health frontend answers /health, /primary and /replicas with 200', async () => {
    expect(await get(HAPROXY_HEALTH_PATHS.replicas)).toBe(200);
    expect(await get(HAPROXY_HEALTH_PATHS.alive)).toBe(200);
    expect(await get(HAPROXY_HEALTH_PATHS.primary)).toBe(200);
    expect(await get('/elsewhere')).toBe(404);
  });

  test('port 5000 reaches only the primary, port 5001 only replicas', async () => {
    const reached = async (port: number) => {
      const names: string[] = [];
      for (let i = 0; i < 4; i++) {
        const session = await connect(port);
        session.socket.destroy();
        names.push(session.name);
      }
      return [...new Set(names)].sort();
    };
    expect(await reached(spec.ports.haproxyPrimary)).toEqual(['pg-1']);
    expect(await reached(spec.ports.haproxyReplica)).toEqual(['pg-0', 'pg-2']);
  });

  test('when the primary is marked down its sessions are cut and the health says 503', async () => {
    const session = await connect(spec.ports.haproxyPrimary);
    expect(session.name).toBe('pg-1');
    const closed = new Promise<void>((resolve) => session.socket.once('close', () => resolve()));
    session.socket.on('error', () => undefined);
    roles.set('pg-1', 'replica');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 5_000)));
    const cut = await Promise.race([closed.then(() => true), timedOut]);
    clearTimeout(timer);
    expect(cut).toBe(true);
    await waitFor('/primary to turn 503', 5_000, async () => (await get(HAPROXY_HEALTH_PATHS.primary)) === 503);
  }, 15_000);
});
