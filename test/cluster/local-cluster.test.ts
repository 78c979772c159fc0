// Smoke test of the local rehearsal cluster: boots three real Patroni 3.0.2 / etcd / HAProxy /
// PostgreSQL 15 nodes in network namespaces (root only), writes, kills the leader, heals it,
// and tears everything down. The drills build on the same LocalCluster API.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LocalCluster, listNamespaces, namespacePids, namespacePrefix, SUBNET, type LocalClusterStatus } from '../../lib/local';
import * as os from 'node:os';
import { runInNamespace, sleep } from '../../lib/local/exec';
import { httpInNamespace, type HttpsOptions } from '../../lib/local/rest';
import { tlsFilePath } from '../../lib/patroni/config/tls';
import { issueClusterCertificates } from '../../lib/tls/cluster-certificates';
import { run } from '../../lib/util/command';
import { etcdStartTime, isRenewalOf, verifiesWith } from './ca-renewal';

const CLUSTER = 'smoke';
const MINUTE = 60_000;

function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

if (process.env.SKIP_CLUSTER === '1') {
  test('the cluster tests are skipped on purpose (SKIP_CLUSTER=1)', () => {
    console.warn('SKIP_CLUSTER=1: the local cluster smoke test did not run');
    expect(process.env.SKIP_CLUSTER).toBe('1');
  });
} else {
  describe('local rehearsal cluster (3 nodes, fast timing)', () => {
    let cluster: LocalCluster;
    let before: LocalClusterStatus;
    const log = (line: string) => console.log(`[${CLUSTER}] ${line}`);

    beforeAll(async () => {
      const started = Date.now();
      cluster = await LocalCluster.up({ clusterName: CLUSTER, nodes: 3, timing: 'fast', log });
      log(`up took ${((Date.now() - started) / 1000).toFixed(1)} s`);
      before = await cluster.status();
    }, 15 * MINUTE);

    afterAll(async () => {
      await LocalCluster.down({ clusterName: CLUSTER });
    }, 3 * MINUTE);

    test('boots exactly one leader, streaming replicas and a synchronous standby', async () => {
      const roles = before.nodes.map((n) => n.role).sort();
      expect(roles).toEqual(['leader', 'replica', 'sync_standby']);
      expect(before.nodes.every((n) => n.state === 'running')).toBe(true);
      expect(before.nodes.every((n) => (n.timeline ?? 0) >= 1)).toBe(true);
      const verdict = await cluster.health();
      expect(verdict).toMatchObject({ healthy: true });
    });

    test('status --json prints the stable interface', async () => {
      const { stdout } = await run(
        process.execPath,
        ['-r', 'ts-node/register/transpile-only', 'bin/failover.ts', 'local', 'status', '--json', '--cluster', CLUSTER],
        { cwd: path.resolve(__dirname, '../..'), timeoutMs: MINUTE },
      );
      const status = JSON.parse(stdout) as LocalClusterStatus;
      expect(Object.keys(status)).toEqual(
        expect.arrayContaining(['nodes', 'writer', 'reader', 'writerUri', 'readerUri', 'clientNamespace']),
      );
      expect(Object.keys(status.nodes[0]!)).toEqual(
        expect.arrayContaining(['name', 'address', 'restApi', 'role', 'state', 'timeline', 'lagBytes']),
      );
      expect(status.nodes[0]!.restApi).toBe(`https://${status.nodes[0]!.address}:8008`);
      expect(status.caFile).toBe(path.join(cluster.dir, 'tls', 'ca.crt'));
      expect(status.databaseCaFile).toBe(path.join(cluster.dir, 'tls', 'database-ca.crt'));
      expect(status.writer).toMatch(/^10\.213\.77\.\d+:5000$/);
      expect(status.writerUri).toMatch(/^postgresql:\/\/postgres:[A-Za-z0-9]+@10\.213\.77\.\d+:5000\/postgres/);
      expect(status.clientNamespace).toBe(`${namespacePrefix(CLUSTER)}client`);
      expect(status.mode).toBe('processes');
    }, 2 * MINUTE);

    test('exec --node runs on the node (its namespace here); reboot, replace, apply and restart-all are refused with one line: they need booted nodes', async () => {
      const root = path.resolve(__dirname, '../..');
      // --cluster before the rest: after `--`, everything is the command's own.
      const cli = ([verb, ...rest]: string[]) =>
        run(process.execPath, ['-r', 'ts-node/register/transpile-only', 'bin/failover.ts', 'local', verb!, '--cluster', CLUSTER, ...rest], {
          cwd: root,
          timeoutMs: MINUTE,
          allowFailure: true,
        });
      const ip = await cli(['exec', '--node', 'pg-1', '--', 'ip', '-o', '-4', 'addr', 'show', 'eth0']);
      expect(ip.code).toBe(0);
      expect(ip.stdout).toContain(`${cluster.nodeAddress('pg-1')}/24`);
      for (const kind of ['reboot', 'replace']) {
        for (const drain of [[], ['--drain']]) {
          const r = await cli(['fault', kind, 'pg-1', ...drain]);
          expect(r.code).not.toBe(0);
          expect(r.stderr.trim()).toBe(
            `failover: fault ${kind} needs a booted cluster ('failover local up --boot'); '${CLUSTER}' runs its services as processes`,
          );
        }
      }
      // A drain is planned maintenance: the faults that are not a node stopped as planned refuse it, before anything is done.
      const killDrained = await cli(['fault', 'kill', 'pg-1', '--drain']);
      expect(killDrained.code).not.toBe(0);
      expect(killDrained.stderr.trim()).toBe('failover: --drain is for reboot and replace only, not kill.');
      const apply = await cli(['apply', '--set-parameter', 'work_mem=8MB']);
      expect(apply.code).not.toBe(0);
      expect(apply.stderr.trim()).toBe(`failover: apply needs a booted cluster ('failover local up --boot'); '${CLUSTER}' runs its services as processes`);
      const restartAll = await cli(['restart-all']);
      expect(restartAll.code).not.toBe(0);
      expect(restartAll.stderr.trim()).toBe(`failover: restart-all needs a booted cluster ('failover local up --boot'); '${CLUSTER}' runs its services as processes`);
      for (const [args, message] of [
        [[], 'failover: nothing to apply: give --timing, --set-parameter and/or --image.'],
        [['--set-parameter', 'work_mem'], "error: option '--set-parameter <name=value>' argument 'work_mem' is invalid. 'work_mem' is not NAME=VALUE (a PostgreSQL parameter name, '=', a non-empty value)."],
        [['--timing', 'quick'], "error: option '--timing <profile>' argument 'quick' is invalid. Allowed choices are default, fast, stock."],
      ] as const) {
        const bad = await cli(['apply', ...args]);
        expect(bad.code).not.toBe(0);
        expect(bad.stderr.trim()).toBe(message);
      }
      const unknown = await cli(['exec', '--node', 'pg-9', '--', 'true']);
      expect(unknown.code).not.toBe(0);
      expect(unknown.stderr.trim()).toBe(`failover: no node 'pg-9' in cluster '${CLUSTER}' (nodes: pg-0, pg-1, pg-2)`);
    }, 2 * MINUTE);

    test('leaves the root namespace without an interface or address of the cluster', async () => {
      const { stdout } = await run('ip', ['-o', 'addr', 'show']);
      expect(stdout).not.toContain(SUBNET.split('.').slice(0, 3).join('.'));
      const links = (await run('ip', ['-o', 'link', 'show'])).stdout;
      expect(links).not.toMatch(/\bbr0\b|\bv[0-9c]@/);
    });

    test('etcd answers only clients showing a certificate from the cluster CA; /health alone is served without one', async () => {
      const node = before.nodes[0]!;
      const tls = cluster.etcdClientTls!;
      expect(before.caFile).toBe(tls.caFile);
      const client = (url: string, withTls?: typeof tls) => httpInNamespace(cluster.clientNamespace, { url, tls: withTls, timeoutMs: 3000 });
      const keys = `https://${node.address}:2379/v2/keys/service/${CLUSTER}/leader`;

      const allowed = await client(keys, tls);
      expect(allowed.status).toBe(200);
      expect(JSON.parse(allowed.body).node.value).toBe(before.leader);

      // The peer port (HTTP/1.1: etcd's peer handler does not finish HTTP/2 streams for curl).
      const peer = (certificate?: { certFile: string; keyFile: string }) =>
        runInNamespace(
          cluster.clientNamespace,
          ['curl', '-sS', '--http1.1', '--max-time', '3', '--cacert', tls.caFile, ...(certificate ? ['--cert', certificate.certFile, '--key', certificate.keyFile] : []),
            '-o', '/dev/null', '-w', '%{http_code}', `https://${node.address}:2380/members`],
          { allowFailure: true },
        );
      // No client certificate, on either port: etcd ends the handshake. (How curl words it varies
      // with timing under TLS 1.3, an alert, a reset or a closed socket: the exit code does not.)
      const noCertificate = await runInNamespace(cluster.clientNamespace, ['curl', '-sS', '--max-time', '3', '--cacert', tls.caFile, keys], { allowFailure: true });
      expect(noCertificate.code).not.toBe(0);
      expect((await peer()).code).not.toBe(0);
      // A member's certificate shown from another address: etcd matches its subjectAltName against the
      // connection's source and refuses it. A certificate without addresses (the operator's) passes:
      // anyone the cluster CA signed is trusted on the peer port (docs/security.md).
      const memberPaths = cluster.spec.nodes[1]!.paths!;
      const stolen = await peer({ certFile: tlsFilePath(memberPaths, 'nodeCert'), keyFile: tlsFilePath(memberPaths, 'nodeKey') });
      expect(stolen.stdout).toBe('000');
      expect((await peer(tls)).stdout).toBe('200');

      // A certificate from another CA (the same names, a different key): refused the same way.
      const other = issueClusterCertificates({ clusterName: CLUSTER, nodes: [{ name: 'pg-0', address: before.nodes[0]!.address }], days: 1 });
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'other-ca-'));
      try {
        fs.writeFileSync(path.join(dir, 'op.crt'), other.operator.certificatePem);
        fs.writeFileSync(path.join(dir, 'op.key'), other.operator.privateKeyPem, { mode: 0o600 });
        const foreign = await client(keys, { caFile: tls.caFile, certFile: path.join(dir, 'op.crt'), keyFile: path.join(dir, 'op.key') });
        // Refused in the handshake (curl's wording varies with TLS 1.3's timing; the missing answer does not).
        expect(foreign.status).toBe(0);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }

      // Plain HTTP on the client port: no answer.
      expect((await client(`http://${node.address}:2379/v2/keys`)).status).toBe(0);
      // The metrics listener: /health without a certificate, and none of the key space.
      expect(JSON.parse((await client(`http://${node.address}:2381/health`)).body)).toEqual({ health: 'true' });
      expect((await client(`http://${node.address}:2381/v2/keys`)).status).toBe(404);
    }, 2 * MINUTE);

    test("pauseEtcd (the soak's stall) stops one etcd member for the time given, then resumes it: no answer during the pause, healthy after", async () => {
      const replica = before.nodes.find((n) => n.name !== before.leader)!;
      const health = () => httpInNamespace(cluster.clientNamespace, { url: `http://${replica.address}:2381/health`, timeoutMs: 700 });
      expect((await health()).status).toBe(200);
      const pausing = cluster.pauseEtcd(replica.name, 3000);
      await sleep(500);
      expect((await health()).status).toBe(0);
      expect(await pausing).toBe(true);
      let answer = await health();
      for (let look = 0; look < 20 && answer.status !== 200; look++) {
        await sleep(500);
        answer = await health();
      }
      expect(JSON.parse(answer.body)).toEqual({ health: 'true' });
      expect(await cluster.pauseEtcd('pg-9', 10).catch((e: Error) => e.message)).toMatch(/pg-9/);
    }, 2 * MINUTE);

    test('PostgreSQL: TLS on every connection, replication included; refused without TLS, for the superuser from a client address, and by a client trusting another CA', async () => {
      const databaseCa = before.databaseCaFile!;
      expect(cluster.writerUri).toContain(`sslmode=verify-full&sslrootcert=${encodeURIComponent(databaseCa)}`);
      expect(await cluster.sql('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).toBe('t');
      const replication = await cluster.sql("SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)");
      expect(replication).toBe('2|2');

      const plain = await cluster.trySql('SELECT 1', { uri: cluster.writerUri.replace(/sslmode=verify-full/, 'sslmode=disable') });
      expect(plain.code).not.toBe(0);
      expect(plain.stderr).toMatch(/pg_hba\.conf rejects connection for host "10\.213\.77\.\d+", user "postgres", database "postgres", no encryption/);

      const leader = before.leader!;
      const direct = await cluster.trySql('SELECT 1', { uri: cluster.nodePostgresUri(leader) });
      expect(direct.code).not.toBe(0);
      expect(direct.stderr).toContain(`pg_hba.conf rejects connection for host "${cluster.clientAddress}", user "postgres", database "postgres", SSL encryption`);
      expect(await cluster.sql('SELECT 1', { uri: cluster.nodePostgresUri(leader), from: leader })).toBe('1');

      const other = issueClusterCertificates({ clusterName: CLUSTER, nodes: [{ name: 'pg-0', address: before.nodes[0]!.address }], days: 1 });
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'other-ca-'));
      try {
        fs.writeFileSync(path.join(dir, 'ca.crt'), other.databaseCa.certificatePem);
        const uri = cluster.writerUri.replace(encodeURIComponent(databaseCa), encodeURIComponent(path.join(dir, 'ca.crt')));
        const foreign = await cluster.trySql('SELECT 1', { uri });
        expect(foreign.code).not.toBe(0);
        expect(foreign.stderr).toContain('certificate verify failed');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }, 2 * MINUTE);

    test("Patroni's REST API: HTTPS only; a write needs an allowlisted address, a client certificate from the cluster CA and the password", async () => {
      const node = before.nodes[1]!;
      const tls = cluster.restApiTls as Required<HttpsOptions>;
      expect(node.restApi).toBe(`https://${node.address}:8008`);
      const { username, password } = cluster.spec.credentials.restApi;
      const auth = { username, password };
      const url = `${node.restApi}/config`;
      // The value the cluster already has: an accepted write changes nothing.
      const json = { maximum_lag_on_failover: cluster.spec.maximumLagOnFailoverBytes };
      const patch = (options: { tls?: HttpsOptions; auth?: typeof auth; url?: string }) =>
        httpInNamespace(cluster.clientNamespace, { method: 'PATCH', url: options.url ?? url, json, auth: options.auth, tls: options.tls, timeoutMs: 3000 });

      expect((await httpInNamespace(cluster.clientNamespace, { url: `${node.restApi}/patroni`, tls: { caFile: tls.caFile } })).status).toBe(200);
      expect((await patch({ tls, auth })).status).toBe(200);
      expect((await patch({ url: `http://${node.address}:8008/config`, auth })).status).toBe(0);

      const noCertificate = await patch({ tls: { caFile: tls.caFile }, auth });
      expect([noCertificate.status, noCertificate.body.trim()]).toEqual([403, 'client certificate required']);
      expect((await patch({ tls })).status).toBe(401);

      const other = issueClusterCertificates({ clusterName: CLUSTER, nodes: [{ name: 'pg-0', address: node.address }], days: 1 });
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'other-ca-'));
      const spare = `${cluster.clientAddress.replace(/\d+$/, '')}101`;
      try {
        fs.writeFileSync(path.join(dir, 'ca.crt'), other.ca.certificatePem);
        fs.writeFileSync(path.join(dir, 'op.crt'), other.operator.certificatePem);
        fs.writeFileSync(path.join(dir, 'op.key'), other.operator.privateKeyPem, { mode: 0o600 });
        // Our client refuses a server its CA did not sign; the server refuses a client certificate from another CA.
        const distrust = await patch({ tls: { ...tls, caFile: path.join(dir, 'ca.crt') }, auth });
        expect(distrust.status).toBe(0);
        expect(distrust.error).toMatch(/certificate/i);
        expect((await patch({ tls: { caFile: tls.caFile, certFile: path.join(dir, 'op.crt'), keyFile: path.join(dir, 'op.key') }, auth })).status).toBe(0);

        // From an address outside the allowlist (a second address on the client namespace's interface).
        await runInNamespace(cluster.clientNamespace, ['ip', 'addr', 'add', `${spare}/24`, 'dev', 'eth0']);
        const config = ['-sS', '--max-time', '3', '--interface', spare, '--cacert', tls.caFile, '--cert', tls.certFile, '--key', tls.keyFile, '-u', `${username}:${password}`];
        const outside = await runInNamespace(cluster.clientNamespace, ['curl', ...config, '-X', 'PATCH', '-H', 'Content-Type: application/json', '-d', JSON.stringify(json), '-w', ' %{http_code}', url], { allowFailure: true });
        expect(outside.stdout.trim()).toBe('Access is denied 403');
      } finally {
        await runInNamespace(cluster.clientNamespace, ['ip', 'addr', 'del', `${spare}/24`, 'dev', 'eth0'], { allowFailure: true });
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }, 2 * MINUTE);

    test('rotate-certificates: the CAs renewed (same keys), every node serving new certificates, one node at a time, etcd restarted, with no failover; a client holding the old CA still verifies', async () => {
      const names = cluster.nodeNames;
      const old = await Promise.all(names.map((n) => cluster.servedSerials(n)));
      const caFile = (await cluster.status()).caFile!;
      const oldCa = fs.readFileSync(caFile, 'utf8');
      const etcdStarted = await Promise.all(names.map((n) => etcdStartTime(cluster, n)));
      const { stdout } = await run(
        process.execPath,
        ['-r', 'ts-node/register/transpile-only', 'bin/failover.ts', 'local', 'rotate-certificates', '--cluster', CLUSTER],
        { cwd: path.resolve(__dirname, '../..'), timeoutMs: 2 * MINUTE },
      );
      const rows = stdout.trim().split('\n');
      // The leader last: the replicas' turns come first.
      expect(rows.map((r) => r.split(/\s+/)[0])).toEqual([...names.filter((n) => n !== before.leader), before.leader]);
      const now = await Promise.all(names.map((n) => cluster.servedSerials(n)));
      names.forEach((name, i) => {
        expect(rows.find((r) => r.startsWith(`${name} `))).toBe(`${name}  etcd ${now[i]!.etcd}  patroni ${now[i]!.restApi}  postgresql ${now[i]!.postgres}`);
        expect(now[i]!.etcd).toMatch(/^[0-9A-F]{32}$/);
        expect(now[i]!.etcd).not.toBe(old[i]!.etcd);
        expect(now[i]!.restApi).toBe(now[i]!.etcd); // one node certificate for both
        expect(now[i]!.postgres).not.toBe(old[i]!.postgres);
      });
      // No restart, no failover: the same leader on the same timeline, and clients (the same CA) go on.
      const after = await cluster.status();
      expect(after.leader).toBe(before.leader);
      expect(after.nodes.map((n) => n.timeline)).toEqual(before.nodes.map((n) => n.timeline));
      expect(await cluster.sql('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).toBe('t');
      // The CA renewed, not replaced: the operator's new file and the old one both verify every node.
      expect(isRenewalOf(oldCa, fs.readFileSync(caFile, 'utf8'))).toBe(true);
      for (const [i, name] of names.entries()) {
        expect(await verifiesWith(cluster, name, cluster.spec.ports.etcdClient, oldCa)).toBe('0 (ok)');
        expect(await verifiesWith(cluster, name, cluster.spec.ports.etcdClient, fs.readFileSync(caFile, 'utf8'))).toBe('0 (ok)');
        // etcd loads its trusted CA at start: restarted for the renewed one.
        expect(await etcdStartTime(cluster, name)).toBeGreaterThan(etcdStarted[i]!);
      }
      // And a CA that is not the cluster's does not.
      const stranger = issueClusterCertificates({ clusterName: CLUSTER, nodes: [{ name: 'x', address: '10.0.0.1' }], days: 1 }).ca.certificatePem;
      expect(await verifiesWith(cluster, names[0]!, cluster.spec.ports.etcdClient, stranger)).toMatch(/^\d+ \((certificate signature failure|unable to get local issuer certificate)\)$/);
    }, 4 * MINUTE);

    test('a write through the writer endpoint is readable through the reader endpoint', async () => {
      await cluster.sql('CREATE TABLE smoke (id int PRIMARY KEY, note text)');
      await cluster.sql("INSERT INTO smoke VALUES (1, 'written through the writer')");
      const read = await cluster.waitForSql('SELECT note FROM smoke WHERE id = 1', {
        uri: cluster.readerUri,
        timeoutMs: 15_000,
      });
      expect(read).toBe('written through the writer');
      expect(await cluster.sql('SELECT pg_is_in_recovery()', { uri: cluster.readerUri })).toBe('t');
    }, 2 * MINUTE);

    test('node-postgres in the client namespace writes through FAILOVER_WRITER_URI', async () => {
      const script = [
        "const { Client } = require('pg');",
        '(async () => {',
        '  const c = new Client({ connectionString: process.env.FAILOVER_WRITER_URI });',
        '  await c.connect();',
        "  const r = await c.query('INSERT INTO smoke VALUES (100, $1) RETURNING id', ['from pg']);",
        '  await c.end();',
        '  process.exit(r.rows[0].id === 100 ? 0 : 1);',
        '})().catch((e) => { console.error(e.message); process.exit(2); });',
      ].join('\n');
      const code = await cluster.execInClient([process.execPath, '-e', script], { cwd: path.resolve(__dirname, '../..') });
      expect(code).toBe(0);
      await cluster.sql('DELETE FROM smoke WHERE id = 100');
    }, 2 * MINUTE);

    test('killing the leader elects another leader within 60 s, and the writer endpoint follows', async () => {
      const oldLeader = (await cluster.leader())!;
      expect(oldLeader).toBeDefined();
      const killedAt = Date.now();
      await cluster.kill(oldLeader);
      const newLeader = await cluster.waitForLeader({ notNode: oldLeader, timeoutMs: MINUTE, intervalMs: 200 });
      const electedAfter = (Date.now() - killedAt) / 1000;
      await cluster.waitForSql("INSERT INTO smoke VALUES (2, 'after the failover')", { timeoutMs: 30_000, intervalMs: 200 });
      log(`killed ${oldLeader}: ${newLeader} leads after ${electedAfter.toFixed(1)} s, writable after ${((Date.now() - killedAt) / 1000).toFixed(1)} s`);
      expect(newLeader).not.toBe(oldLeader);
      expect(cluster.nodeFaults(oldLeader)).toEqual({ killed: true, frozen: false });
      // The first write through the writer endpoint does not mean every path behind it has switched
      // yet: each node's HAProxy sees the new primary at its own next check (seen once in CI:
      // 'server closed the connection unexpectedly' on the next statement). Wait, then count.
      expect(await cluster.waitForSql('SELECT count(*) FROM smoke', { timeoutMs: 30_000, intervalMs: 200 })).toBe('2');
    }, 3 * MINUTE);

    test('the healed old leader rejoins as a replica on the new timeline', async () => {
      const status = await cluster.status();
      const oldLeader = status.nodes.find((n) => n.faults.includes('killed'))!.name;
      await cluster.heal(oldLeader);
      await cluster.waitForRole(oldLeader, ['replica', 'sync_standby'], { timeoutMs: 2 * MINUTE });
      await cluster.waitForHealthy({ timeoutMs: 2 * MINUTE });
      const after = await cluster.status();
      expect(after.nodes.map((n) => n.role).sort()).toEqual(['leader', 'replica', 'sync_standby']);
      expect(after.nodes.every((n) => (n.timeline ?? 0) >= 2)).toBe(true);
      expect(await cluster.sql('SELECT count(*) FROM smoke', { uri: cluster.nodePostgresUri(oldLeader), from: oldLeader })).toBe('2');
    }, 5 * MINUTE);

    test('down removes every namespace, process and file it made', async () => {
      const namespaces = cluster.namespaces;
      const pids = (await Promise.all(namespaces.map((ns) => namespacePids(ns)))).flat();
      expect(pids.length).toBeGreaterThan(0);
      await LocalCluster.down({ clusterName: CLUSTER });
      expect((await listNamespaces()).filter((ns) => ns.startsWith(namespacePrefix(CLUSTER)))).toEqual([]);
      expect(pids.filter(isRunning)).toEqual([]);
      expect(fs.existsSync(cluster.dir)).toBe(false);
      // Idempotent.
      const again = await LocalCluster.down({ clusterName: CLUSTER });
      expect(again).toMatchObject({ namespaces: [], removedDir: false });
    }, 3 * MINUTE);
  });
}
