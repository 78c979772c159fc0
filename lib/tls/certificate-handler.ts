// The certificate custom resource's Lambda (behind aws-cdk-lib's Provider framework): issues a
// cluster's CAs and certificates at deploy time (issue-into-secrets.ts) into Secrets Manager. The
// CA keys go into a secret only this function reads; the nodes read theirs at boot.
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CertificateEvent, CertificateResponse, issueIntoSecrets, SecretStore } from './issue-into-secrets';

export type { CertificateEvent, CertificateResourceProperties, CertificateResponse } from './issue-into-secrets';

/** Secrets Manager as the issuer's store. */
export function secretsManagerStore(client: SecretsManagerClient): SecretStore {
  return {
    get: async (arn) => (await client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString ?? '',
    put: async (arn, value) => (await client.send(new PutSecretValueCommand({ SecretId: arn, SecretString: value }))).VersionId ?? '',
  };
}

/** The Lambda's entry point (its second argument is Lambda's context, so the client is made here). */
export function handler(event: CertificateEvent): Promise<CertificateResponse> {
  return handleCertificateEvent(event, new SecretsManagerClient({}));
}

export function handleCertificateEvent(event: CertificateEvent, client: SecretsManagerClient): Promise<CertificateResponse> {
  return issueIntoSecrets(event, secretsManagerStore(client));
}
