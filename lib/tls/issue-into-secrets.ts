// What the certificate custom resource does, without the AWS SDK: issue a cluster's CAs and
// certificates into three secrets through a two-method store. The Lambda's handler gives it
// Secrets Manager; the booted rehearsal gives it the Secrets Manager stand-in's contents.
import { ClusterCas, isValidityDays, issueClusterCertificates, MAX_VALIDITY_DAYS } from './cluster-certificates';
import { nodeTlsSecret, operatorTlsSecret, UNISSUED } from './secret-format';

/** The custom resource's properties, as CloudFormation passes them (numbers arrive as strings). */
export interface CertificateResourceProperties {
  readonly ClusterName: string;
  readonly Nodes: readonly { readonly Name: string; readonly Address: string }[];
  readonly EndpointNames?: readonly string[];
  readonly Days: string;
  /** Any change issues new certificates (a rotation). */
  readonly Rotation?: string;
  /** The library's CERTIFICATE_PROFILE: a change (an upgrade) issues new certificates too. */
  readonly Profile?: string;
  readonly CaSecretArn: string;
  readonly NodeSecretArn: string;
  readonly OperatorSecretArn: string;
}

export interface CertificateEvent {
  readonly RequestType: 'Create' | 'Update' | 'Delete';
  readonly PhysicalResourceId?: string;
  readonly ResourceProperties: CertificateResourceProperties & { readonly ServiceToken?: string };
}

export interface CertificateResponse {
  readonly PhysicalResourceId: string;
  readonly Data?: Record<string, string>;
}

/** The two operations the issuer needs from Secrets Manager. */
export interface SecretStore {
  /** The secret's current SecretString. */
  get(arn: string): Promise<string>;
  /** Writes a new current version; returns its version ID. */
  put(arn: string, value: string): Promise<string>;
}

function checkedProperties(p: CertificateResourceProperties): { days: number } {
  const days = Number(p.Days);
  if (!isValidityDays(days)) throw new Error(`Days must be a whole number from 1 to ${MAX_VALIDITY_DAYS}, got '${p.Days}'`);
  if (!Array.isArray(p.Nodes) || p.Nodes.length === 0) throw new Error('Nodes must name at least one node');
  return { days };
}

async function existingCas(store: SecretStore, arn: string): Promise<ClusterCas | undefined> {
  const value = JSON.parse((await store.get(arn)) || '{}') as Partial<ClusterCas> & { issued?: boolean };
  if (value.issued === false) return undefined;
  if (!value.ca?.privateKeyPem || !value.databaseCa?.privateKeyPem) {
    // Never issue a new CA over one that exists but reads wrongly: every client would stop trusting the nodes.
    throw new Error(`the CA secret ${arn} holds neither the CAs nor the unissued mark: restore it, or put ${UNISSUED} in it to issue new CAs`);
  }
  return { ca: value.ca, databaseCa: value.databaseCa };
}

/** Create and Update issue (Update from the existing CAs, renewed); Delete leaves the secrets to their removal policy. */
export async function issueIntoSecrets(event: CertificateEvent, store: SecretStore): Promise<CertificateResponse> {
  const p = event.ResourceProperties;
  const physicalResourceId = event.PhysicalResourceId ?? `${p.ClusterName}-certificates`;
  if (event.RequestType === 'Delete') return { PhysicalResourceId: physicalResourceId };
  const { days } = checkedProperties(p);
  const existing = await existingCas(store, p.CaSecretArn);
  const issued = issueClusterCertificates(
    { clusterName: p.ClusterName, nodes: p.Nodes.map((n) => ({ name: n.Name, address: n.Address })), endpointNames: p.EndpointNames, days },
    existing,
  );
  // Every issue writes the CAs: new ones, or (an Update) the same keys with renewed certificates.
  await store.put(p.CaSecretArn, JSON.stringify({ ca: issued.ca, databaseCa: issued.databaseCa }));
  const version = await store.put(p.NodeSecretArn, JSON.stringify(nodeTlsSecret(issued)));
  await store.put(p.OperatorSecretArn, JSON.stringify(operatorTlsSecret(issued)));
  // The version tells the nodes' agents that their files changed; never a key in Data (it is in the stack's events).
  return { PhysicalResourceId: physicalResourceId, Data: { NodeSecretVersion: version } };
}
