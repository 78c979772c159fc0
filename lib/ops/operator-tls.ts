// The operators' TLS material for a deployed cluster: the operator secret
// (`operatorTlsSecretArn`) saved as a file, read once. No Secrets Manager client in the CLI: the
// operator fetches the secret with the AWS CLI, and the file's permissions are theirs to keep.
import { readFileSync } from 'node:fs';
import type { OperatorTlsSecret } from '../tls/secret-format';
import { UsageError } from './errors';

/** The option (and environment variable) that names the file. */
export const TLS_SECRET_FILE_OPTION = '--tls-secret-file';

/** How an operator saves the secret, for error messages and help. */
export function saveSecretCommand(secretArn: string, file = 'operator-tls.json'): string {
  return `aws secretsmanager get-secret-value --secret-id ${secretArn} --query SecretString --output text > ${file}`;
}

/** Reads and checks the saved operator secret: both CAs, the client certificate and its key, in PEM. */
export function readOperatorTls(file: string): OperatorTlsSecret {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${TLS_SECRET_FILE_OPTION} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(`${TLS_SECRET_FILE_OPTION} ${file}: not JSON; save the secret's SecretString (operatorTlsSecretArn) as it is`);
  }
  const fields: Record<keyof OperatorTlsSecret, string> = {
    caCert: 'CERTIFICATE',
    databaseCaCert: 'CERTIFICATE',
    cert: 'CERTIFICATE',
    key: 'PRIVATE KEY',
  };
  const v = (value ?? {}) as Record<string, unknown>;
  const bad = (Object.keys(fields) as (keyof OperatorTlsSecret)[]).filter((k) => typeof v[k] !== 'string' || !(v[k] as string).includes(`-----BEGIN ${fields[k]}-----`));
  if (bad.length) {
    const issued = v.issued === false ? ' (the secret was never issued: the certificate custom resource has not run)' : '';
    throw new UsageError(`${TLS_SECRET_FILE_OPTION} ${file}: no PEM ${bad.join(', ')}${issued}; expected the operator secret (caCert, databaseCaCert, cert, key)`);
  }
  return { caCert: v.caCert as string, databaseCaCert: v.databaseCaCert as string, cert: v.cert as string, key: v.key as string };
}
