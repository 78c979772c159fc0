// The node agent's own logic, run by Debian's python3 (the agent is imported as a module; nothing
// here talks to AWS, etcd or Patroni). Its rollout on real nodes is the booted rehearsal's.
import * as fs from 'fs';
import * as path from 'path';
import { NODE_AGENT_PY, NodeBundleOptions, packBundle, renderNodeBundle } from '../../../lib/patroni/config';
import { BACKUP_SPEC, ec2Spec, makeTmpDir, removeTmpDir, run } from './fixtures';

const OPTIONS: NodeBundleOptions = {
  secretIds: { superuser: 'arn:s', replication: 'arn:r', rewind: 'arn:w', restApi: 'arn:a' },
  dataVolume: { device: '/dev/sdf', volumeId: 'vol-0123456789abcdef0' },
};

/** Python: a clock that moves only when the agent sleeps (as `Clock()`). */
const FAKE_CLOCK_PY = [
  'class Clock:',
  '    now = 0.0',
  '    def monotonic(self): return self.now',
  '    def time(self): return 1_700_000_000 + self.now',
  '    def sleep(self, seconds): self.now += seconds',
].join('\n');

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
    expect(r.stderr.trim()).toBe('usage: cdk-failover-agent boot|reconcile|apply|drain|drain-on-stop|write-files|check-patroni');
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

  const FAST = { ttl: 7, loop_wait: 1, retry_timeout: 3 };
  const DEFAULT = { ttl: 30, loop_wait: 10, retry_timeout: 10 };

  test.each([
    ['patroni 3.0.2', FAST, null],
    ['patroni 3.1.2', FAST, null],
    ['patroni 3.2.0', DEFAULT, null],
    ['patroni 4.0', DEFAULT, null],
    ['patroni 3.2.0', FAST, /^Patroni 3\.2\.0 raises timing values to its minimums \(since 3\.2\.0: ttl 7 < 20\), so the declared ttl 7 \/ loop_wait 1 \/ retry_timeout 3 would not be what runs/],
    // Patroni 3.2+'s own minimums are met: 20 / 1 / 3 runs as declared.
    ['patroni 4.0.0', { ttl: 20, loop_wait: 1, retry_timeout: 3 }, null],
    ['patroni 4.0.0\n', FAST, /^Patroni 4\.0\.0 raises timing values/],
    ['patroni 4.0.0', { ttl: 20, loop_wait: 2, retry_timeout: 2 }, /\(since 3\.2\.0: retry_timeout 2 < 3\)/],
    ['', FAST, /^cannot read the version of Patroni from '': the timing could not be checked$/],
    // Numbers in an error message are not a version.
    ["pkg_resources.DistributionNotFound: The 'python-etcd<0.5,>=0.4.3' distribution was not found", FAST, /^cannot read the version of Patroni from /],
    ['File "/usr/lib/python3.11/site-packages/patroni/__main__.py", line 1', FAST, /^cannot read the version of Patroni from /],
  ])('timing_adjustment(%j, %j)', async (version, timing, expected) => {
    const problem = await py(`print(json.dumps(agent.timing_adjustment(${JSON.stringify(version)}, json.loads(${JSON.stringify(JSON.stringify(timing))}))))`);
    if (expected === null) expect(problem).toBeNull();
    else expect(problem).toMatch(expected);
  });

  test.each([
    ['a stand-in Patroni 4.0.0 with FAST timing is refused with one line', '#!/bin/sh\necho patroni 4.0.0\n', 1, /^cdk-failover: Patroni 4\.0\.0 raises timing values .*\(runbook: A node's bootstrap failed\)$/],
    ["Debian 12's own Patroni 3.0.2 runs FAST as declared", undefined, 0, /^cdk-failover-agent: patroni 3\.0\.2 runs ttl 7 \/ loop_wait 1 \/ retry_timeout 3 as declared$/],
    ['a patroni that does not start is refused', '#!/bin/sh\necho "ImportError: no module named patroni" >&2; exit 1\n', 1, /^cdk-failover: cannot read the version of Patroni from 'patroni failed: ImportError: no module named patroni'/],
  ])('check-patroni: %s', async (_what, standIn, code, line) => {
    const desired = path.join(dir, 'desired.json');
    fs.writeFileSync(desired, JSON.stringify({ bundle: { dynamicConfiguration: FAST } }));
    if (standIn) fs.writeFileSync(path.join(dir, 'patroni'), standIn, { mode: 0o755 });
    const out = (await py(
      [
        'import io, os',
        `agent.DESIRED = ${JSON.stringify(desired)}`,
        standIn ? `os.environ['PATH'] = ${JSON.stringify(dir)} + ':' + os.environ['PATH']` : '',
        // Both streams captured: the agent logs to stdout and fails on stderr.
        'out = io.StringIO()',
        'sys.stdout = sys.stderr = out',
        'rc = agent.check_patroni_command()',
        'sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__',
        "print(json.dumps({'rc': rc, 'lines': [l for l in out.getvalue().splitlines() if l.strip()]}))",
      ].join('\n'),
    )) as { rc: number; lines: string[] };
    expect(out.rc).toBe(code);
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]).toMatch(line);
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

  test('removing standbyOf while Patroni still follows a primary is refused (the standby would lose its feed), and adding it to a primary; an unreadable /config too', async () => {
    const yml = (standby: boolean) =>
      JSON.stringify(`scope: db\nbootstrap:\n  dcs:\n    ttl: 30\n${standby ? '    standby_cluster:\n      restore_command: pgbackrest archive-get %f "%p"\n' : ''}`);
    const problem = (config: object | null, standby: boolean) => py(`print(json.dumps(agent.standby_problem(json.loads(${JSON.stringify(JSON.stringify(config))}), ${yml(standby)})))`);
    const following = { ttl: 30, standby_cluster: { restore_command: 'x' } };
    expect(await problem(following, false)).toBe(
      "this cluster is still a standby cluster (Patroni's /config has standby_cluster), and the change removes standbyOf: it would lose its feed; promote it first (failover promote), then remove standbyOf",
    );
    expect(await problem(following, true)).toBeNull();
    // Promoted (standby_cluster null in /config) or a primary: as long as standbyOf is gone, nothing to refuse.
    expect(await problem({ ttl: 30, standby_cluster: null }, false)).toBeNull();
    expect(await problem({ ttl: 30 }, false)).toBeNull();
    // The other way: a deploy cannot make a running primary (a promoted one that kept standbyOf included) a standby.
    for (const config of [{ ttl: 30 }, { ttl: 30, standby_cluster: null }]) {
      expect(await problem(config, true)).toBe(
        "this cluster is a primary (Patroni's /config has no standby_cluster), and the change declares standbyOf: a deploy cannot make a running primary a standby; " +
          'remove standbyOf (after a promotion), or make a new cluster as the standby',
      );
    }
    // Patroni's error answer (no configuration in etcd), or none: refused, never read as 'not a standby'.
    expect(await problem({ message: 'Cluster configuration is not available' }, false)).toBe(
      "Patroni's /config gave no configuration ({'message': 'Cluster configuration is not available'}): whether this cluster is a standby cannot be told",
    );
    expect(await problem(null, false)).toBe("Patroni's /config gave no configuration (None): whether this cluster is a standby cannot be told");
  });

  test("standby_patch: a running standby's streaming source (host, port) follows patroni.yml's bootstrap; removed, they become null; a promoted cluster or a primary gets none", async () => {
    /** patroni.yml with standby_cluster (and `source`'s lines in it), or without it (null). */
    const yml = (source: string | null) =>
      JSON.stringify(`scope: db\nbootstrap:\n  dcs:\n    ttl: 30\n${source === null ? '' : `    standby_cluster:\n${source}      restore_command: x\n`}`);
    const streams = '      host: orders-db.example\n      port: 5432\n';
    const repositoryOnly = '';
    const patch = (config: object, source: string | null) => py(`print(json.dumps(agent.standby_patch(json.loads(${JSON.stringify(JSON.stringify(config))}), ${yml(source)})))`);
    const following = (more: object = {}) => ({ ttl: 30, standby_cluster: { restore_command: 'x', ...more } });
    // Added, already there, moved, removed.
    expect(await patch(following(), streams)).toEqual({ standby_cluster: { host: 'orders-db.example', port: 5432 } });
    expect(await patch(following({ host: 'orders-db.example', port: 5432 }), streams)).toEqual({});
    expect(await patch(following({ host: 'old.example', port: 5432 }), streams)).toEqual({ standby_cluster: { host: 'orders-db.example' } });
    expect(await patch(following({ host: 'orders-db.example', port: 5432 }), repositoryOnly)).toEqual({ standby_cluster: { host: null, port: null } });
    expect(await patch(following(), repositoryOnly)).toEqual({});
    // Promoted, or a primary: nothing (standby_problem refuses a generation that still declares standbyOf).
    expect(await patch({ ttl: 30, standby_cluster: null }, streams)).toEqual({});
    expect(await patch({ ttl: 30 }, streams)).toEqual({});
    expect(await patch(following({ host: 'orders-db.example', port: 5432 }), null)).toEqual({});
  });

  test("the streaming source is PATCHed by the standby leader alone (it applies last: every node trusts the primary's CA by then); a promotion that came in between is put back at once and the apply fails", async () => {
    const yml = JSON.stringify('scope: db\nbootstrap:\n  dcs:\n    standby_cluster:\n      host: orders-db.example\n      port: 5432\n      restore_command: x\n');
    const patchWith = (leader: boolean, answer: object) =>
      py(
        [
          'sent = []',
          `answer = json.loads(${JSON.stringify(JSON.stringify(answer))})`,
          'def patroni(settings, method, path, body=None, url=None, timeout=10):',
          "    if method == 'GET':",
          "        return {'ttl': 30, 'loop_wait': 1, 'standby_cluster': {'restore_command': 'x'}}",
          '    sent.append(body)',
          '    return answer',
          'agent.patroni = patroni',
          'agent.log = lambda message: None',
          'try:',
          `    result = agent.patch_dynamic_configuration({}, {'bundle': {'dynamicConfiguration': {'ttl': 30, 'loop_wait': 1}}}, ${yml}, ${leader ? 'True' : 'False'})`,
          'except agent.Failure as e:',
          '    result = str(e)',
          "print(json.dumps({'result': result, 'sent': sent}))",
        ].join('\n'),
      );
    const streaming = { ttl: 30, standby_cluster: { restore_command: 'x', host: 'orders-db.example', port: 5432 } };
    expect(await patchWith(false, streaming)).toEqual({ result: false, sent: [] });
    expect(await patchWith(true, streaming)).toEqual({ result: true, sent: [{ standby_cluster: { host: 'orders-db.example', port: 5432 } }] });
    // Promoted between the GET and the PATCH: Patroni made a standby_cluster of host and port alone.
    expect(await patchWith(true, { ttl: 30, standby_cluster: { host: 'orders-db.example', port: 5432 } })).toEqual({
      result: 'the cluster was promoted while this change applied; its streaming source was not set (the promotion stands): deploy again without standbyOf',
      sent: [{ standby_cluster: { host: 'orders-db.example', port: 5432 } }, { standby_cluster: null }],
    });
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

  /** Installs `bundle`'s certificate files from `dir`/secret.json as version `version` of node `node` (the primary's database CA given, a streaming standby). */
  const tlsInstaller =
    (bundle: ReturnType<typeof renderNodeBundle>, link: string) =>
    async (version: string, node = 'pg-0', primaryCa?: string) =>
      (await py(
        [
          `agent.TLS_INSTALLED = ${JSON.stringify(path.join(dir, 'tls-version'))}`,
          'calls = []',
          `agent.aws = lambda identity, *args: (calls.append(list(args)), open(${JSON.stringify(path.join(dir, 'secret.json'))}).read())[1]`,
          `tls = dict(json.loads(${JSON.stringify(JSON.stringify(bundle.tls))}), link=${JSON.stringify(link)}, node=${JSON.stringify(node)})`,
          `desired = {'bundle': {'tls': tls}, 'values': {'__TLS_SECRET__': 'arn:tls', '__TLS_SECRET_VERSION__': ${JSON.stringify(version)}, '__PRIMARY_DATABASE_CA__': ${JSON.stringify(primaryCa ?? '')}}}`,
          'import io, os',
          'os.umask(0o077)',
          'out = io.StringIO(); real = sys.stdout; sys.stdout = out',
          'try:',
          '    result = agent.write_tls({}, desired)',
          'except agent.Failure as e:',
          '    result = str(e)',
          'sys.stdout = real',
          'print(json.dumps({"result": result, "calls": calls, "log": out.getvalue()}))',
        ].join('\n'),
      )) as { result: string[] | string; calls: string[][]; log: string };

  test("write_tls: the node's files from its generation's secret version, behind the tls link in one rename; the same version again does nothing; the directory before a new one is kept, older ones removed; a renewed cluster CA restarts etcd and reloads HAProxy", async () => {
    const bundle = renderNodeBundle(ec2Spec({ tls: true }), 'pg-0', { ...OPTIONS, tlsSecret: { secretId: '__TLS_SECRET__', versionId: '__TLS_SECRET_VERSION__' } });
    const link = path.join(dir, 'tls');
    const secret = {
      caCert: 'CA\n',
      databaseCaCert: 'DBCA\n',
      databaseCert: 'DBCERT\n',
      databaseKey: 'DBKEY\n',
      nodes: { 'pg-0': { cert: 'CERT0\n', key: 'KEY0\n' }, 'pg-1': { cert: 'CERT1\n', key: 'KEY1\n' } },
    };
    fs.writeFileSync(path.join(dir, 'secret.json'), JSON.stringify(secret));
    const install = tlsInstaller(bundle, link);
    const first = await install('v1');
    expect(first.result).toEqual(['reload-tls']);
    expect(first.calls).toEqual([['secretsmanager', 'get-secret-value', '--secret-id', 'arn:tls', '--version-id', 'v1', '--query', 'SecretString', '--output', 'text']]);
    const v1 = fs.readlinkSync(link);
    expect(v1).toMatch(/^tls\.[0-9a-f]{12}$/);
    expect(fs.statSync(link).mode & 0o777).toBe(0o755);
    const file = (name: string) => path.join(link, name);
    expect(['ca.crt', 'database-ca.crt', 'node.crt', 'node.key', 'etcd.key', 'database.crt', 'database.key'].map((n) => fs.readFileSync(file(n), 'utf8'))).toEqual(
      ['CA\n', 'DBCA\n', 'CERT0\n', 'KEY0\n', 'KEY0\n', 'DBCERT\n', 'DBKEY\n'],
    );
    const owners = await run('stat', ['-L', '-c', '%a %U', ...['node.key', 'etcd.key', 'database.key', 'ca.crt'].map(file)]);
    expect(owners.stdout.trim().split('\n')).toEqual(['600 postgres', '600 etcd', '600 postgres', '644 root']);

    expect(await install('v1')).toMatchObject({ result: [], calls: [] });
    expect((await install('v2')).result).toEqual(['reload-tls']);
    const v2 = fs.readlinkSync(link);
    expect(v2).not.toBe(v1);
    expect(fs.existsSync(path.join(dir, v1))).toBe(true);
    expect((await install('v3')).result).toEqual(['reload-tls']);
    expect(fs.existsSync(path.join(dir, v1))).toBe(false);
    expect(fs.existsSync(path.join(dir, v2))).toBe(true);
    // A renewed database CA: PostgreSQL's reload (in reload-tls) is enough; a renewed cluster CA: etcd, HAProxy and the metrics publisher load theirs at start.
    fs.writeFileSync(path.join(dir, 'secret.json'), JSON.stringify({ ...secret, databaseCaCert: 'DBCA2\n' }));
    expect((await install('v5')).result).toEqual(['reload-tls']);
    fs.writeFileSync(path.join(dir, 'secret.json'), JSON.stringify({ ...secret, caCert: 'CA2\n', databaseCaCert: 'DBCA2\n' }));
    expect((await install('v6')).result).toEqual(['reload-tls', 'restart-etcd', 'reload-haproxy', 'restart-metrics']);
    expect(fs.readFileSync(file('ca.crt'), 'utf8')).toBe('CA2\n');
    expect((await install('v7')).result).toEqual(['reload-tls']);
    fs.writeFileSync(path.join(dir, 'secret.json'), JSON.stringify(secret));

    const missing = await install('v4', 'pg-9');
    expect(missing.result).toBe('the certificates secret arn:tls (version v4) has no certificate for node pg-9');
    expect(fs.readFileSync(file('node.crt'), 'utf8')).toBe('CERT0\n');
  });

  test("write_tls on a streaming standby: the primary's database CA after the cluster's own in database-ca.crt; a changed CA is a new install under the same secret version; the other files as issued", async () => {
    const spec = ec2Spec({ tls: true, backup: { ...BACKUP_SPEC, standbyOf: { stanza: 'orders', path: '/orders', host: 'orders-db.example', port: 5432, primaryDatabaseCa: '__PRIMARY_DATABASE_CA__' } } });
    const bundle = renderNodeBundle(spec, 'pg-0', { ...OPTIONS, tlsSecret: { secretId: '__TLS_SECRET__', versionId: '__TLS_SECRET_VERSION__' } });
    expect(bundle.tls?.primaryDatabaseCa).toBe('__PRIMARY_DATABASE_CA__');
    const link = path.join(dir, 'tls');
    fs.writeFileSync(path.join(dir, 'secret.json'), JSON.stringify({ caCert: 'CA\n', databaseCaCert: 'DBCA\n', databaseCert: 'C\n', databaseKey: 'K\n', nodes: { 'pg-0': { cert: 'N\n', key: 'NK\n' } } }));
    const install = tlsInstaller(bundle, link);
    const file = (name: string) => fs.readFileSync(path.join(link, name), 'utf8');

    const first = await install('v1', 'pg-0', 'PRIMARYCA1\n');
    expect(first.result).toEqual(['reload-tls']);
    expect(first.log).toContain("installed the certificates of secret version v1, with the primary's database CA");
    expect(file('database-ca.crt')).toBe('DBCA\nPRIMARYCA1\n');
    expect(file('ca.crt')).toBe('CA\n');
    expect((await install('v1', 'pg-0', 'PRIMARYCA1\n')).result).toEqual([]);
    // The primary's certificates rotated: a new CA given, the same secret version. A new directory
    // behind the link, the one before kept (a handshake may still read it), never rewritten in place.
    const before = fs.readlinkSync(link);
    const beforeCa = fs.readFileSync(path.join(dir, before, 'database-ca.crt'), 'utf8');
    expect((await install('v1', 'pg-0', 'PRIMARYCA2')).result).toEqual(['reload-tls']);
    expect(file('database-ca.crt')).toBe('DBCA\nPRIMARYCA2\n');
    expect(fs.readlinkSync(link)).not.toBe(before);
    expect(fs.readFileSync(path.join(dir, before, 'database-ca.crt'), 'utf8')).toBe(beforeCa);
    expect((await install('v1', 'pg-0', 'PRIMARYCA2')).calls).toEqual([]);
  });

  test("after a reload, the wait compares the certificate Patroni's HTTPS server presents with the file: the same one matches, another does not, a closed port is an error the wait retries", async () => {
    for (const name of ['a', 'b']) {
      await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=${name}`,
        '-keyout', path.join(dir, `${name}.key`), '-out', path.join(dir, `${name}.crt`)]);
    }
    const result = (await py(
      [
        'import socket, ssl, threading',
        'context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)',
        `context.load_cert_chain(${JSON.stringify(path.join(dir, 'a.crt'))}, ${JSON.stringify(path.join(dir, 'a.key'))})`,
        "listener = socket.create_server(('127.0.0.1', 0))",
        'port = listener.getsockname()[1]',
        'def serve():',
        '    for _ in range(2):',
        '        connection, _ = listener.accept()',
        '        try:',
        '            context.wrap_socket(connection, server_side=True).close()',
        '        except OSError:',
        '            connection.close()',
        'threading.Thread(target=serve, daemon=True).start()',
        "url = 'https://127.0.0.1:%d' % port",
        `same = agent.served_certificate(url) == agent.file_certificate(${JSON.stringify(path.join(dir, 'a.crt'))})`,
        `other = agent.served_certificate(url) == agent.file_certificate(${JSON.stringify(path.join(dir, 'b.crt'))})`,
        'listener.close()',
        'try:',
        '    agent.served_certificate(url)',
        '    closed = None',
        'except OSError as e:',
        '    closed = type(e).__name__',
        'print(json.dumps({"same": same, "other": other, "closed": closed}))',
      ].join('\n'),
    )) as { same: boolean; other: boolean; closed: string | null };
    expect(result).toEqual({ same: true, other: false, closed: 'ConnectionRefusedError' });
    const empty = path.join(dir, 'empty.crt');
    fs.writeFileSync(empty, 'not a certificate\n');
    expect(await py(`try:\n    agent.file_certificate(${JSON.stringify(empty)})\nexcept agent.Failure as e:\n    print(json.dumps(str(e)))`)).toBe(`no certificate in ${empty}`);
  });

  test("reload-tls: Patroni reloaded, then the wait for its new certificate (longer with a longer loop), then PostgreSQL, then the TLS server; a certificate never served fails with the reason", async () => {
    const bundle = renderNodeBundle(ec2Spec({ tls: true, backup: BACKUP_SPEC }), 'pg-0', { ...OPTIONS, tlsSecret: { secretId: '__TLS_SECRET__', versionId: '__TLS_SECRET_VERSION__' } });
    const reload = async (servedAfterLooks: number | null, loopWait: number) =>
      (await py(
        [
          'calls = []',
          'looks = []',
          'agent.run = lambda args, timeout=120, check=True: calls.append(args[:3])',
          `agent.served_certificate = lambda url: (looks.append(url), 'new' if ${servedAfterLooks ?? 'None'} is not None and len(looks) >= ${servedAfterLooks ?? 0} else 'old')[1]`,
          "agent.file_certificate = lambda path: 'new'",
          'agent.time.sleep = lambda s: None',
          'clock = [0.0]',
          'def tick():',
          '    clock[0] += 1',
          '    return clock[0]',
          'agent.time.monotonic = tick',
          `desired = {'bundle': dict(json.loads(${JSON.stringify(JSON.stringify({ tls: bundle.tls, units: bundle.units }))}), dynamicConfiguration={'loop_wait': ${loopWait}})}`,
          "settings = {'url': 'https://10.0.1.10:8008', 'certfile': '/etc/cdk-failover/tls/node.crt'}",
          'try:',
          "    agent.take_action(settings, 'reload-tls', desired)",
          '    error = None',
          'except agent.Failure as e:',
          '    error = str(e)',
          'print(json.dumps({"calls": calls, "looks": len(looks), "seconds": agent.reload_seconds(desired), "error": error}))',
        ].join('\n'),
      )) as { calls: string[][]; looks: number; seconds: number; error: string | null };

    const served = await reload(3, 1);
    expect(served.error).toBeNull();
    expect(served.looks).toBe(3);
    expect(served.calls.map((c) => c.join(' '))).toEqual([
      `systemctl reload ${bundle.units.patroni}`,
      'runuser -u postgres',
      `systemctl try-restart ${bundle.units.backupServer}`,
    ]);
    expect(served.seconds).toBe(62);
    expect((await reload(null, 30)).seconds).toBe(120);

    const never = await reload(null, 1);
    expect(never.error).toBe("Patroni's REST API serving the new certificate not within 62 s");
    expect(never.calls.map((c) => c.join(' '))).toEqual([`systemctl reload ${bundle.units.patroni}`]);
  });

  test("turning TLS on or off on a running node is refused with the reason (etcd's protocol is the cluster's); the same protocol is not", async () => {
    const yml = (protocol?: string) => JSON.stringify(`scope: db\netcd3:\n  hosts: [a]\n${protocol ? `  protocol: ${protocol}\n` : ''}`.replace('etcd3', 'etcd'));
    const problem = (current: string | null, wanted: string) => py(`print(json.dumps(agent.tls_problem(${current ?? 'None'}, ${wanted})))`);
    expect(await problem(yml(), yml('https'))).toBe(
      'the cluster runs etcd and Patroni over http, the change wants https: TLS cannot be turned on on a running cluster (every member would have to switch at once); ' +
        'deploy it with the tls setting it was made with, or make a new cluster from a backup',
    );
    expect(await problem(yml('https'), yml())).toMatch(/^the cluster runs etcd and Patroni over https, the change wants http: TLS cannot be turned off/);
    expect(await problem(yml('https'), yml('https'))).toBeNull();
    expect(await problem(yml(), yml())).toBeNull();
    // A node without patroni.yml (its first boot) has nothing to compare.
    expect(await problem(null, yml('https'))).toBeNull();
  });

  test('the IMDS firewall is loaded when its unit is down or its rules changed, retried after a failed load, and left alone otherwise', async () => {
    const rules = path.join(dir, 'imds.nft');
    const loaded = path.join(dir, 'imds-loaded');
    fs.writeFileSync(rules, 'table inet t\n');
    const ensure = (active: boolean, reloadFails = false, firewall = true) =>
      py(`
calls = []
class Result:
    returncode = ${active ? 0 : 3}
def fake_run(argv, **kwargs):
    calls.append(argv)
    if ${reloadFails ? 'True' : 'False'} and 'reload-or-restart' in argv:
        raise agent.Failure('nft: syntax error')
agent.run = fake_run
agent.install_missing = lambda program, package: calls.append(['install', package])
agent.subprocess.run = lambda argv, **kwargs: (calls.append(argv), Result)[1]
agent.log = lambda line: None
agent.IMDS_FIREWALL_LOADED = ${JSON.stringify(loaded)}
desired = {'bundle': {${firewall ? `'imdsFirewall': {'unit': 'fw.service', 'rules': ${JSON.stringify(rules)}}` : ''}}}
try:
    agent.ensure_imds_firewall(desired)
except agent.Failure as e:
    calls.append(['failed', str(e)])
print(json.dumps(calls))`);
    const load = [['install', 'nftables'], ['systemctl', 'enable', '--quiet', 'fw.service'], ['systemctl', 'reload-or-restart', 'fw.service']];
    const isActive = ['systemctl', 'is-active', '--quiet', 'fw.service'];
    // A bundle from before the firewall: nothing.
    expect(await ensure(false, false, false)).toEqual([]);
    // Down: installed (where missing), enabled, loaded; a failed load is not remembered, so it is retried.
    expect(await ensure(false, true)).toEqual([isActive, ...load, ['failed', 'nft: syntax error']]);
    expect(fs.existsSync(loaded)).toBe(false);
    expect(await ensure(false)).toEqual([isActive, ...load]);
    // Up with these rules loaded: nothing but the check.
    expect(await ensure(true)).toEqual([isActive]);
    // New rules: loaded again (nft replaces the table in one transaction).
    fs.writeFileSync(rules, 'table inet t2\n');
    expect(await ensure(true)).toEqual([isActive, ...load]);
  });

  test('the credential broker runs before the firewall loads: started (or restarted on a change) first; not written yet or not staying up, the table in force stays', async () => {
    const rules = path.join(dir, 'imds-broker.nft');
    const loaded = path.join(dir, 'imds-broker-loaded');
    const started = path.join(dir, 'broker-started');
    const program = path.join(dir, 'broker.py');
    const unit = 'cdk-failover-test-broker-unit.service';
    const unitFile = `/etc/systemd/system/${unit}`;
    fs.writeFileSync(rules, 'table inet t\n');
    // brokerActive: whether `systemctl is-active` says the broker runs (before, after its restart).
    const ensure = (brokerActive: [boolean, boolean], unitExists = true, withBroker = true) =>
      py(`
calls = []
active = json.loads(${JSON.stringify(JSON.stringify(brokerActive))})
class Result:
    def __init__(self, code): self.returncode = code
def fake_subprocess_run(argv, **kwargs):
    calls.append(argv)
    if argv[-1] == ${JSON.stringify(unit)}:
        return Result(0 if active[0] else 3)
    return Result(0)
def fake_run(argv, **kwargs):
    calls.append(argv)
    if argv[:2] == ['systemctl', 'restart']:
        active.pop(0)
real_exists = agent.os.path.exists
agent.os.path.exists = lambda p: ${unitExists ? 'True' : 'False'} if p == ${JSON.stringify(unitFile)} else real_exists(p)
real_open = open
def fake_open(p, *a, **k):
    return real_open(${JSON.stringify(program)} if p == ${JSON.stringify(unitFile)} else p, *a, **k)
agent.open = fake_open
agent.run = fake_run
agent.install_missing = lambda program, package: None
agent.subprocess.run = fake_subprocess_run
agent.time.sleep = lambda s: calls.append(['sleep', s])
agent.log = lambda line: None
agent.IMDS_FIREWALL_LOADED = ${JSON.stringify(loaded)}
agent.CREDENTIAL_BROKER_STARTED = ${JSON.stringify(started)}
desired = {'bundle': {'imdsFirewall': {'unit': 'fw.service', 'rules': ${JSON.stringify(rules)}${withBroker ? `, 'broker': {'unit': ${JSON.stringify(unit)}, 'program': ${JSON.stringify(program)}}` : ''}}}}
try:
    agent.ensure_imds_firewall(desired)
except agent.Failure as e:
    calls.append(['failed', str(e)])
print(json.dumps([c for c in calls if c[:2] != ['systemctl', 'is-active'] or c[-1] == 'fw.service']))`);
    const brokerStart = [['systemctl', 'daemon-reload'], ['systemctl', 'enable', '--quiet', unit], ['systemctl', 'restart', unit], ['sleep', 2]];
    const fwLoad = [['systemctl', 'is-active', '--quiet', 'fw.service'], ['systemctl', 'enable', '--quiet', 'fw.service'], ['systemctl', 'reload-or-restart', 'fw.service']];
    // The generation's broker files are not written here yet: nothing at all (the table in force stays).
    expect(await ensure([false, false])).toEqual([]);
    fs.writeFileSync(program, 'print("broker v1")\n');
    expect(await ensure([true, true], false)).toEqual([]);
    // Written, and it does not stay up after its start: a failure, no table loaded, nothing remembered.
    expect(await ensure([false, false])).toEqual([...brokerStart, ['failed', `the credential broker ${unit} does not stay up (journalctl -u ${unit})`]]);
    expect(fs.existsSync(started)).toBe(false);
    expect(fs.existsSync(loaded)).toBe(false);
    // Running with nothing recorded (the first boot's bootstrap started it): recorded, not restarted; then the table is loaded.
    expect(await ensure([true, true])).toEqual(fwLoad);
    expect(fs.existsSync(started)).toBe(true);
    // Both as they were: only the checks.
    expect(await ensure([true, true])).toEqual([['systemctl', 'is-active', '--quiet', 'fw.service']]);
    // A new broker program: restarted, though it was running; the table (unchanged) left alone.
    fs.writeFileSync(program, 'print("broker v2")\n');
    expect(await ensure([true, true])).toEqual([...brokerStart, ['systemctl', 'is-active', '--quiet', 'fw.service']]);
    // Stopped with these files recorded (someone stopped it): started again.
    expect(await ensure([false, true])).toEqual([...brokerStart, ['systemctl', 'is-active', '--quiet', 'fw.service']]);
    // Rules that redirect to a broker, a desired generation without one (a rollback under way): not loaded.
    fs.writeFileSync(rules, 'table inet t { chain c { ip daddr 169.254.169.254 dnat ip to 127.0.0.1:927 } }\n');
    expect(await ensure([false, false], true, false)).toEqual([]);
    // The same generation with its broker: loaded.
    expect(await ensure([true, true])).toEqual(fwLoad);
  });

  test('the SSM agent: installed where its program is missing (a failure is one line; outside boot, retried only after the wait), started where it is stopped, left alone where it runs', async () => {
    const program = path.join(dir, 'amazon-ssm-agent');
    const installer = path.join(dir, 'installer');
    const attempt = path.join(dir, 'ssm-attempt');
    const ran = path.join(dir, 'installer-ran');
    const installerFails = (fails: boolean) =>
      fs.writeFileSync(installer, fails
        ? `#!/bin/sh\necho install >>${ran}\necho "curl noise" >&2\necho "cdk-failover: SSM agent: cannot download x" >&2\nexit 1\n`
        : `#!/bin/sh\necho install >>${ran}\ntouch ${program}\necho "cdk-failover: SSM agent 3.3 installed and started"\n`, { mode: 0o755 });
    const runs = () => (fs.existsSync(ran) ? fs.readFileSync(ran, 'utf8').trim().split('\n').length : 0);
    const ensure = (retryAfter: number, active = true, bundle = true) =>
      py(`
calls = []
class Result:
    returncode = ${active ? 0 : 3}
agent.subprocess.run = lambda argv, **kwargs: (calls.append(argv), Result)[1]
agent.run = lambda argv, **kwargs: calls.append(argv)
agent.log = lambda line: calls.append(['log', line])
agent.SSM_AGENT_ATTEMPT = ${JSON.stringify(attempt)}
desired = {'bundle': {${bundle ? `'ssmAgent': {'installer': ${JSON.stringify(installer)}, 'program': ${JSON.stringify(program)}, 'unit': 'ssm.service', 'required': False}` : ''}}}
try:
    agent.ensure_ssm_agent(desired, retry_after=${retryAfter})
except agent.Failure as e:
    calls.append(['failed', str(e)])
print(json.dumps(calls))`);
    // A bundle without it: nothing. Its installer not written here yet (a generation not applied): nothing, no attempt counted.
    expect(await ensure(0, false, false)).toEqual([]);
    expect(await ensure(1800)).toEqual([]);
    expect(fs.existsSync(attempt)).toBe(false);
    // Missing, and the installer fails: its last line is the failure; the attempt is remembered.
    installerFails(true);
    expect(await ensure(0)).toEqual([['failed', 'cdk-failover: SSM agent: cannot download x']]);
    expect(runs()).toBe(1);
    // The timer's runs wait before trying again; a required first boot (no wait) does not.
    expect(await ensure(1800)).toEqual([]);
    expect(runs()).toBe(1);
    fs.writeFileSync(attempt, 'not a time');
    expect(await ensure(1800)).toEqual([['failed', 'cdk-failover: SSM agent: cannot download x']]);
    installerFails(false);
    expect(await ensure(0)).toEqual([['log', 'cdk-failover: SSM agent 3.3 installed and started']]);
    expect(runs()).toBe(3);
    // Installed: only started when it is not running.
    const isActive = ['systemctl', 'is-active', '--quiet', 'ssm.service'];
    expect(await ensure(1800, true)).toEqual([isActive]);
    expect(await ensure(1800, false)).toEqual([isActive, ['systemctl', 'enable', '--now', 'ssm.service']]);
  });

  test('an SSM agent installer that hangs is killed with everything it started, after the install limit', async () => {
    const installer = path.join(dir, 'hangs');
    const child = path.join(dir, 'child.pid');
    fs.writeFileSync(installer, `#!/bin/sh\nsleep 300 &\necho $! >${child}\nwait\n`, { mode: 0o755 });
    const out = (await py(`
agent.SSM_AGENT_ATTEMPT = ${JSON.stringify(path.join(dir, 'attempt'))}
agent.SSM_AGENT_INSTALL_SECONDS = 1
desired = {'bundle': {'ssmAgent': {'installer': ${JSON.stringify(installer)}, 'program': ${JSON.stringify(path.join(dir, 'none'))}, 'unit': 'ssm.service', 'required': True}}}
try:
    agent.ensure_ssm_agent(desired)
    print(json.dumps('returned'))
except agent.Failure as e:
    print(json.dumps(str(e)))`)) as string;
    expect(out).toBe('SSM agent: the installer did not finish within 1 s'); // boot prefixes it; the timer's log line does not double it
    const pid = Number(fs.readFileSync(child, 'utf8'));
    // The installer's own child went with it (its process group was killed): gone, or dead and not yet reaped.
    const dead = () => {
      try {
        return / Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)/, ''));
      } catch {
        return true;
      }
    };
    for (let i = 0; i < 50 && !dead(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(dead()).toBe(true);
  });

  test("parameter_problem against Debian's PostgreSQL 15 (postgres -C over a data directory): good values pass; a bad value and a misspelt name are refused with PostgreSQL's words, its hint kept; postgresql.conf's own content does not count", async () => {
    // A directory the postgres user can reach (the test's own is root's alone).
    const base = fs.mkdtempSync('/tmp/cdk-failover-pgcheck-');
    try {
      fs.chmodSync(base, 0o755);
      const data = path.join(base, 'data');
      fs.mkdirSync(data, { mode: 0o700 });
      const [uid, gid] = await Promise.all(['-u', '-g'].map(async (flag) => Number((await run('id', [flag, 'postgres'])).stdout.trim())));
      fs.chownSync(data, uid!, gid!);
      const initdb = await run('runuser', ['-u', 'postgres', '--', '/usr/lib/postgresql/15/bin/initdb', '-D', data, '--no-sync'], { timeoutMs: 120_000, cwd: '/tmp' });
      expect({ code: initdb.code, stderr: initdb.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
      const yml = `postgresql:\n  bin_dir: /usr/lib/postgresql/15/bin\n  data_dir: ${data}\n  parameters:\n    port: 5433\n`;
      const check = async (parameters: Record<string, unknown>) =>
        (await py(`print(json.dumps(agent.parameter_problem(${JSON.stringify(yml)}, json.loads(${JSON.stringify(JSON.stringify({ postgresql: { parameters } }))}))))`)) as string | null;
      expect(await check({ work_mem: '64MB', shared_buffers: '80MB', hot_standby: true, 'pg_stat_statements.track': 'all' })).toBeNull();
      expect(await check({ work_mem: 'banana' })).toBe('PostgreSQL refuses the parameters (postgresParameters): invalid value for parameter "work_mem": "banana"; nothing was changed');
      expect(await check({ wrok_mem: '64MB' })).toBe('PostgreSQL refuses the parameters (postgresParameters): unrecognized configuration parameter "wrok_mem"; nothing was changed');
      expect(await check({ shared_buffers: '1kB' })).toMatch(/^PostgreSQL refuses the parameters \(postgresParameters\): .*shared_buffers.*; nothing was changed$/);
      // PostgreSQL's hint after its FATAL line (an enum) is kept, and the log prefix dropped.
      expect(await check({ log_min_messages: 'banana' })).toBe(
        'PostgreSQL refuses the parameters (postgresParameters): invalid value for parameter "log_min_messages": "banana" ' +
          '(Available values: debug5, debug4, debug3, debug2, debug1, info, notice, warning, error, log, fatal, panic.); nothing was changed',
      );
      // A bad value already in postgresql.conf (left by an older deploy) does not block a good change.
      fs.appendFileSync(path.join(data, 'postgresql.conf'), "work_mem = 'banana'\n");
      expect(await check({ work_mem: '64MB' })).toBeNull();
      // What -C cannot see: a name under an extension's prefix.
      expect(await check({ 'pg_stat_statements.trak': 'all' })).toBeNull();
      const gone = (await py(`print(json.dumps(agent.parameter_problem(${JSON.stringify(yml.replace(data, path.join(base, 'gone')))}, {'postgresql': {'parameters': {'work_mem': '1MB'}}})))`)) as string;
      expect(gone).toMatch(/^the parameters could not be checked \(postgres -C exited 2: Run initdb or pg_basebackup to initialize a PostgreSQL data directory\.\)$/);
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  }, 180_000);

  describe('apply: when a step fails, the deploy fails visibly and nothing unsafe follows', () => {
    interface ApplyRun {
      readonly code: number;
      readonly signals: [string, string][];
      readonly etcdPuts: string[][];
      readonly actions: string[];
      readonly requests: string[];
      readonly pending: string[] | null;
      readonly log: string;
    }
    /**
     * apply() with its outside world stubbed: etcd (a dict), Patroni (answers by path; `me` for
     * GET /patroni), the wait handle, systemctl, and a clock that moves only when the agent sleeps.
     */
    interface ApplyScenario {
      readonly me: object;
      readonly lockHeld: boolean;
      readonly fileActions: string[];
      readonly failedBy?: string;
      /** patroni.yml as rendered, in place of a minimal one without a postgresql section. */
      readonly yml?: string;
      /** The bundle's dynamic configuration. */
      readonly dynamic?: object;
      /** postgres -C fails with this FATAL message. */
      readonly postgresRefuses?: string;
      /** The Patroni unit is stopped (the node drained). */
      readonly drained?: boolean;
      /** The generation's image, and the one this instance runs. */
      readonly image?: string;
      readonly running?: string;
    }
    async function applyWith(scenario: ApplyScenario): Promise<ApplyRun> {
      const state = path.join(dir, 'state');
      fs.mkdirSync(state, { recursive: true });
      return (await py(
        [
          'import io, os',
          `state = ${JSON.stringify(state)}`,
          "for name in ('APPLIED', 'SIGNALLED', 'FILE_HASHES', 'PENDING_ACTIONS', 'TLS_INSTALLED'):",
          '    setattr(agent, name, os.path.join(state, name.lower()))',
          `scenario = json.loads(${JSON.stringify(JSON.stringify(scenario))})`,
          "yml = scenario.get('yml') or \"scope: db\\nwatchdog:\\n  mode: 'off'\\netcd:\\n  protocol: http\\nbootstrap:\\n  dcs:\\n    ttl: 30\\n\"",
          "desired = {'generation': 'g2', 'clusterGeneration': 'c2', 'waitHandle': 'https://handle', 'values': {},",
          "           'bundle': {'members': ['pg-0', 'pg-1', 'pg-2'], 'patroniConfig': os.path.join(state, 'patroni.yml'), 'actionOrder': ['daemon-reload', 'reload-patroni', 'restart-patroni'],",
          "                      'dynamicConfiguration': scenario.get('dynamic') or {'loop_wait': 1}, 'readySeconds': 300, 'units': {'patroni': 'cdk-failover-patroni.service'}}}",
          "settings = {'name': 'pg-0', 'scope': 'db'}",
          'agent.read_json = lambda path, default=None: (json.load(open(path)) if os.path.exists(path) else default) if path.startswith(state) else {}',
          "desired['image'] = scenario.get('image')",
          'agent.fetch_desired = lambda identity: desired',
          'agent.patroni_settings = lambda d: settings',
          "agent.running_image = lambda settings: scenario.get('running')",
          "agent.replace_root_volume = lambda identity, settings, d: actions.append('replace-root-volume ' + d['image']) or 0",
          "agent.desired_files = lambda d: [{'path': d['bundle']['patroniConfig'], 'content': yml}]",
          "etcd = {'/cdk-failover/db/failed/c2': scenario.get('failedBy') or ''}",
          'puts = []',
          'def etcdctl(settings, *args, timeout=30):',
          "    if args[0] == 'put':",
          '        puts.append(list(args[1:])); etcd[args[1]] = args[2]; return ""',
          "    if args[0] == 'get':",
          '        return etcd.get(args[-1], "")',
          "    return ''",
          'agent.etcdctl = etcdctl',
          "agent.etcd_members = lambda settings: ['pg-0', 'pg-1', 'pg-2']",
          'agent.others_pending = lambda settings, desired: []',
          'agent.cluster_unhealthy = lambda settings, desired: None',
          "agent.unit_active = lambda unit: not scenario.get('drained')",
          "agent.lock_held = lambda settings: scenario['lockHeld']",
          'agent.write_tls = lambda identity, desired: []',
          "agent.write_files = lambda identity, desired: [{'onChange': scenario['fileActions']}]",
          'actions = []',
          'agent.take_action = lambda settings, action, desired: actions.append(action)',
          "agent.run = lambda args, timeout=120, check=True: actions.append(' '.join(args)) or ''",
          'def postgres_check(args):',
          "    if scenario.get('postgresRefuses'):",
          "        return 1, '2026-12-04 00:00:00.000 GMT [42] FATAL:  ' + scenario['postgresRefuses'] + '\\n'",
          "    actions.append(' '.join(args))",
          "    return 0, '65536\\n'",
          'agent.postgres_check = postgres_check',
          'requests = []',
          'def patroni(settings, method, path, body=None, url=None, timeout=10):',
          "    requests.append('%s %s' % (method, path))",
          "    if path == '/patroni' and url:",
          "        return {'state': 'running', 'role': 'master', 'replication': [{'application_name': 'pg-0', 'state': 'streaming'}]}",
          "    if path == '/patroni':",
          "        return scenario['me']",
          "    if path == '/config':",
          "        return {'ttl': 30, 'loop_wait': 1}",
          "    if path == '/cluster':",
          "        return {'members': [{'name': 'pg-1', 'role': 'leader', 'api_url': 'https://10.0.0.11:8008/patroni'}]}",
          '    return {}',
          'agent.patroni = patroni',
          'signals = []',
          'agent.signal_handle = lambda desired, node, status, reason: signals.append([status, reason])',
          FAKE_CLOCK_PY,
          'agent.time = Clock()',
          'out = io.StringIO(); err = io.StringIO(); real = (sys.stdout, sys.stderr); sys.stdout, sys.stderr = out, err',
          'code = agent.apply()',
          'sys.stdout, sys.stderr = real',
          "pending = json.load(open(agent.PENDING_ACTIONS)) if os.path.exists(agent.PENDING_ACTIONS) else None",
          "print(json.dumps({'code': code, 'signals': signals, 'etcdPuts': puts, 'actions': actions, 'requests': requests, 'pending': pending, 'log': out.getvalue() + err.getvalue()}))",
        ].join('\n'),
      )) as ApplyRun;
    }
    const replica = { state: 'running', role: 'replica' };

    test('the lock lost (etcd unreachable past its TTL) before a disruptive step: that step is not taken; FAILURE with the reason, the generation marked failed, the actions kept for a retry', async () => {
      const r = await applyWith({ me: replica, lockHeld: false, fileActions: ['reload-patroni'] });
      expect(r.code).toBe(1);
      expect(r.actions).toEqual([]);
      expect(r.signals).toEqual([['FAILURE', expect.stringContaining('pg-0 could not apply generation g2: lost the cluster lock (etcd unreachable for 30 s): stopped before the next step')]]);
      expect(r.signals[0]![1]).toContain("(runbook: A node's configuration change failed)");
      expect(r.etcdPuts).toEqual([['/cdk-failover/db/failed/c2', 'pg-0']]);
      expect(r.pending).toEqual(['reload-patroni']);
      expect(r.requests).not.toContain('PATCH /config');
    });

    test('a leader that needs a restart and whose switchover never happens is never restarted: FAILURE after the wait, no POST /restart, no systemctl restart', async () => {
      const r = await applyWith({ me: { state: 'running', role: 'master', pending_restart: true }, lockHeld: true, fileActions: [] });
      expect(r.code).toBe(1);
      expect(r.requests).toContain('POST /switchover');
      expect(r.requests).not.toContain('POST /restart');
      expect(r.actions.filter((a) => a.includes('restart'))).toEqual([]);
      expect(r.signals).toEqual([['FAILURE', expect.stringContaining('pg-0 could not apply generation g2: pg-0 to run as a replica not within 180 s')]]);
      expect(r.etcdPuts).toEqual([['/cdk-failover/db/failed/c2', 'pg-0']]);
    });

    test('a replica restarted that does not come back (PostgreSQL neither leads nor streams): FAILURE once the ready wait ends, nothing recorded as applied', async () => {
      const r = await applyWith({ me: { state: 'starting', role: 'replica', pending_restart: true }, lockHeld: true, fileActions: [] });
      expect(r.code).toBe(1);
      expect(r.requests).toContain('POST /restart');
      expect(r.signals).toEqual([['FAILURE', expect.stringContaining('PostgreSQL leading or streaming not within 300 s')]]);
      expect(r.etcdPuts).toEqual([['/cdk-failover/db/failed/c2', 'pg-0']]);
      expect(fs.existsSync(path.join(dir, 'state', 'applied'))).toBe(true);
      expect(fs.readFileSync(path.join(dir, 'state', 'applied'), 'utf8').trim()).toBe('');
    });

    test('a generation that failed on another node is not applied here, and nothing is signalled (the deploy is already rolling back)', async () => {
      const r = await applyWith({ me: replica, lockHeld: true, fileActions: ['reload-patroni'], failedBy: 'pg-1' });
      expect(r.code).toBe(0);
      expect(r.signals).toEqual([]);
      expect(r.actions).toEqual([]);
      expect(r.requests).toEqual([]);
      expect(r.log).toContain('generation g2 failed on another node: not applied here (the deploy rolls back)');
    });

    const withPostgres = [
      'scope: db',
      'watchdog:',
      "  mode: 'off'",
      'etcd:',
      '  protocol: http',
      'bootstrap:',
      '  dcs:',
      '    ttl: 30',
      'postgresql:',
      '  bin_dir: /usr/lib/postgresql/15/bin',
      '  data_dir: /var/lib/postgresql/15/patroni',
      '  parameters:',
      '    port: 5432',
      '',
    ].join('\n');
    const dynamic = { loop_wait: 1, postgresql: { parameters: { work_mem: 'banana', hot_standby: true } } };

    test("a parameter PostgreSQL refuses: FAILURE with PostgreSQL's reason before anything is written, run or PATCHed; the generation marked failed", async () => {
      const r = await applyWith({ me: replica, lockHeld: true, fileActions: ['reload-patroni'], yml: withPostgres, dynamic, postgresRefuses: 'invalid value for parameter "work_mem": "banana"' });
      expect(r.code).toBe(1);
      expect(r.signals).toEqual([
        ['FAILURE', expect.stringContaining('pg-0 could not apply generation g2: PostgreSQL refuses the parameters (postgresParameters): invalid value for parameter "work_mem": "banana"; nothing was changed')],
      ]);
      expect(r.actions).toEqual([]);
      expect(r.requests).not.toContain('PATCH /config');
      expect(r.etcdPuts).toEqual([['/cdk-failover/db/failed/c2', 'pg-0']]);
      // The node still runs the generation it ran: its applied record was never cleared.
      expect(fs.existsSync(path.join(dir, 'state', 'applied'))).toBe(false);
      expect(r.pending).toBeNull();
    });

    test('parameters PostgreSQL accepts: one postgres -C as postgres over the data directory with every parameter (cluster-wide and the node\'s own, booleans as on/off), then the apply goes on', async () => {
      const r = await applyWith({ me: replica, lockHeld: true, fileActions: ['reload-patroni'], yml: withPostgres, dynamic });
      expect(r.code).toBe(0);
      expect(r.actions[0]).toBe(
        'runuser -u postgres -- /usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/patroni -c config_file=/dev/null -c hot_standby=on -c port=5432 -c work_mem=banana -C hot_standby',
      );
      expect(r.actions.slice(1)).toEqual(['reload-patroni']);
      expect(r.signals).toEqual([['SUCCESS', 'applied generation g2']]);
    });

    test('a drained node (Patroni stopped) does not apply and does not fail the deploy: it waits, as for a member down', async () => {
      const r = await applyWith({ me: replica, lockHeld: true, fileActions: ['reload-patroni'], drained: true });
      expect(r).toMatchObject({ code: 0, signals: [], actions: [], requests: [], etcdPuts: [] });
      expect(r.log).toContain('not now: cdk-failover-patroni.service is stopped on this node (drained?)');
    });

    test('a generation whose image this instance does not run: its root volume is replaced (once the cluster is healthy), nothing else is applied or signalled here', async () => {
      const r = await applyWith({ me: replica, lockHeld: true, fileActions: ['reload-patroni'], image: 'ami-0fedcba9876543210', running: 'ami-0123456789abcdef0' });
      expect(r).toMatchObject({ code: 0, signals: [], etcdPuts: [], actions: ['replace-root-volume ami-0fedcba9876543210'] });
      expect(r.requests).not.toContain('PATCH /config');
      expect(r.pending).toBeNull();
    });

    test.each([
      ['the image it runs already', 'ami-0123456789abcdef0'],
      ['a generation without an image (from an earlier version)', undefined],
    ])('%s: applied as any other', async (_what, image) => {
      const r = await applyWith({ me: replica, lockHeld: true, fileActions: ['reload-patroni'], image, running: 'ami-0123456789abcdef0' });
      expect(r.actions).toEqual(['reload-patroni']);
      expect(r.signals).toEqual([['SUCCESS', 'applied generation g2']]);
    });

    test('the same run with the lock held and a healthy reload: SUCCESS, the generation recorded (the stubs let a good apply through)', async () => {
      const r = await applyWith({ me: replica, lockHeld: true, fileActions: ['reload-patroni'] });
      expect(r.code).toBe(0);
      expect(r.actions).toEqual(['reload-patroni']);
      expect(r.signals).toEqual([['SUCCESS', 'applied generation g2']]);
      expect(r.etcdPuts).toEqual([['/cdk-failover/db/applied/pg-0', 'c2']]);
      expect(r.pending).toEqual([]);
    });
  });

  describe('replace_root_volume: a new image, under the lock (EC2 replaces the root volume and reboots the node onto it)', () => {
    interface ReplaceRun {
      readonly result: string;
      readonly calls: string[];
      readonly etcd: Record<string, string>;
      readonly log: string;
    }
    interface ReplaceScenario {
      /** Its instance resource's status (UPDATE_COMPLETE), and after the drain. */
      readonly status?: string;
      readonly statusAfterDrain?: string;
      /** A member that announced its stop. */
      readonly stopping?: string;
      /** create answers a task, or 'refused: ...', or 'lost' (a timeout after EC2 took it). */
      readonly create?: string;
      /** What describe answers in turn ('reboot': EC2 kills the node); then in-progress. */
      readonly states?: string[];
      readonly record?: object;
    }
    /**
     * replace_root_volume() with its world stubbed: IMDS, etcd (a dict), the aws CLI, the drain,
     * systemctl, and a clock that moves only when the agent sleeps.
     */
    async function replaceWith(scenario: ReplaceScenario): Promise<ReplaceRun> {
      return (await py(
        [
          'import io',
          `scenario = json.loads(${JSON.stringify(JSON.stringify(scenario))})`,
          "identity = {'region': 'eu-west-1', 'stackName': 's', 'logicalId': 'DbNode0Instance'}",
          "settings = {'name': 'pg-0', 'scope': 'db'}",
          "desired = {'image': 'ami-0fedcba9876543210', 'clusterGeneration': 'c2', 'bundle': {'units': {'patroni': 'cdk-failover-patroni.service'}}}",
          'etcd = {}',
          "if scenario.get('record'): etcd['/cdk-failover/db/root-image/pg-0'] = json.dumps(scenario['record'])",
          "if scenario.get('stopping'): etcd['/cdk-failover/db/stopping/' + scenario['stopping']] = '1700000000'",
          'calls = []',
          'def etcdctl(settings, *args, timeout=30):',
          "    if args[0] == 'put': etcd[args[1]] = args[2]",
          "    if args[0] == 'del': etcd.pop(args[1], None)",
          "    if args[0] == 'get' and '--prefix' in args:",
          "        return '\\n'.join(k for k in etcd if k.startswith(args[-1]))",
          "    return etcd.get(args[-1], '') if args[0] == 'get' else ''",
          'agent.etcdctl = etcdctl',
          "agent.imds_get = lambda path: {'/latest/meta-data/instance-id': 'i-0abc', '/latest/meta-data/ami-id': 'ami-0123456789abcdef0'}[path]",
          "statuses = [scenario.get('status', 'UPDATE_COMPLETE'), scenario.get('statusAfterDrain', scenario.get('status', 'UPDATE_COMPLETE'))]",
          'agent.own_resource_status = lambda identity: statuses.pop(0) if len(statuses) > 1 else statuses[0]',
          "agent.drain_holding_lock = lambda settings, desired: calls.append('drain')",
          "agent.require_lock = lambda settings: calls.append('lock held')",
          "agent.run = lambda args, timeout=120, check=True: calls.append(' '.join(args)) or ''",
          'states = list(scenario.get("states") or [])',
          "TASK = {'ReplaceRootVolumeTaskId': 'replacevol-0123456789abcdef0', 'InstanceId': 'i-0abc', 'ImageId': 'ami-0fedcba9876543210', 'TaskState': 'pending'}",
          'def aws(identity, *args, timeout=60):',
          "    if args[1] == 'create-replace-root-volume-task':",
          "        calls.append(' '.join(args[:8] + args[9:]))",
          "        calls.append('client token ' + str(len(args[8])))",
          "        create = scenario.get('create', '')",
          "        if create.startswith('refused'):",
          "            raise agent.Failure('ec2 create-replace-root-volume-task failed: ' + create)",
          "        if create == 'lost':",
          "            raise agent.Failure('ec2 create-replace-root-volume-task failed: Read timeout on endpoint URL')",
          "        return json.dumps({'ReplaceRootVolumeTask': TASK})",
          "    calls.append(' '.join(args[:3]))",
          "    if args[2] == '--filters':",
          "        return json.dumps({'ReplaceRootVolumeTasks': [dict(TASK, TaskState='in-progress')] if scenario.get('create') == 'lost' else []})",
          "    state = states.pop(0) if states else 'in-progress'",
          "    if state == 'reboot':",
          '        raise SystemExit(143)',
          "    return json.dumps({'ReplaceRootVolumeTasks': [dict(TASK, TaskState=state)]})",
          'agent.aws = aws',
          FAKE_CLOCK_PY,
          'agent.time = Clock()',
          'out = io.StringIO(); real = (sys.stdout, sys.stderr); sys.stdout = sys.stderr = out',
          'try:',
          "    result = 'returned %s' % agent.replace_root_volume(identity, settings, desired)",
          'except agent.Failure as e:',
          "    result = 'Failure: %s' % e",
          'except SystemExit:',
          "    result = 'rebooted'",
          'sys.stdout, sys.stderr = real',
          "print(json.dumps({'result': result, 'calls': calls, 'etcd': etcd, 'log': out.getvalue()}))",
        ].join('\n'),
      )) as ReplaceRun;
    }
    const CREATE = 'ec2 create-replace-root-volume-task --instance-id i-0abc --image-id ami-0fedcba9876543210 --delete-replaced-root-volume --client-token --output json';
    const DESCRIBE = 'ec2 describe-replace-root-volume-tasks --replace-root-volume-task-ids';
    const KEY = '/cdk-failover/db/root-image/pg-0';
    const RECORD = { instance: 'i-0abc', image: 'ami-0fedcba9876543210', generation: 'c2' };
    const START = 'systemctl start cdk-failover-patroni.service';
    const record = (r: ReplaceRun) => JSON.parse(r.etcd[KEY] ?? 'null') as object | null;

    test('drained first, then the task for its own instance and the new image (the old root deleted, an idempotency token); recorded in etcd; it waits until EC2 reboots it', async () => {
      const r = await replaceWith({ states: ['pending', 'in-progress', 'reboot'] });
      expect(r.result).toBe('rebooted');
      expect(r.calls).toEqual(['drain', 'lock held', CREATE, 'client token 32', DESCRIBE, DESCRIBE, DESCRIBE]);
      // Killed by the reboot: nothing undone (Patroni not started again).
      expect(record(r)).toEqual({ ...RECORD, task: 'replacevol-0123456789abcdef0' });
      expect(r.log).toContain('image ami-0fedcba9876543210: replacing the root volume of pg-0 (i-0abc), which runs ami-0123456789abcdef0');
      expect(r.log).toContain('root volume replacement replacevol-0123456789abcdef0 started');
    });

    test.each(['failed', 'failing', 'failed-detached'])('a task EC2 reports %s: Failure naming it; the node stays drained (EC2 reboots it onto its old root), the record kept', async (state) => {
      const r = await replaceWith({ states: ['pending', state] });
      expect(r.result).toBe(
        `Failure: EC2 root volume replacement replacevol-0123456789abcdef0 from ami-0fedcba9876543210: ${state} after 5 s; pg-0 stays drained until EC2 reboots it (if it never does: systemctl start cdk-failover-patroni.service)`,
      );
      expect(r.calls).not.toContain(START);
      expect(record(r)).toEqual({ ...RECORD, task: 'replacevol-0123456789abcdef0' });
    });

    test('no reboot within 900 s: Failure after the bound; the node stays drained (the task goes on), Patroni not started again', async () => {
      const r = await replaceWith({});
      expect(r.result).toMatch(/^Failure: EC2 root volume replacement replacevol-0123456789abcdef0 from ami-0fedcba9876543210: in-progress after 900 s; pg-0 stays drained/);
      expect(r.calls.filter((c) => c === DESCRIBE)).toHaveLength(181);
      expect(r.calls).not.toContain(START);
    });

    test("a task EC2 refuses (an image of another architecture, say): Failure with EC2's words; Patroni started again, no record", async () => {
      const r = await replaceWith({ create: 'refused: An error occurred (InvalidParameterValue): the AMI architecture does not match the instance' });
      expect(r.result).toBe('Failure: ec2 create-replace-root-volume-task failed: refused: An error occurred (InvalidParameterValue): the AMI architecture does not match the instance');
      expect(r.calls).toEqual(['drain', 'lock held', CREATE, 'client token 32', 'ec2 describe-replace-root-volume-tasks --filters', START]);
      expect(r.etcd).toEqual({});
    });

    test('an answer lost after EC2 took the task (a timeout): the task found by instance and image is waited for, as if answered', async () => {
      const r = await replaceWith({ create: 'lost', states: ['reboot'] });
      expect(r.result).toBe('rebooted');
      expect(r.calls).toEqual(['drain', 'lock held', CREATE, 'client token 32', 'ec2 describe-replace-root-volume-tasks --filters', DESCRIBE]);
      expect(record(r)).toEqual({ ...RECORD, task: 'replacevol-0123456789abcdef0' });
    });

    test.each<[string, ReplaceScenario, string]>([
      ['its instance resource UPDATE_IN_PROGRESS (CloudFormation stops and starts it for a new type)', { status: 'UPDATE_IN_PROGRESS' }, 'CloudFormation is updating this instance'],
      ['its instance resource UPDATE_ROLLBACK_IN_PROGRESS', { status: 'UPDATE_ROLLBACK_IN_PROGRESS' }, 'CloudFormation is updating this instance'],
      ['a member that announced its stop', { stopping: 'pg-2' }, 'members stopping: pg-2'],
    ])('%s: not now, nothing done', async (_what, scenario, why) => {
      const r = await replaceWith(scenario);
      expect(r).toMatchObject({ result: 'returned 0', calls: [], etcd: scenario.stopping ? { '/cdk-failover/db/stopping/pg-2': '1700000000' } : {} });
      expect(r.log).toContain(`not now: ${why}`);
    });

    test('CloudFormation starts updating the instance while it drained: Patroni started again, nothing asked of EC2, not now', async () => {
      const r = await replaceWith({ statusAfterDrain: 'UPDATE_IN_PROGRESS' });
      expect(r.result).toBe('returned 0');
      expect(r.calls).toEqual(['drain', START]);
      expect(r.etcd).toEqual({});
      expect(r.log).toContain('not now: CloudFormation is updating this instance (pg-0 started again)');
    });

    test("this generation's replacement already ran and the instance came back on its old root (a task that failed after the reboot): Failure, nothing tried again", async () => {
      const r = await replaceWith({ record: { ...RECORD, task: 'replacevol-0123456789abcdef0' } });
      expect(r.result).toBe('Failure: EC2 did not replace the root volume from ami-0fedcba9876543210 (task replacevol-0123456789abcdef0): the instance runs ami-0123456789abcdef0 again');
      expect(r.calls).toEqual([]);
      // A record of another generation (an earlier change to the same image) does not count.
      expect((await replaceWith({ record: { ...RECORD, generation: 'c1' }, states: ['reboot'] })).result).toBe('rebooted');
    });

    test.each([
      ['a new instance launched with the launch image while the cluster runs another', 'ami-0123456789abcdef0', false],
      ['a root just replaced from the generation\'s image', 'ami-0fedcba9876543210', true],
    ])('boot: %s: recorded as running the generation only when its image is the generation\'s (else its agent replaces the root volume)', async (_what, running, recorded) => {
      const out = (await py(
        [
          'import io',
          "desired = {'generation': 'g2', 'clusterGeneration': 'c2', 'waitHandle': 'https://handle', 'image': 'ami-0fedcba9876543210', 'values': {},",
          "           'bundle': {'readySeconds': 300, 'units': {'agentTimer': 'cdk-failover-agent.timer'}}}",
          "agent.read_json = lambda path, default=None: {'nodeName': 'pg-0'}",
          'agent.write_atomic = lambda *a, **k: None',
          'agent.fetch_desired = lambda identity: desired',
          'agent.run_bootstrap = lambda desired: None',
          "agent.patroni_settings = lambda d: {'name': 'pg-0', 'scope': 'db'}",
          'agent.ready = lambda settings: True',
          `agent.running_image = lambda settings: ${JSON.stringify(running)}`,
          'calls = []',
          "agent.record_applied = lambda settings, desired: calls.append('record_applied')",
          "agent.run = lambda args, timeout=120, check=True: calls.append(' '.join(args)) or ''",
          "agent.ensure_drain_unit = lambda desired: calls.append('drain unit')",
          "agent.signal_resource = lambda identity, status, reason: calls.append('signal_resource ' + status)",
          "agent.signal_handle = lambda desired, node, status, reason: calls.append('signal_handle ' + status)",
          'out = io.StringIO(); real = sys.stdout; sys.stdout = out',
          'code = agent.boot()',
          'sys.stdout = real',
          "print(json.dumps({'code': code, 'calls': calls, 'log': out.getvalue()}))",
        ].join('\n'),
      )) as { code: number; calls: string[]; log: string };
      expect(out.code).toBe(0);
      const timer = ['systemctl enable --now cdk-failover-agent.timer', 'drain unit', 'signal_resource SUCCESS'];
      if (recorded) expect(out.calls).toEqual(['record_applied', ...timer, 'signal_handle SUCCESS']);
      else {
        // The generation's wait condition hears from it once its root volume is replaced.
        expect(out.calls).toEqual(timer);
        expect(out.log).toContain('node pg-0 ready, on image ami-0123456789abcdef0: its agent replaces its root volume with ami-0fedcba9876543210');
      }
    });

    test('running_image: what IMDS says (EC2 updates ami-id when it replaces the root volume from an image)', async () => {
      const image = await py(
        ["agent.imds_get = lambda path: {'/latest/meta-data/ami-id': 'ami-0launch0launch00'}[path]", "print(json.dumps(agent.running_image({'name': 'pg-0', 'scope': 'db'})))"].join('\n'),
      );
      expect(image).toBe('ami-0launch0launch00');
    });
  });

  describe('drain: before a node is stopped, rebooted or replaced (under the lock, once healthy; the leader switches over first)', () => {
    interface DrainRun {
      readonly code: number;
      /** Switchover requests and systemctl commands, in the order the agent made them. */
      readonly steps: string[];
      readonly requests: string[];
      readonly stdout: string;
      readonly stderr: string;
      readonly clock: number;
      /** The outer run's process groups signalled ([pid, signal]). */
      readonly killed: [number, number][];
      /** The outer run only: the command it ran under the lock. */
      readonly locked: string[] | null;
      /** The outer run only: the drain settings passed to the run under the lock. */
      readonly lockedEnv: Record<string, string> | null;
    }
    interface DrainScenario {
      /** GET /patroni's answer. */
      readonly me?: object;
      /** A switchover makes this node a replica. */
      readonly switchoverHappens?: boolean;
      /** cluster_unhealthy says another member is down until this many seconds have passed. */
      readonly unhealthyFor?: number;
      readonly patroniActive?: boolean;
      readonly lockHeld?: boolean;
      /** Run as a person does (no ETCD_LOCK_KEY): the etcdctl lock's exit code and stderr. */
      readonly outer?: { readonly code: number; readonly stderr: string; readonly interrupt?: boolean };
      /** A postmaster outlives Patroni's stop until this clock time (seconds). */
      readonly postmasterUntil?: number;
      /** Environment of the run (what drain-on-stop passes to the drain under the lock). */
      readonly env?: Record<string, string>;
      /** The outer run's arguments to drain_under_lock after `settings, desired` (drain-on-stop's). */
      readonly outerArgs?: readonly unknown[];
    }
    /**
     * drain() with its outside world stubbed: the node's identity and desired configuration (files),
     * Patroni (GET /patroni answers `me`; a POST /switchover may make it a replica), the cluster's
     * health, systemctl, the lock, and a clock that moves only when the agent sleeps.
     */
    async function drainWith(scenario: DrainScenario): Promise<DrainRun> {
      const state = path.join(dir, 'state');
      fs.mkdirSync(state, { recursive: true });
      return (await py(
        [
          'import io, os, subprocess',
          `state = ${JSON.stringify(state)}`,
          `scenario = json.loads(${JSON.stringify(JSON.stringify(scenario))})`,
          "agent.IDENTITY = os.path.join(state, 'identity.json'); agent.DESIRED = os.path.join(state, 'desired.json')",
          "json.dump({'nodeName': 'pg-0'}, open(agent.IDENTITY, 'w'))",
          "json.dump({'generation': 'g1', 'bundle': {'members': ['pg-0', 'pg-1', 'pg-2'], 'applySeconds': 1800, 'units': {'patroni': 'cdk-failover-patroni.service'}}}, open(agent.DESIRED, 'w'))",
          "settings = {'name': 'pg-0', 'scope': 'db', 'etcd': ['https://10.0.0.10:2379', 'https://10.0.0.11:2379'], 'etcdTls': ['--cacert', 'ca.crt']}",
          'agent.patroni_settings = lambda d: settings',
          "if scenario.get('outer') is None: os.environ['ETCD_LOCK_KEY'] = '/cdk-failover/db/apply-lock/694d8'",
          "else: os.environ.pop('ETCD_LOCK_KEY', None)",
          "os.environ.update(scenario.get('env') or {})",
          "sys.argv = ['/usr/local/sbin/cdk-failover-agent', 'drain']",
          FAKE_CLOCK_PY,
          'clock = Clock()',
          'agent.time = clock',
          "me = dict(scenario.get('me') or {'state': 'running', 'role': 'replica'})",
          'steps = []',
          'requests = []',
          'def patroni(settings, method, path, body=None, url=None, timeout=10):',
          "    requests.append('%s %s' % (method, path))",
          "    if path == '/switchover':",
          "        steps.append('POST /switchover ' + json.dumps(body))",
          "        if scenario.get('switchoverHappens'): me['role'] = 'replica'",
          '        return {}',
          "    if path == '/patroni':",
          '        return dict(me)',
          '    return {}',
          'agent.patroni = patroni',
          "agent.cluster_unhealthy = lambda settings, desired: 'member pg-2 is stopped' if clock.now < scenario.get('unhealthyFor', 0) else None",
          "agent.unit_active = lambda unit: scenario.get('patroniActive', True)",
          "agent.lock_held = lambda settings: scenario.get('lockHeld', True)",
          "agent.postmaster_left = lambda settings: 4242 if any(s.startswith('systemctl stop') for s in steps) and clock.now < scenario.get('postmasterUntil', 0) else None",
          "agent.run = lambda args, timeout=120, check=True: steps.append(' '.join(args)) or ''",
          'locked = []',
          'locked_env = {}',
          'killed = []',
          'class Outer:',
          '    def __init__(self, args, **kwargs):',
          "        locked.extend(args); self.pid = 4242; self.returncode = None; locked_env.update({k: v for k, v in kwargs['env'].items() if k.startswith('CDK_FAILOVER_DRAIN')})",
          '    def communicate(self):',
          "        if scenario['outer'].get('interrupt'): raise KeyboardInterrupt()",
          "        self.returncode = scenario['outer']['code']; return None, scenario['outer']['stderr']",
          '    def wait(self):',
          '        self.returncode = -15; return self.returncode',
          "if scenario.get('outer') is not None: agent.subprocess.Popen = Outer",
          'agent.os.killpg = lambda pid, sig: killed.append([pid, int(sig)])',
          'out = io.StringIO(); err = io.StringIO(); real = (sys.stdout, sys.stderr); sys.stdout, sys.stderr = out, err',
          "code = agent.drain() if scenario.get('outerArgs') is None else agent.drain_under_lock(settings, json.load(open(agent.DESIRED)), *scenario['outerArgs'])",
          'sys.stdout, sys.stderr = real',
          "print(json.dumps({'code': code, 'steps': steps, 'requests': requests, 'stdout': out.getvalue(), 'stderr': err.getvalue(), 'clock': clock.now, 'locked': locked or None, 'lockedEnv': locked_env or None, 'killed': killed}))",
        ].join('\n'),
      )) as DrainRun;
    }
    const STOP = 'systemctl stop cdk-failover-patroni.service';
    const leader = { state: 'running', role: 'master' };
    const failure = (why: string) => `cdk-failover: pg-0 could not drain: ${why} (runbook: Planned maintenance of a node)\n`;

    test('a replica drains by stopping Patroni alone: no switchover, exit 0, each step printed', async () => {
      const r = await drainWith({});
      expect(r).toMatchObject({ code: 0, steps: [STOP], stderr: '' });
      expect(r.requests).not.toContain('POST /switchover');
      expect(r.stdout).toContain('cdk-failover-agent: pg-0 is a replica: no switchover\n');
      expect(r.stdout).toContain(`cdk-failover-agent: stop cdk-failover-patroni.service\n`);
      expect(r.stdout).toMatch(/drained pg-0: Patroni and PostgreSQL stopped, etcd still runs/);
    });

    test('a leader switches over first (no candidate: Patroni picks the synchronous standby), runs as a replica, and only then stops', async () => {
      const r = await drainWith({ me: leader, switchoverHappens: true });
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(r.steps).toEqual(['POST /switchover {"leader": "pg-0"}', STOP]);
      expect(r.stdout).toContain('switchover away from pg-0 before it is drained');
    });

    test('a leader whose switchover never happens is not stopped: one failure line, exit 1', async () => {
      const r = await drainWith({ me: leader, switchoverHappens: false });
      expect(r.code).toBe(1);
      expect(r.steps).toEqual(['POST /switchover {"leader": "pg-0"}']);
      expect(r.stderr).toBe(failure('pg-0 to run as a replica not within 180 s'));
    });

    test('another member down: the drain waits (saying why, once), then drains once it is back', async () => {
      const r = await drainWith({ me: leader, switchoverHappens: true, unhealthyFor: 60 });
      expect(r.code).toBe(0);
      expect(r.clock).toBeGreaterThanOrEqual(60);
      expect(r.stdout.match(/not yet: member pg-2 is stopped/g)).toHaveLength(1);
      expect(r.steps).toEqual(['POST /switchover {"leader": "pg-0"}', STOP]);
    });

    test('a cluster that stays unhealthy past the bound: nothing switched over or stopped, one failure line, exit 1', async () => {
      const r = await drainWith({ me: leader, switchoverHappens: true, unhealthyFor: 100_000 });
      expect(r.code).toBe(1);
      expect(r.steps).toEqual([]);
      expect(r.requests).not.toContain('POST /switchover');
      expect(r.clock).toBeGreaterThanOrEqual(300);
      expect(r.stderr).toBe(failure('the cluster is not healthy after 300 s (member pg-2 is stopped): a node is never taken down while another is'));
    });

    test('PostgreSQL outliving its Patroni (KillMode=process) is waited for: the drain ends once the postmaster is gone, and fails after 120 s if it stays', async () => {
      const waited = await drainWith({ postmasterUntil: 45 });
      expect(waited).toMatchObject({ code: 0, steps: [STOP], stderr: '' });
      expect(waited.clock).toBeGreaterThanOrEqual(45);
      const stays = await drainWith({ postmasterUntil: 100_000 });
      expect(stays).toMatchObject({ code: 1, steps: [STOP] });
      expect(stays.stderr).toBe(failure('PostgreSQL to stop after Patroni not within 120 s'));
      expect(stays.stdout).not.toMatch(/drained pg-0/);
    });

    test("postmaster_left reads the data directory's postmaster.pid and names a live postgres process only", async () => {
      const data = path.join(dir, 'data');
      fs.mkdirSync(data);
      // A process whose name (comm) is postgres: a copy of sleep.
      fs.copyFileSync('/bin/sleep', path.join(dir, 'postgres'));
      fs.chmodSync(path.join(dir, 'postgres'), 0o755);
      const r = (await py(
        [
          'import os, subprocess',
          `data = ${JSON.stringify(data)}`,
          "settings = {'dataDir': data}",
          'out = {}',
          "out['missing'] = agent.postmaster_left(settings)",
          `p = subprocess.Popen([${JSON.stringify(path.join(dir, 'postgres'))}, '60'])`,
          // Until it has exec'd (a forked child is named python3 for a moment): bounded, 5 s.
          'import time',
          'for _ in range(500):',
          "    if open('/proc/%d/comm' % p.pid).read().strip() == 'postgres': break",
          '    time.sleep(0.01)',
          "open(os.path.join(data, 'postmaster.pid'), 'w').write('%d\\n%s\\n1700000000\\n5432\\n' % (p.pid, data))",
          "out['running'] = agent.postmaster_left(settings) == p.pid",
          'p.kill(); p.wait()',
          "out['gone'] = agent.postmaster_left(settings)",
          "open(os.path.join(data, 'postmaster.pid'), 'w').write('%d\\n' % os.getpid())",
          "out['notPostgres'] = agent.postmaster_left(settings)",
          "open(os.path.join(data, 'postmaster.pid'), 'w').write('')",
          "out['empty'] = agent.postmaster_left(settings)",
          'print(json.dumps(out))',
        ].join('\n'),
      )) as Record<string, unknown>;
      expect(r).toEqual({ missing: null, running: true, gone: null, notPostgres: null, empty: null });
    });

    test('the lock lost before the stop: not stopped, one failure line', async () => {
      const r = await drainWith({ lockHeld: false });
      expect(r.code).toBe(1);
      expect(r.steps).toEqual([]);
      expect(r.stderr).toBe(failure('lost the cluster lock (etcd unreachable for 30 s): stopped before the next step'));
    });

    test('Patroni already stopped (a drain run again): nothing to do, exit 0', async () => {
      const r = await drainWith({ patroniActive: false });
      expect(r).toMatchObject({ code: 0, steps: [], requests: [], stderr: '' });
      expect(r.stdout).toContain('cdk-failover-patroni.service is not running on pg-0: nothing to drain');
    });

    test("run by a person: it runs itself under the cluster's apply lock (bounded), passes the inner failure line on once, and fails on a lock never free", async () => {
      const inner = failure('pg-0 to run as a replica not within 180 s');
      // etcdctl lock adds its own line when the command fails: the agent's line alone is passed on.
      const passed = await drainWith({ outer: { code: 1, stderr: `Error: exit status 1\n${inner}` } });
      expect(passed.locked).toEqual([
        'timeout', String(1800 + 300 + 720),
        'etcdctl', '--endpoints', 'https://10.0.0.10:2379,https://10.0.0.11:2379', '--cacert', 'ca.crt',
        'lock', '--ttl', '30', '/cdk-failover/db/apply-lock', '/usr/local/sbin/cdk-failover-agent', 'drain',
      ]);
      expect(passed).toMatchObject({ code: 1, stderr: inner, steps: [] });
      // etcdctl exiting 0 does not hide the inner failure.
      expect(await drainWith({ outer: { code: 0, stderr: inner } })).toMatchObject({ code: 1, stderr: inner });
      // A lock that cannot be taken: etcdctl's line, then the agent's.
      expect(await drainWith({ outer: { code: 1, stderr: 'Error: context deadline exceeded\n' } })).toMatchObject({
        code: 1,
        stderr: `Error: context deadline exceeded\n${failure('the cluster lock /cdk-failover/db/apply-lock: Error: context deadline exceeded')}`,
      });
      expect(await drainWith({ outer: { code: 124, stderr: '' } })).toMatchObject({
        code: 1,
        stderr: failure('not drained within 2820 s (the cluster lock: /cdk-failover/db/apply-lock)'),
      });
      expect(await drainWith({ outer: { code: 0, stderr: '' } })).toMatchObject({ code: 0, stderr: '', killed: [] });
    });

    test('run by a person and interrupted (Ctrl-C, SIGTERM): the process group under timeout is stopped too, one failure line', async () => {
      const r = await drainWith({ outer: { code: 0, stderr: '', interrupt: true } });
      expect(r.killed).toEqual([[4242, 15]]);
      expect(r).toMatchObject({
        code: 1,
        stderr: failure('interrupted: the drain was stopped (a switchover already asked for may still happen; Patroni may be stopped)'),
      });
    });

    test("under drain-on-stop: the drain waits as long as it is told, and stops Patroni ignoring the shutdown's ordering (systemd's own stop of Patroni waits for the drain unit)", async () => {
      const env = { CDK_FAILOVER_DRAIN_HEALTHY_SECONDS: '900', CDK_FAILOVER_DRAIN_ON_STOP: '1' };
      const r = await drainWith({ me: leader, switchoverHappens: true, unhealthyFor: 600, env });
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(r.clock).toBeGreaterThanOrEqual(600);
      expect(r.steps).toEqual(['POST /switchover {"leader": "pg-0"}', 'systemctl stop --job-mode=ignore-dependencies cdk-failover-patroni.service']);
      // Without them, as a person runs it: 300 s, and a plain stop.
      expect((await drainWith({ me: leader, switchoverHappens: true, unhealthyFor: 600 })).code).toBe(1);
    });

    test('drain-on-stop passes its bound and the shutdown to the drain under the lock, and the outer bound grows with it', async () => {
      const onStop = await drainWith({ outer: { code: 0, stderr: '' }, outerArgs: [900, true] });
      expect(onStop.locked!.slice(0, 2)).toEqual(['timeout', String(1800 + 900 + 720)]);
      expect(onStop.lockedEnv).toEqual({ CDK_FAILOVER_DRAIN_HEALTHY_SECONDS: '900', CDK_FAILOVER_DRAIN_ON_STOP: '1' });
      // Within what is left of drain-on-stop's budget.
      expect((await drainWith({ outer: { code: 0, stderr: '' }, outerArgs: [900, true, 1000] })).locked!.slice(0, 2)).toEqual(['timeout', '1000']);
      const person = await drainWith({ outer: { code: 0, stderr: '' } });
      expect(person.lockedEnv).toEqual({ CDK_FAILOVER_DRAIN_HEALTHY_SECONDS: '300' });
    });
  });

  describe('drain-on-stop: the node shuts down (CloudFormation stops every instance at once for an instance-type change)', () => {
    interface StopRun {
      readonly code: number;
      readonly stdout: string;
      readonly stderr: string;
      /** etcdctl put/del of the stopping key, and the drain under the lock, in order, with the clock. */
      readonly steps: string[];
    }
    interface StopScenario {
      /** What CloudFormation answers for this instance's resource status; null: the call fails. */
      readonly status: string | null;
      readonly role?: 'master' | 'replica';
      readonly patroniActive?: boolean;
      /** Other members that announced their stop: each until this clock time (seconds). */
      readonly othersStopping?: Readonly<Record<string, number>>;
      /** Members Patroni lists as running (default: all). */
      readonly running?: readonly string[];
      /** The drain under the lock fails with this line (printed, exit 1), or raises this Failure. */
      readonly drainFails?: 'line' | 'raise';
      /** etcd refuses the announcement. */
      readonly announceFails?: boolean;
      /** This node's Patroni does not answer until this clock time. */
      readonly patroniFailsUntil?: number;
    }
    /** drain_on_stop() with CloudFormation, etcd, Patroni and the drain under the lock stubbed; a fake clock. */
    async function stopWith(scenario: StopScenario): Promise<StopRun> {
      const state = path.join(dir, 'state');
      fs.mkdirSync(state, { recursive: true });
      return (await py(
        [
          'import io, os',
          `state = ${JSON.stringify(state)}`,
          `scenario = json.loads(${JSON.stringify(JSON.stringify(scenario))})`,
          "agent.IDENTITY = os.path.join(state, 'identity.json'); agent.DESIRED = os.path.join(state, 'desired.json')",
          "json.dump({'nodeName': 'pg-0', 'region': 'eu-west-1', 'stackName': 'Db', 'logicalId': 'Node0Instance'}, open(agent.IDENTITY, 'w'))",
          "json.dump({'generation': 'g1', 'bundle': {'members': ['pg-0', 'pg-1', 'pg-2'], 'applySeconds': 1800, 'units': {'patroni': 'cdk-failover-patroni.service'}}}, open(agent.DESIRED, 'w'))",
          "settings = {'name': 'pg-0', 'scope': 'db', 'etcd': ['https://10.0.0.10:2379'], 'etcdTls': []}",
          'agent.patroni_settings = lambda d: settings',
          FAKE_CLOCK_PY,
          'clock = Clock()',
          'agent.time = clock',
          'steps = []',
          'def run(args, timeout=120, check=True):',
          "    assert args[:4] == ['aws', '--region', 'eu-west-1', 'cloudformation'] and 'Node0Instance' in args and 'StackResourceDetail.ResourceStatus' in args, args",
          "    if scenario['status'] is None: raise agent.Failure('aws cloudformation describe-stack-resource failed: Could not connect to the endpoint URL')",
          "    return scenario['status'] + '\\n'",
          'agent.run = run',
          "agent.unit_active = lambda unit: scenario.get('patroniActive', True)",
          'def etcdctl(settings, *args, timeout=30):',
          "    if args[0] == 'lease': return 'lease 694d71ddacfda227 granted with TTL(%ss)\\n' % args[2]",
          "    if args[0] == 'put' and scenario.get('announceFails'): raise agent.Failure('etcdctl put failed: context deadline exceeded')",
          "    if args[0] == 'get':",
          "        assert args[1:] == ('--prefix', '--keys-only', '/cdk-failover/db/stopping/'), args",
          "        return '\\n'.join(['/cdk-failover/db/stopping/pg-0'] + ['/cdk-failover/db/stopping/' + n for n, until in (scenario.get('othersStopping') or {}).items() if clock.now < until]) + '\\n'",
          "    steps.append('%s %s @%d' % (args[0], ' '.join(args[1:3]) if args[0] == 'put' else args[1], clock.now))",
          "    return ''",
          'agent.etcdctl = etcdctl',
          'def patroni(settings, method, path, body=None, url=None, timeout=10):',
          "    if path == '/patroni' and clock.now < scenario.get('patroniFailsUntil', -1): raise agent.Failure('Patroni REST API: timed out')",
          "    if path == '/patroni': return {'state': 'running', 'role': scenario.get('role', 'replica')}",
          "    names = scenario.get('running', ['pg-0', 'pg-1', 'pg-2'])",
          "    return {'members': [{'name': n, 'state': 'running' if n in names else 'stopped'} for n in ['pg-0', 'pg-1', 'pg-2']]}",
          'agent.patroni = patroni',
          'def drain_under_lock(settings, desired, healthy_seconds=300, on_stop=False, at_most=None):',
          '    assert on_stop',
          "    steps.append('drain %d %s %d @%d' % (healthy_seconds, on_stop, at_most, clock.now))",
          "    if scenario.get('drainFails') == 'raise': raise agent.Failure('the cluster lock /cdk-failover/db/apply-lock: Error: context deadline exceeded')",
          "    if scenario.get('drainFails') == 'line': print('cdk-failover: pg-0 could not drain: the cluster is not healthy after 900 s', file=sys.stderr); return 1",
          '    return 0',
          'agent.drain_under_lock = drain_under_lock',
          'out = io.StringIO(); err = io.StringIO(); real = (sys.stdout, sys.stderr); sys.stdout, sys.stderr = out, err',
          'code = agent.drain_on_stop()',
          'sys.stdout, sys.stderr = real',
          "print(json.dumps({'code': code, 'stdout': out.getvalue(), 'stderr': err.getvalue(), 'steps': steps}))",
        ].join('\n'),
      )) as StopRun;
    }
    const KEY = '/cdk-failover/db/stopping/pg-0';
    const PUT = `put --lease=694d71ddacfda227 ${KEY}`;

    test('the stack deletes the node (DELETE_IN_PROGRESS): no drain, the announcement withdrawn, exit 0', async () => {
      const r = await stopWith({ status: 'DELETE_IN_PROGRESS', role: 'master' });
      expect(r).toMatchObject({ code: 0, stderr: '', steps: [`${PUT} @0`, `del ${KEY} @0`] });
      expect(r.stdout).toContain('cdk-failover-agent: the stack deletes pg-0: no drain\n');
    });

    test('CloudFormation updates a replica (UPDATE_IN_PROGRESS): announced (leased for the budget), drained at once waiting up to 900 s for the others, then the announcement cleared', async () => {
      const r = await stopWith({ status: 'UPDATE_IN_PROGRESS', othersStopping: { 'pg-1': 1000 } });
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(r.steps).toEqual([`${PUT} @0`, 'drain 900 True 1680 @0', `del ${KEY} @0`]);
      expect(r.stdout).toContain('pg-0 shuts down (its instance resource: UPDATE_IN_PROGRESS, a stop CloudFormation coordinates): draining, waiting at most 900 s for the other members');
    });

    test('CloudFormation updates the leader: it waits for the settle time, then while another member announced its stop and still runs; it drains last', async () => {
      const r = await stopWith({ status: 'UPDATE_IN_PROGRESS', role: 'master', othersStopping: { 'pg-1': 120, 'pg-2': 300 } });
      expect(r.code).toBe(0);
      expect(r.steps).toEqual([`${PUT} @0`, 'drain 660 True 1380 @300', `del ${KEY} @300`]);
      expect(r.stdout).toContain('leader pg-0 goes last: pg-1, pg-2 stop first\n');
      expect(r.stdout).toContain('leader pg-0 goes last: pg-2 stop first\n');
      expect(r.stdout.match(/goes last/g)).toHaveLength(2);
    });

    test("a rollback's stop (UPDATE_ROLLBACK_IN_PROGRESS) is coordinated the same way; so is an unknown status once another member announced its stop", async () => {
      const rollback = await stopWith({ status: 'UPDATE_ROLLBACK_IN_PROGRESS', role: 'master', othersStopping: { 'pg-1': 120 } });
      expect(rollback.steps).toEqual([`${PUT} @0`, 'drain 840 True 1560 @120', `del ${KEY} @120`]);
      const unknown = await stopWith({ status: null, role: 'master', othersStopping: { 'pg-1': 120 } });
      expect(unknown.steps).toEqual([`${PUT} @0`, 'drain 840 True 1560 @120', `del ${KEY} @120`]);
      expect(unknown.stdout).toContain("cannot read this instance's resource status after 3 attempts: aws cloudformation describe-stack-resource failed: Could not connect");
    });

    test('the leader with nobody else stopping drains after the settle time only; a stopping member that no longer runs (drained, or died draining) is not waited for', async () => {
      expect((await stopWith({ status: 'UPDATE_IN_PROGRESS', role: 'master' })).steps).toEqual([`${PUT} @0`, 'drain 900 True 1650 @30', `del ${KEY} @30`]);
      const r = await stopWith({ status: 'UPDATE_IN_PROGRESS', role: 'master', othersStopping: { 'pg-1': 100_000 }, running: ['pg-0', 'pg-2'] });
      expect(r.steps).toEqual([`${PUT} @0`, 'drain 900 True 1650 @30', `del ${KEY} @30`]);
      expect(r.stdout).not.toContain('goes last');
    });

    test("a leader whose Patroni does not answer for a while keeps its place: asked again, it still goes last", async () => {
      const r = await stopWith({ status: 'UPDATE_IN_PROGRESS', role: 'master', othersStopping: { 'pg-1': 200 }, patroniFailsUntil: 100 });
      expect(r.steps).toEqual([`${PUT} @0`, 'drain 760 True 1480 @200', `del ${KEY} @200`]);
    });

    test("the leader's wait is bounded: a member announced for ever does not hold the shutdown past systemd's 30 minutes", async () => {
      const r = await stopWith({ status: 'UPDATE_IN_PROGRESS', role: 'master', othersStopping: { 'pg-1': 100_000 } });
      expect(r.code).toBe(0);
      // It keeps what its own drain needs within the budget (1680 s): the last member's return (300 s) and the steps (720 s).
      expect(r.steps).toEqual([`${PUT} @0`, 'drain 300 True 1020 @660', `del ${KEY} @660`]);
      expect(r.stdout).toContain('leader pg-0 waited 660 s for the others: draining now');
    });

    test('a stop CloudFormation did not ask for (an operator, AWS maintenance, a reboot EC2 forces after a few minutes): a plain drain within 150 s in all, no leader order', async () => {
      for (const status of ['UPDATE_COMPLETE', 'CREATE_COMPLETE', 'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS']) {
        const r = await stopWith({ status, role: 'master' });
        expect(r).toMatchObject({ code: 0, stderr: '' });
        expect(r.steps).toEqual([`${PUT} @0`, 'drain 60 True 150 @0', `del ${KEY} @0`]);
        expect(r.stdout).toContain(`its instance resource: ${status}): draining, waiting at most 60 s`);
      }
      // Unknown, and nobody else stopping: the three attempts (10 s) count against the budget.
      expect((await stopWith({ status: null, role: 'master' })).steps).toEqual([`${PUT} @0`, 'drain 60 True 140 @10', `del ${KEY} @10`]);
    });

    test('an announcement etcd refuses does not cancel the drain', async () => {
      const r = await stopWith({ status: 'UPDATE_IN_PROGRESS', announceFails: true });
      expect(r).toMatchObject({ code: 0, stderr: '', steps: ['drain 900 True 1680 @0', `del ${KEY} @0`] });
      expect(r.stdout).toContain('could not announce this stop in etcd (etcdctl put failed: context deadline exceeded): a leader may not wait for it');
    });

    test('a drain that fails never refuses the shutdown: its line (or one of its own), the announcement cleared, exit 0', async () => {
      const printed = await stopWith({ status: 'UPDATE_IN_PROGRESS', drainFails: 'line' });
      expect(printed).toMatchObject({ code: 0, stderr: 'cdk-failover: pg-0 could not drain: the cluster is not healthy after 900 s\n' });
      expect(printed.steps).toEqual([`${PUT} @0`, 'drain 900 True 1680 @0', `del ${KEY} @0`]);
      const raised = await stopWith({ status: 'UPDATE_IN_PROGRESS', drainFails: 'raise' });
      expect(raised).toMatchObject({
        code: 0,
        stderr:
          'cdk-failover: pg-0 could not drain before it shut down: the cluster lock /cdk-failover/db/apply-lock: Error: context deadline exceeded (runbook: Planned maintenance of a node)\n',
      });
      expect(raised.steps).toEqual([`${PUT} @0`, 'drain 900 True 1680 @0', `del ${KEY} @0`]);
    });

    test('Patroni not running (drained by hand before the stop): nothing announced or drained, exit 0', async () => {
      const r = await stopWith({ status: 'UPDATE_IN_PROGRESS', patroniActive: false });
      expect(r).toMatchObject({ code: 0, stderr: '', steps: [] });
      expect(r.stdout).toContain('cdk-failover-patroni.service is not running on pg-0: nothing to drain');
    });
  });

  test('the drain unit: a node that runs its generation (an upgraded one too) gets it enabled at the next run; a failure is logged and retried; an older bundle has none', async () => {
    const r = (await py(
      [
        'import io, os',
        `state = ${JSON.stringify(path.join(dir, 'state'))}`,
        'os.makedirs(state, exist_ok=True)',
        "agent.IDENTITY = os.path.join(state, 'identity.json'); agent.APPLIED = os.path.join(state, 'applied')",
        "agent.SIGNALLED = os.path.join(state, 'signalled')",
        "json.dump({'nodeName': 'pg-0'}, open(agent.IDENTITY, 'w'))",
        "open(agent.APPLIED, 'w').write('g2\\n'); open(agent.SIGNALLED, 'w').write('https://handle SUCCESS')",
        "desired = {'generation': 'g2', 'waitHandle': 'https://handle', 'bundle': {'units': {'patroni': 'p.service', 'drain': 'cdk-failover-drain.service'}}}",
        'agent.fetch_desired = lambda identity: desired',
        'agent.patroni_settings = lambda d: {}',
        'agent.ensure_imds_firewall = lambda d: None',
        'agent.ensure_ssm_agent = lambda d, retry_after=0: None',
        'active = set()',
        'calls = []',
        'fail = []',
        'agent.unit_active = lambda unit: unit in active',
        'def run(args, timeout=120, check=True):',
        '    calls.append(" ".join(args))',
        "    if fail: raise agent.Failure('systemctl enable failed: Unit not found')",
        '    active.add(args[-1])',
        "    return ''",
        'agent.run = run',
        'out = {}',
        'real = sys.stdout; sys.stdout = io.StringIO()',
        "out['first'] = [agent.reconcile(), list(calls)]",
        "out['again'] = [agent.reconcile(), list(calls)]",
        "active.clear(); calls.clear(); fail.append(1)",
        "out['failing'] = [agent.reconcile(), list(calls)]",
        "logged = sys.stdout.getvalue()",
        "fail.clear(); calls.clear(); desired['bundle']['units'].pop('drain')",
        "out['older'] = [agent.reconcile(), list(calls)]",
        'sys.stdout = real',
        "out['logged'] = logged",
        'print(json.dumps(out))',
      ].join('\n'),
    )) as Record<string, unknown>;
    expect(r.first).toEqual([0, ['systemctl enable --now cdk-failover-drain.service']]);
    expect(r.again).toEqual([0, ['systemctl enable --now cdk-failover-drain.service']]);
    expect(r.failing).toEqual([0, ['systemctl enable --now cdk-failover-drain.service']]);
    expect(r.logged).toContain('drain unit not enabled (next run): systemctl enable failed: Unit not found');
    expect(r.older).toEqual([0, []]);
  });

  test("a failed command is named by its words, not by its options' values (URLs, TLS file paths)", async () => {
    const r = await py(
      [
        'try:',
        "    agent.run(['false', '--endpoints', 'https://10.0.0.10:2379', '--cacert', '/etc/cdk-failover/tls/ca.crt', 'endpoint', 'health'])",
        'except agent.Failure as e:',
        '    print(json.dumps(str(e)))',
      ].join('\n'),
    );
    expect(r).toBe('false endpoint health failed: exit 1');
  });

  test('actions run in the generation\'s order; one it does not have (a rolled-back newer generation\'s) is dropped', async () => {
    const order = JSON.stringify(['daemon-reload', 'restart-etcd', 'reload-patroni']);
    expect(await py(`agent.log = lambda line: None\nprint(json.dumps(agent.ordered_actions({'reload-patroni', 'apply-something-new', 'daemon-reload'}, ${order})))`)).toEqual([
      'daemon-reload',
      'reload-patroni',
    ]);
  });

  test('the bundle the agent reads is the one packed into the metadata', async () => {
    const bundle = renderNodeBundle(ec2Spec(), 'pg-0', OPTIONS);
    const text = `import base64, gzip\nprint(gzip.decompress(base64.b64decode(sys.stdin.read())).decode())`;
    expect(await py(text, packBundle(bundle))).toEqual(JSON.parse(JSON.stringify(bundle)));
  });
});
