import { PatroniClient, PatroniError } from '../../lib/ops/patroni-client';
import { clusterView, FakePatroni, refusedUrl } from './fake-patroni';

const AUTH = { username: 'patroni', password: 's3cret' };
const BASIC = `Basic ${Buffer.from('patroni:s3cret').toString('base64')}`;

describe('PatroniClient against a fake REST API on 127.0.0.1', () => {
  let fake: FakePatroni;
  let url: string;

  beforeEach(async () => {
    fake = new FakePatroni();
    url = await fake.start();
  });
  afterEach(async () => {
    await fake.stop();
  });

  const patroniRoutes = (overrides: Parameters<typeof clusterView>[1] = {}, config: Record<string, unknown> = { synchronous_mode: true }) => {
    fake.handler = (req) => {
      if (req.method === 'GET' && req.path === '/cluster') return { status: 200, body: clusterView(url, overrides) };
      if (req.method === 'GET' && req.path === '/config') return { status: 200, body: config };
      if (req.method === 'GET' && req.path === '/patroni') {
        return {
          status: 200,
          body: {
            state: 'running',
            role: 'master',
            timeline: 3,
            replication: [
              { application_name: 'pg-1', state: 'streaming', sync_state: 'sync' },
              { application_name: 'pg-2', state: 'streaming', sync_state: 'async' },
            ],
          },
        };
      }
      return { status: 404, body: 'no route' };
    };
  };

  test('parses GET /cluster: members, leader, source', async () => {
    patroniRoutes();
    const client = new PatroniClient({ urls: [url] });
    const status = await client.clusterStatus();
    expect(status.members.map((m) => `${m.name}:${m.role}`)).toEqual(['pg-0:leader', 'pg-1:sync_standby', 'pg-2:replica']);
    expect(status.source).toBe(url);
    expect((await client.leader(status))?.name).toBe('pg-0');
  });

  test('lists healthy replicas sorted by lag, leaving out lagging, unknown-lag, stopped and nofailover members', async () => {
    patroniRoutes({
      'pg-1': { lag: 4096 },
      'pg-2': { lag: 0 },
    });
    const client = new PatroniClient({ urls: [url] });
    expect((await client.healthyReplicas()).map((r) => r.name)).toEqual(['pg-2', 'pg-1']);
    expect((await client.healthyReplicas({ maxLagBytes: 1000 })).map((r) => r.name)).toEqual(['pg-2']);
    patroniRoutes({ 'pg-1': { lag: 'unknown' }, 'pg-2': { state: 'stopped' } });
    expect(await client.healthyReplicas()).toEqual([]);
    patroniRoutes({ 'pg-1': { tags: { nofailover: true } } });
    expect((await client.healthyReplicas()).map((r) => r.name)).toEqual(['pg-2']);
  });

  test('asks the next node when one refuses the connection, and says which failed', async () => {
    patroniRoutes();
    const dead = await refusedUrl();
    const client = new PatroniClient({ urls: [dead, url] });
    const status = await client.clusterStatus();
    expect(status.source).toBe(url);
    expect(status.unreachable).toEqual([`${dead}: connection refused`]);
  });

  test('moves on from a node that does not answer within the timeout', async () => {
    const slow = new FakePatroni();
    const slowUrl = await slow.start();
    slow.handler = () => 'hang';
    patroniRoutes();
    try {
      const client = new PatroniClient({ urls: [slowUrl, url], timeoutMs: 300 });
      const started = Date.now();
      const status = await client.clusterStatus();
      expect(Date.now() - started).toBeLessThan(2000);
      expect(status.source).toBe(url);
      expect(status.unreachable[0]).toBe(`${slowUrl}: no answer within 0.3 s`);
    } finally {
      await slow.stop();
    }
  });

  test('fails with every node named when none answers', async () => {
    fake.handler = () => ({ status: 503, body: 'etcd is down' });
    const dead = await refusedUrl();
    const client = new PatroniClient({ urls: [url, dead], timeoutMs: 500 });
    await expect(client.clusterStatus()).rejects.toThrow(
      `no Patroni REST API answered GET /cluster (direct): ${url}: HTTP 503 etcd is down; ${dead}: connection refused`,
    );
  });

  test('refuses a body that is not a member list', async () => {
    fake.handler = () => ({ status: 200, body: '<html>proxy login</html>' });
    const client = new PatroniClient({ urls: [url] });
    await expect(client.clusterStatus()).rejects.toThrow(/unexpected answer to GET \/cluster: <html>proxy login<\/html>/);
  });

  test('switchover POSTs leader and the sync standby with basic auth; GETs carry no credentials', async () => {
    patroniRoutes();
    const routes = fake.handler;
    fake.handler = (req) => (req.method === 'POST' ? { status: 200, body: 'Successfully switched over to "pg-1"' } : routes(req));
    const client = new PatroniClient({ urls: [url], auth: AUTH });
    const outcome = await client.switchover();
    expect(outcome).toMatchObject({ action: 'switchover', from: 'pg-0', candidate: 'pg-1', status: 200, message: 'Successfully switched over to "pg-1"' });
    const post = fake.requests.find((r) => r.method === 'POST')!;
    expect(post.path).toBe('/switchover');
    expect(JSON.parse(post.body)).toEqual({ leader: 'pg-0', candidate: 'pg-1' });
    expect(post.authorization).toBe(BASIC);
    expect(fake.requests.filter((r) => r.method === 'GET').every((r) => r.authorization === undefined)).toBe(true);
  });

  test('in synchronous mode refuses a candidate that is not the sync standby, before any POST', async () => {
    patroniRoutes();
    const client = new PatroniClient({ urls: [url], auth: AUTH });
    await expect(client.switchover({ candidate: 'pg-2' })).rejects.toThrow("'pg-2' is not a sync standby, and the cluster is in synchronous mode (Patroni would refuse)");
    await expect(client.switchover({ candidate: 'pg-9' })).rejects.toThrow("no member 'pg-9' in the cluster (members: pg-0, pg-1, pg-2)");
    expect(fake.requests.some((r) => r.method === 'POST')).toBe(false);
  });

  test('without synchronous mode picks the least-lagging replica', async () => {
    patroniRoutes({ 'pg-1': { role: 'replica', lag: 9000 }, 'pg-2': { lag: 10 } }, { synchronous_mode: false });
    const client = new PatroniClient({ urls: [url] });
    expect((await client.chooseCandidate()).name).toBe('pg-2');
  });

  test('reports rejected credentials as a clear error', async () => {
    patroniRoutes();
    const routes = fake.handler;
    fake.handler = (req) => (req.method === 'POST' ? { status: 401, body: 'not authenticated' } : routes(req));
    const client = new PatroniClient({ urls: [url], auth: { username: 'patroni', password: 'wrong' } });
    await expect(client.switchover()).rejects.toThrow(`${url} refused the switchover (401 not authenticated): check the REST API credentials`);
  });

  test("passes on Patroni's refusal (412) with its message", async () => {
    patroniRoutes();
    const routes = fake.handler;
    fake.handler = (req) => (req.method === 'POST' ? { status: 412, body: 'candidate name does not match with sync_standby' } : routes(req));
    const client = new PatroniClient({ urls: [url], auth: AUTH });
    await expect(client.switchover()).rejects.toThrow(`Patroni refused the switchover to pg-1 (${url}: 412 candidate name does not match with sync_standby)`);
  });

  test('does not resend a switchover to another node once one may have received it', async () => {
    patroniRoutes();
    const routes = fake.handler;
    fake.handler = (req) => (req.method === 'POST' ? 'hang' : routes(req));
    const other = new FakePatroni();
    const otherUrl = await other.start();
    other.handler = () => ({ status: 200, body: 'should not be asked' });
    try {
      const client = new PatroniClient({ urls: [url, otherUrl], auth: AUTH, actionTimeoutMs: 300 });
      const outcome = await client.switchover();
      expect(outcome.status).toBe(0);
      expect(outcome.message).toMatch(/may be under way/);
      expect(other.requests.filter((r) => r.method === 'POST')).toEqual([]);
    } finally {
      await other.stop();
    }
  });

  test('sends the switchover to the next node when the first refuses the connection', async () => {
    patroniRoutes();
    const routes = fake.handler;
    fake.handler = (req) => (req.method === 'POST' ? { status: 200, body: 'Successfully switched over to "pg-1"' } : routes(req));
    const dead = await refusedUrl();
    const client = new PatroniClient({ urls: [dead, url], auth: AUTH });
    expect((await client.switchover()).status).toBe(200);
  });

  test('failover is refused while a leader runs, and POSTs a candidate when none does', async () => {
    patroniRoutes();
    const client = new PatroniClient({ urls: [url], auth: AUTH });
    await expect(client.failover()).rejects.toThrow('leader pg-0 is running: use a switchover, not a failover');
    const noLeader = clusterView(url) as { members: Array<Record<string, unknown>> };
    noLeader.members = noLeader.members.filter((m) => m.role !== 'leader');
    fake.handler = (req) => (req.method === 'POST' ? { status: 200, body: 'Successfully failed over to "pg-1"' } : req.path === '/cluster' ? { status: 200, body: noLeader } : { status: 200, body: {} });
    const outcome = await client.failover();
    expect(outcome.candidate).toBe('pg-1');
    const post = fake.requests.find((r) => r.method === 'POST')!;
    expect(post.path).toBe('/failover');
    expect(JSON.parse(post.body)).toEqual({ candidate: 'pg-1' });
  });

  test('health lists its issues: a stopped replica, lag, an old timeline, not streaming, a pause', async () => {
    patroniRoutes({ 'pg-1': { lag: 5 * 1024 * 1024, timeline: 2 }, 'pg-2': { state: 'stopped' } });
    const client = new PatroniClient({ urls: [url] });
    let h = await client.health();
    expect(h.healthy).toBe(false);
    expect(h.writable).toBe(true);
    expect(h.issues).toEqual([
      'replica pg-1 is 5242880 bytes behind (limit 1048576)',
      'replica pg-1 is on timeline 2, the leader on 3',
      'replica pg-2 is stopped',
      'no healthy replica: nothing to fail over to',
    ]);
    patroniRoutes();
    h = await client.health();
    expect(h).toMatchObject({ healthy: true, issues: [], leader: { name: 'pg-0', timeline: 3 }, synchronousMode: true });
    expect(h.replicas.map((r) => r.streaming)).toEqual([true, true]);
    const routes = fake.handler;
    fake.handler = (req) => (req.path === '/cluster' ? { status: 200, body: { ...(clusterView(url) as object), pause: true } } : routes(req));
    expect((await client.health()).issues).toEqual(['the cluster is paused (maintenance mode): Patroni will not fail over on its own']);
  });

  test('health reports an unreachable cluster instead of throwing', async () => {
    const client = new PatroniClient({ urls: [await refusedUrl()] });
    const h = await client.health();
    expect(h).toMatchObject({ healthy: false, writable: false });
    expect(h.issues[0]).toMatch(/no Patroni REST API answered GET \/cluster/);
  });

  test('waitForLeader returns the new leader and gives up at its deadline', async () => {
    let calls = 0;
    fake.handler = (req) => {
      if (req.path !== '/cluster') return { status: 404, body: '' };
      calls++;
      return { status: 200, body: calls < 3 ? clusterView(url) : clusterView(url, { 'pg-0': { role: 'replica', lag: 0 }, 'pg-1': { role: 'leader' } }) };
    };
    const client = new PatroniClient({ urls: [url] });
    expect((await client.waitForLeader({ notMember: 'pg-0', timeoutMs: 5000, intervalMs: 20 })).name).toBe('pg-1');
    const started = Date.now();
    await expect(client.waitForLeader({ member: 'pg-2', timeoutMs: 300, intervalMs: 50 })).rejects.toThrow(/timed out after \d+\.\d s waiting for pg-2 to lead \(last: pg-1 leads\)/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('refuses URLs that are not base URLs', () => {
    expect(() => new PatroniClient({ urls: ['10.0.0.1:8008'] })).toThrow(PatroniError);
    expect(() => new PatroniClient({ urls: [] })).toThrow('no Patroni REST API URL given');
  });
});
