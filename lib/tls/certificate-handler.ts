// The certificate custom resource's Lambda (behind aws-cdk-lib's Provider framework): issues a
// cluster's CAs and certificates at deploy time, with lib/tls (node:crypto only), into Secrets
// Manager. The CA keys go into a secret only this function reads; the nodes read theirs at boot.
// A later update (new node addresses, or a new `Rotation`) issues new certificates from the same
// CAs, so every client keeps trusting them. Delete leaves the secrets to their removal policy.
import { X509Certificate } from 'node:crypto';
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ClusterCas, isValidityDays, issueClusterCertificates, MAX_VALIDITY_DAYS } from './cluster-certificates';
import { NodeTlsSecret, OperatorTlsSecret, UNISSUED } from './secret-format';

/** The custom resource's properties, as CloudFormation passes them (numbers arrive as strings). */
export interface CertificateResourceProperties {
  readonly ClusterName: string;
  readonly Nodes: readonly { readonly Name: string; readonly Address: string }[];
  readonly EndpointNames?: readonly string[];
  readonly Days: string;
  /** Any change issues new certificates (a rotation). */
  readonly Rotation?: string;
  readonly CaSecretArn: string;
  readonly NodeSecretArn: string;
  readonly OperatorSecretArn: string;
}

export interface CertificateEvent {
  readonly RequestType: 'Create' | 'Update' | 'Delete';
  readonly PhysicalResourceId?: string;
  readonly ResourceProperties: CertificateResourceProperties & { readonly ServiceToken?: string };
}

function checkedProperties(p: CertificateResourceProperties): { days: number } {
  const days = Number(p.Days);
  if (!isValidityDays(days)) throw new Error(`Days must be a whole number from 1 to ${MAX_VALIDITY_DAYS}, got '${p.Days}'`);
  if (!Array.isArray(p.Nodes) || p.Nodes.length === 0) throw new Error('Nodes must name at least one node');
  return { days };
}

async function existingCas(client: SecretsManagerClient, arn: string): Promise<ClusterCas | undefined> {
  const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: arn }));
  const value = JSON.parse(SecretString ?? '{}') as Partial<ClusterCas> & { issued?: boolean };
  if (value.issued === false) return undefined;
  if (!value.ca?.privateKeyPem || !value.databaseCa?.privateKeyPem) {
    // Never issue a new CA over one that exists but reads wrongly: every client would stop trusting the nodes.
    throw new Error(`the CA secret ${arn} holds neither the CAs nor the unissued mark: restore it, or put ${UNISSUED} in it to issue new CAs`);
  }
  return { ca: value.ca, databaseCa: value.databaseCa };
}

/** The Lambda's entry point (its second argument is Lambda's context, so the client is made here). */
export function handler(event: CertificateEvent): Promise<CertificateResponse> {
  return handleCertificateEvent(event, new SecretsManagerClient({}));
}

export interface CertificateResponse {
  readonly PhysicalResourceId: string;
  readonly Data?: Record<string, string>;
}

/** Refuses to sign certificates that would outlive a CA: clients would reject them from its end on. */
function checkCasOutlive(cas: ClusterCas, days: number): void {
  const needed = Date.now() + days * 86_400_000;
  for (const [what, ca] of [['cluster CA', cas.ca], ['database CA', cas.databaseCa]] as const) {
    const end = new Date(new X509Certificate(ca.certificatePem).validTo);
    if (end.getTime() < needed) {
      throw new Error(
        `the ${what} expires ${end.toISOString()}, before certificates issued now for ${days} days would: renew the CAs ` +
          `(put ${UNISSUED} in the CA secret to issue new ones; every client must then trust the new CAs)`,
      );
    }
  }
}

export async function handleCertificateEvent(event: CertificateEvent, client: SecretsManagerClient): Promise<CertificateResponse> {
  const p = event.ResourceProperties;
  const physicalResourceId = event.PhysicalResourceId ?? `${p.ClusterName}-certificates`;
  if (event.RequestType === 'Delete') return { PhysicalResourceId: physicalResourceId };
  const { days } = checkedProperties(p);
  const existing = await existingCas(client, p.CaSecretArn);
  if (existing) checkCasOutlive(existing, days);
  const issued = issueClusterCertificates(
    { clusterName: p.ClusterName, nodes: p.Nodes.map((n) => ({ name: n.Name, address: n.Address })), endpointNames: p.EndpointNames, days },
    existing,
  );
  const put = (arn: string, value: unknown) => client.send(new PutSecretValueCommand({ SecretId: arn, SecretString: JSON.stringify(value) }));
  if (!existing) await put(p.CaSecretArn, { ca: issued.ca, databaseCa: issued.databaseCa });
  const nodes: NodeTlsSecret = {
    caCert: issued.ca.certificatePem,
    databaseCaCert: issued.databaseCa.certificatePem,
    databaseCert: issued.database.certificatePem,
    databaseKey: issued.database.privateKeyPem,
    nodes: Object.fromEntries(Object.entries(issued.nodes).map(([name, c]) => [name, { cert: c.certificatePem, key: c.privateKeyPem }])),
  };
  const { VersionId } = await put(p.NodeSecretArn, nodes);
  const operator: OperatorTlsSecret = {
    caCert: issued.ca.certificatePem,
    databaseCaCert: issued.databaseCa.certificatePem,
    cert: issued.operator.certificatePem,
    key: issued.operator.privateKeyPem,
  };
  await put(p.OperatorSecretArn, operator);
  // The version tells the nodes' agents that their files changed; never a key in Data (it is in the stack's events).
  return { PhysicalResourceId: physicalResourceId, Data: { NodeSecretVersion: VersionId ?? '' } };
}
