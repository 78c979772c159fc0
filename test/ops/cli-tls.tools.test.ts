// The CLI against a cluster that runs TLS, as a deployed stack does by default: the operator
// secret saved as a file gives the CA and client certificate. Patroni's REST API is stood in for
// by an HTTPS server that demands a client certificate (the checks under test are the client's);
// PostgreSQL 15 is real, serving the database certificate.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { resolveTarget, type TargetOptions } from '../../lib/ops/targets';
import { issueClusterCertificates } from '../../lib/tls/cluster-certificates';
import { operatorTlsSecret } from '../../lib/tls/secret-format';
import { cannotRunPostgres, TempPostgres } from '../client/support/temp-postgres';

const reason = cannotRunPostgres();

if (reason) {
  test('a temporary PostgreSQL can run here', () => {
    throw new Error(`${reason}: the CLI's TLS tests run against a real PostgreSQL 15`);
  });
} else {
  describe('the CLI with --tls-secret-file, against servers with certificates from the cluster CAs', () => {
    const node = { name: 'pg-0', address: '127.0.0.1' };
    const certificates = issueClusterCertificates({ clusterName: 'cli', nodes: [node], days: 1 });
    const stranger = issueClusterCertificates({ clusterName: 'cli', nodes: [node], days: 1 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-tls-'));
    const file = (name: string, content: string) => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, content, { mode: 0o600 });
      return p;
    };
    const ours = file('operator-tls.json', JSON.stringify(operatorTlsSecret(certificates)));
    const theirs = file('other-cluster.json', JSON.stringify(operatorTlsSecret(stranger)));
    const ARN = 'arn:aws:secretsmanager:eu-west-1:1:secret:operator-tls';
    let pg: TempPostgres;
    let rest: https.Server;
    let restUrl: string;
    // A node known by its VPC address, reached through a port forwarded to 127.0.0.1.
    const remote = { name: 'pg-1', address: '10.9.9.9' };
    const remoteCert = issueClusterCertificates({ clusterName: 'cli', nodes: [remote], days: 1 }, certificates).nodes[remote.name]!;
    let forwarded: https.Server;
    let forwardedUrl: string;
    const clientNames: string[] = [];
    const serve = async (cert: { privateKeyPem: string; certificatePem: string }): Promise<[https.Server, string]> => {
      const server = https.createServer(
        { key: cert.privateKeyPem, cert: cert.certificatePem, ca: certificates.ca.certificatePem, requestCert: true, rejectUnauthorized: true },
        (req, res) => {
          clientNames.push(String((req.socket as TLSSocket).getPeerCertificate().subject?.CN));
          res.setHeader('Content-Type', 'application/json');
          res.end(JSON.stringify({ members: [{ name: node.name, role: 'leader', state: 'running', host: node.address, timeline: 1 }] }));
        },
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return [server, `https://127.0.0.1:${(server.address() as AddressInfo).port}`];
    };

    beforeAll(async () => {
      pg = await TempPostgres.start({ tls: certificates.database });
      [rest, restUrl] = await serve(certificates.nodes[node.name]!);
      [forwarded, forwardedUrl] = await serve(remoteCert);
    });

    afterAll(async () => {
      const close = (server: https.Server | undefined) => (server ? new Promise((resolve) => server.close(resolve)) : undefined);
      try {
        await close(rest);
        await close(forwarded);
      } finally {
        try {
          await pg?.destroy();
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }
    });

    /** A --stack target whose outputs name this machine's PostgreSQL as the writer, with TLS on. */
    const stackTarget = (options: Partial<TargetOptions>, writerHost = '127.0.0.1', nodeAddress = node.address) => {
      const d = (key: string) => `cdk-failover:PatroniCluster:Shop/Db:${key}`;
      const values: Record<string, string> = {
        clusterName: 'cli',
        writerEndpoint: `${writerHost}:${pg.port}`,
        readerEndpoint: `${writerHost}:${pg.port}`,
        superuserSecretArn: 'arn:aws:secretsmanager:eu-west-1:1:secret:su',
        restApiSecretArn: 'arn:aws:secretsmanager:eu-west-1:1:secret:rest',
        metricsNamespace: 'CdkFailover/cli',
        nodeInstanceIds: 'i-1',
        nodeAddresses: nodeAddress,
        operatorTlsSecretArn: ARN,
      };
      const cfn = new CloudFormationClient({ region: 'eu-west-1' });
      const Outputs = Object.entries(values).map(([k, v]) => ({ OutputKey: k, OutputValue: v, Description: d(k) }));
      mockClient(cfn).on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'Shop', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), Outputs }] });
      return resolveTarget({ stack: 'Shop', ...options }, { env: { PGPASSWORD: pg.password }, cloudFormation: () => cfn });
    };

    test('--stack: SQL to the writer over TLS, verified against the database CA', async () => {
      const target = await stackTarget({ tlsSecretFile: ours });
      expect(await target.sql().query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).toEqual([['true']]);
    });

    test('--stack: a writer name the database certificate does not carry is refused (verify-full)', async () => {
      const target = await stackTarget({ tlsSecretFile: ours }, 'localhost');
      await expect(target.sql().query('SELECT 1')).rejects.toThrow(/Hostname\/IP does not match certificate's altnames: Host: localhost\./);
    });

    test("--stack: another cluster's CA is refused", async () => {
      const target = await stackTarget({ tlsSecretFile: theirs });
      await expect(target.sql().query('SELECT 1')).rejects.toThrow(/unable to verify the first certificate/);
    });

    test('--stack: Patroni at https://<node>:8008, and without the file a usage error that says how to save it', async () => {
      expect((await stackTarget({ tlsSecretFile: ours })).patroni().urls).toEqual(['https://127.0.0.1:8008']);
      const without = await stackTarget({});
      const save = `aws secretsmanager get-secret-value --secret-id ${ARN} --query SecretString --output text > operator-tls.json`;
      expect(() => without.patroni()).toThrow(`stack Shop's cluster runs TLS: save its operator secret (${save}) and give --tls-secret-file operator-tls.json`);
      expect(() => without.sql()).toThrow(/^stack Shop's cluster runs TLS/);
    });

    test("--patroni-url https: the REST API answers the operator certificate, checked against the cluster CA", async () => {
      clientNames.length = 0;
      const target = await resolveTarget({ patroniUrl: [restUrl], tlsSecretFile: ours });
      const status = await target.patroni().clusterStatus();
      expect(status.members.map((m) => m.name)).toEqual([node.name]);
      expect(clientNames).toEqual([new X509Certificate(certificates.operator.certificatePem).subject.replace(/^CN=/, '')]);
    });

    test('forwarded ports: a certificate naming one of the stack\'s nodes (or its writer) passes for 127.0.0.1; without the stack it does not', async () => {
      const viaForward = await stackTarget({ tlsSecretFile: ours, patroniUrl: [forwardedUrl] }, 'db.example.com', remote.address);
      expect((await viaForward.patroni().clusterStatus()).members.map((m) => m.name)).toEqual([node.name]);
      const bare = await resolveTarget({ patroniUrl: [forwardedUrl], tlsSecretFile: ours });
      await expect(bare.patroni().clusterStatus()).rejects.toThrow(/Hostname\/IP does not match certificate's altnames: IP: 127\.0\.0\.1 is not in the cert's list: 10\.9\.9\.9/);

      // PostgreSQL's certificate names 127.0.0.1 (the node): dialled as localhost through --writer-uri.
      const writerUri = `postgresql://postgres:${pg.password}@localhost:${pg.port}/postgres`;
      const sql = (await stackTarget({ tlsSecretFile: ours, writerUri }, 'db.example.com')).sql();
      expect(await sql.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).toEqual([['true']]);
      const elsewhere = (await stackTarget({ tlsSecretFile: ours, writerUri }, 'db.example.com', remote.address)).sql();
      await expect(elsewhere.query('SELECT 1')).rejects.toThrow('the certificate of localhost names none of 10.9.9.9, db.example.com');
    });

    test("--patroni-url https: refused without the file (the system's CAs) and with another cluster's CA", async () => {
      const bare = await resolveTarget({ patroniUrl: [restUrl] });
      await expect(bare.patroni().clusterStatus()).rejects.toThrow(/no Patroni REST API answered GET \/cluster \(direct\): https:\/\/127\.0\.0\.1:\d+: .*(self-signed|unable to verify)/);
      const other = await resolveTarget({ patroniUrl: [restUrl], tlsSecretFile: theirs });
      await expect(other.patroni().clusterStatus()).rejects.toThrow(/no Patroni REST API answered GET \/cluster \(direct\): https:\/\/127\.0\.0\.1:\d+: .*(self-signed|unable to verify)/);
    });
  });
}
