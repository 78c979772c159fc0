// A PatroniCluster that follows another as a standby cluster (regional recovery): what it needs of
// its props and of its primary, checked at synth. The node configuration is rendered by
// config/standby.ts; the promotion is the CLI's (`failover promote`).
import { X509Certificate } from 'node:crypto';
import { Token } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { PatroniBackupProps } from './backup';
import { type BackupSpec, isClusterName } from './config';
import type { IPatroniCluster } from './patroni-cluster-base';

/**
 * The database roles' secrets (JSON fields `username` and `password`). A standby cluster's are its
 * primary's, replicated into its region: its data holds the primary's roles.
 */
export interface DatabaseSecrets {
  /** The PostgreSQL superuser's. */
  readonly superuser: secretsmanager.ISecret;
  /** The replication user's. */
  readonly replication: secretsmanager.ISecret;
  /** The pg_rewind user's. */
  readonly rewind: secretsmanager.ISecret;
}

/**
 * A standby cluster's second feed: streaming from the primary's writer endpoint across a network
 * link the user builds (VPC peering or a transit gateway). The standby leader streams while it
 * can reach the primary and replays the repository when it cannot.
 */
export interface StandbyStreaming {
  /**
   * The primary's network (its VPC's CIDR, `ec2.Peer.ipv4(...)`; not every address): the standby's
   * nodes may reach it on the writer endpoint's port. The primary's side is the user's too: let
   * this cluster's VPC reach the primary's writer port (`primary.connections.allowFrom(...)` in its stack).
   */
  readonly primaryNetwork: ec2.IPeer;

  /**
   * The primary's database CA certificate, PEM, known at synth: the `databaseCaCert` field of the
   * primary's operator TLS secret. Replication checks the primary's endpoint against it (`verify-full`); the
   * nodes' agents add it to the database CA file. Required when this cluster runs TLS. A rotation
   * of the primary's certificates renews it: give the new one, or streaming fails its check and
   * the repository feeds the standby alone until then.
   * @default - none (only with ClusterTls.OFF)
   */
  readonly primaryDatabaseCa?: string;

  /**
   * The host name the standby streams from: it must resolve from this VPC, and the primary's
   * database certificate must name it (its load balancer's DNS name does).
   * @default - `standbyOf`'s writer endpoint host name, which must then be known at synth
   */
  readonly host?: string;

  /**
   * @default - `standbyOf`'s writer endpoint port
   */
  readonly port?: number;
}

/** Where the standby streams from, checked. */
export interface CheckedStreaming {
  readonly primaryNetwork: ec2.IPeer;
  readonly host: string;
  readonly port: number;
  readonly primaryDatabaseCa?: string;
}

/** `standbyStreaming`, checked against `standbyOf` and the cluster's TLS. */
export function checkStandbyStreaming(streaming: StandbyStreaming, primary: IPatroniCluster | undefined, tls: boolean): CheckedStreaming {
  if (!primary) throw new Error('standbyStreaming goes with standbyOf: it is how a standby cluster follows its primary');
  if (streaming.primaryNetwork.uniqueId === '0.0.0.0/0' || streaming.primaryNetwork.uniqueId === '::/0') {
    throw new Error(`standbyStreaming.primaryNetwork must be the primary's network (its VPC's CIDR), not every address (${streaming.primaryNetwork.uniqueId})`);
  }
  const host = streaming.host ?? primary.writerEndpoint.hostname;
  if (Token.isUnresolved(host)) {
    throw new Error(
      streaming.host !== undefined
        ? "standbyStreaming.host is a deploy-time value; the nodes' configuration needs it at synth (give it as a string)"
        : "standbyStreaming.host: the primary's writer endpoint host name is a deploy-time value; the nodes' configuration needs it at synth (give standbyStreaming.host, or import the primary with its endpointHostname as a string)",
    );
  }
  if (!/^[A-Za-z0-9.:-]+$/.test(host)) throw new Error(`standbyStreaming.host must be a host name or an IP address, got '${host}'`);
  const port = streaming.port ?? primary.writerEndpoint.port;
  if (Token.isUnresolved(port) || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`standbyStreaming.port must be a port from 1 to 65535 known at synth, got ${Token.isUnresolved(port) ? 'a deploy-time value' : port}`);
  }
  const ca = streaming.primaryDatabaseCa;
  if (!tls) {
    if (ca !== undefined) throw new Error('standbyStreaming.primaryDatabaseCa needs TLS: with ClusterTls.OFF replication checks no certificate');
    return { primaryNetwork: streaming.primaryNetwork, host, port };
  }
  if (ca === undefined) {
    throw new Error("standbyStreaming.primaryDatabaseCa is required with TLS: replication checks the primary's endpoint against it (the databaseCaCert field of the primary's operator TLS secret)");
  }
  if (Token.isUnresolved(ca)) {
    // The generation is computed at synth: a deploy-time CA that changed would not reach the nodes.
    throw new Error('standbyStreaming.primaryDatabaseCa must be known at synth (the PEM text): a deploy-time value that changed would not roll out to the nodes');
  }
  checkCaCertificate(ca);
  return { primaryNetwork: streaming.primaryNetwork, host, port, primaryDatabaseCa: ca };
}

/** The placeholder the primary's database CA takes in the nodes' configuration (filled at deploy). */
export const PRIMARY_DATABASE_CA = '__PRIMARY_DATABASE_CA__';

/** A standby's backup spec with the writer endpoint it streams from (and the CA it checks it with). */
export function withStreaming(spec: BackupSpec, streaming: CheckedStreaming): BackupSpec {
  if (!spec.standbyOf) throw new Error('withStreaming: the backup spec follows no primary');
  const ca = streaming.primaryDatabaseCa !== undefined ? { primaryDatabaseCa: PRIMARY_DATABASE_CA } : {};
  return { ...spec, standbyOf: { ...spec.standbyOf, host: streaming.host, port: streaming.port, ...ca } };
}

function checkCaCertificate(pem: string): void {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length !== 1 || pem.replace(blocks[0], '').trim() !== '') {
    throw new Error(`standbyStreaming.primaryDatabaseCa must be one PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----), got ${JSON.stringify(pem.slice(0, 40))}${pem.length > 40 ? '...' : ''}`);
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(blocks[0]);
  } catch (err) {
    throw new Error(`standbyStreaming.primaryDatabaseCa is not a readable certificate: ${(err as Error).message}`, { cause: err });
  }
  if (!certificate.ca) throw new Error(`standbyStreaming.primaryDatabaseCa must be a CA certificate, got one for ${certificate.subject.replace(/\n/g, ', ')}`);
}

/** `databaseSecretReplicaRegions`, checked: region names, none twice, not the cluster's own, and not with given secrets. */
export function checkReplicaRegions(regions: readonly string[] | undefined, given: DatabaseSecrets | undefined, ownRegion: string): readonly string[] {
  if (!regions || regions.length === 0) return [];
  if (given) throw new Error('databaseSecretReplicaRegions replicates the secrets the cluster creates; with databaseSecrets, replicate those secrets yourself');
  regions.forEach((region, i) => {
    if (Token.isUnresolved(region)) return;
    if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) throw new Error(`databaseSecretReplicaRegions[${i}] must be a region name such as us-west-2, got '${region}'`);
    if (region === ownRegion) throw new Error(`databaseSecretReplicaRegions[${i}] is the cluster's own region (${region}): a secret is replicated into other regions`);
    if (regions.indexOf(region) !== i) throw new Error(`databaseSecretReplicaRegions names ${region} twice`);
  });
  return regions;
}

/** The primary's name (its pgBackRest stanza), once `standbyOf` and the props around it are checked. */
export function checkStandbyOf(
  clusterName: string,
  primary: IPatroniCluster,
  backup: PatroniBackupProps | undefined,
  databaseSecrets: DatabaseSecrets | undefined,
): string {
  const name = primary.clusterName;
  if (Token.isUnresolved(name)) {
    throw new Error(
      "standbyOf: the primary's clusterName is a deploy-time value; it names the primary's stanza in the repository, which the nodes' configuration needs at synth (import the primary with its clusterName as a string)",
    );
  }
  if (!isClusterName(name)) {
    throw new Error(`standbyOf: the primary's clusterName must be a cluster name (lowercase letters, digits, hyphens), got '${name}'`);
  }
  if (name === clusterName) throw new Error(`standbyOf: a cluster cannot follow itself ('${clusterName}')`);
  if (primary.primaryClusterName !== undefined) {
    throw new Error(
      `standbyOf: '${name}' is itself a standby of '${primary.primaryClusterName}': a standby of a standby is not supported; follow '${primary.primaryClusterName}'`,
    );
  }
  if (primary.backupLimits === undefined) {
    throw new Error(
      `standbyOf: the primary '${name}' declares no backups: a standby follows the primary's pgBackRest repository (give the primary backup; an import, its backupLimits attribute)`,
    );
  }
  if (!backup?.bucket) {
    throw new Error(
      `standbyOf needs backup.bucket: the bucket that holds the primary '${name}''s repository in this region (its backup.secondaryRepository); a new bucket holds none`,
    );
  }
  if (backup.restoreFrom) throw new Error('standbyOf and backup.restoreFrom exclude each other: a standby cluster is made from its primary');
  if (!databaseSecrets) {
    throw new Error(`standbyOf needs databaseSecrets: the primary '${name}''s superuser, replication and rewind secrets, replicated into this region (its data holds those roles)`);
  }
  return name;
}
