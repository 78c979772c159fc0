import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
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

  test('the local cluster takes no file; FAILOVER_TLS_SECRET_FILE stands for the option', async () => {
    await expect(resolveTarget({ local: true, tlsSecretFile: 'x.json' })).rejects.toThrow('--local takes no --tls-secret-file: the local cluster knows its own CA');
    await expect(resolveTarget({ patroniUrl: ['https://10.0.0.1:8008'] }, { env: { FAILOVER_TLS_SECRET_FILE: path.join(dir, 'gone.json') } })).rejects.toThrow(
      `--tls-secret-file ${path.join(dir, 'gone.json')}: cannot read it (ENOENT)`,
    );
  });
});
