// A PatroniCluster that follows another as a standby cluster (regional recovery): what it needs of
// its props and of its primary, checked at synth. The node configuration is rendered by
// config/standby.ts; the promotion is the CLI's (`failover promote`).
import { Token } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { PatroniBackupProps } from './backup';
import { isClusterName } from './config';
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
