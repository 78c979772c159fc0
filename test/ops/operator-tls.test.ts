import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { UsageError } from '../../lib/ops/errors';
import { readOperatorTls } from '../../lib/ops/operator-tls';
import { resolveTarget } from '../../lib/ops/targets';
import { issueClusterCertificates } from '../../lib/tls/cluster-certificates';
import { operatorTlsSecret, UNISSUED } from '../../lib/tls/secret-format';

describe('the operator TLS secret file (--tls-secret-file)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'operator-tls-'));
  const file = (name: string, content: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content, { mode: 0o600 });
    return p;
  };
  const secret = operatorTlsSecret(issueClusterCertificates({ clusterName: 'c', nodes: [{ name: 'pg-0', address: '10.0.0.1' }], days: 1 }));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('reads the saved SecretString: both CAs, the client certificate and its key', () => {
    expect(readOperatorTls(file('good.json', JSON.stringify(secret)))).toEqual(secret);
  });

  test('bad files are usage errors naming the option, the file and what is wrong', () => {
    const cases: [string, string, string][] = [
      ['text.json', 'caCert: x', 'not JSON; save the secret\'s SecretString (operatorTlsSecretArn) as it is'],
      ['unissued.json', UNISSUED, 'no PEM caCert, databaseCaCert, cert, key (the secret was never issued: the certificate custom resource has not run); expected the operator secret (caCert, databaseCaCert, cert, key)'],
      ['nokey.json', JSON.stringify({ ...secret, key: secret.cert }), 'no PEM key; expected the operator secret (caCert, databaseCaCert, cert, key)'],
      ['null.json', 'null', 'no PEM caCert, databaseCaCert, cert, key; expected the operator secret (caCert, databaseCaCert, cert, key)'],
    ];
    for (const [name, content, message] of cases) {
      const p = file(name, content);
      expect(() => readOperatorTls(p)).toThrow(new UsageError(`--tls-secret-file ${p}: ${message}`));
    }
    expect(() => readOperatorTls(path.join(dir, 'missing.json'))).toThrow(`--tls-secret-file ${path.join(dir, 'missing.json')}: cannot read it (ENOENT)`);
  });

  /** A stack's outputs: one PatroniCluster per path, with TLS when `tls`. */
  const stack = (clusters: { path: string; tls: boolean }[]) => {
    const outputs = clusters.flatMap(({ path: p, tls }) =>
      Object.entries({
        clusterName: p.toLowerCase().replace(/\//g, '-'),
        writerEndpoint: 'db.example.com:5432',
        readerEndpoint: 'db.example.com:5433',
        superuserSecretArn: 'arn:su',
        restApiSecretArn: 'arn:rest',
        metricsNamespace: 'ns',
        nodeInstanceIds: 'i-1',
        nodeAddresses: '10.0.1.10',
        ...(tls ? { operatorTlsSecretArn: 'arn:tls' } : {}),
      }).map(([k, v]) => ({ OutputKey: `${p}${k}`, OutputValue: v, Description: `cdk-failover:PatroniCluster:${p}:${k}` })),
    );
    const cfn = new CloudFormationClient({ region: 'eu-west-1' });
    mockClient(cfn).on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 'Shop', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), Outputs: outputs }] });
    return { env: {}, cloudFormation: () => cfn };
  };

  test('the file and the cluster must agree: TLS needs it (forwarded ports too), a cluster without TLS refuses it', async () => {
    const urls = ['https://127.0.0.1:18008'];
    const tlsStack = await resolveTarget({ stack: 'Shop', patroniUrl: urls }, stack([{ path: 'Shop/Db', tls: true }]));
    expect(() => tlsStack.patroni()).toThrow(/^stack Shop's cluster runs TLS: save its operator secret/);
    const good = file('agree.json', JSON.stringify(secret));
    const plainStack = await resolveTarget({ stack: 'Shop', tlsSecretFile: good }, stack([{ path: 'Shop/Db', tls: false }]));
    expect(() => plainStack.patroni()).toThrow(new UsageError("stack Shop's cluster Shop/Db runs without TLS: drop --tls-secret-file (or FAILOVER_TLS_SECRET_FILE)"));
    expect(() => plainStack.sql()).toThrow(/runs without TLS/);
  });

  test('forwarded ports to a stack of two clusters without TLS need no --construct; with the file they do', async () => {
    const two = [
      { path: 'Shop/Orders', tls: false },
      { path: 'Shop/Billing', tls: false },
    ];
    const urls = ['http://127.0.0.1:18008'];
    expect((await resolveTarget({ stack: 'Shop', patroniUrl: urls }, stack(two))).patroni().urls).toEqual(urls);
    const withFile = await resolveTarget({ stack: 'Shop', patroniUrl: urls, tlsSecretFile: file('two.json', JSON.stringify(secret)) }, stack(two));
    expect(() => withFile.patroni()).toThrow('stack Shop has 2 PatroniClusters (Shop/Billing, Shop/Orders): choose one with --construct <path>');
  });

  test('the local cluster takes no file; FAILOVER_TLS_SECRET_FILE stands for the option, and --local ignores it', async () => {
    await expect(resolveTarget({ local: true, tlsSecretFile: 'x.json' })).rejects.toThrow('--local takes no --tls-secret-file: the local cluster knows its own CA');
    const local = resolveTarget({ local: true, cluster: 'no-such-cluster', stateRoot: dir }, { env: { FAILOVER_TLS_SECRET_FILE: path.join(dir, 'gone.json') } });
    await expect(local.then(() => 'resolved', (err: Error) => err.message)).resolves.not.toMatch(/tls-secret-file/);
    await expect(resolveTarget({ patroniUrl: ['https://10.0.0.1:8008'] }, { env: { FAILOVER_TLS_SECRET_FILE: path.join(dir, 'gone.json') } })).rejects.toThrow(
      `--tls-secret-file ${path.join(dir, 'gone.json')}: cannot read it (ENOENT)`,
    );
  });
});
