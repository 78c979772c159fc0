// Backup props of PatroniCluster: pgBackRest repositories in S3, schedules, and a restore source.
import { Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { BackupSpec, clusterStanza, FENCE_FILE, isClusterName, postgresTime, RestoreSourceSpec } from './config';
import { BackupLimits, checkBackupLimits } from './patroni-cluster-base';

/** Days of the week, for `BackupSchedule.weekly`. */
export enum BackupWeekday {
  MONDAY = 'Mon',
  TUESDAY = 'Tue',
  WEDNESDAY = 'Wed',
  THURSDAY = 'Thu',
  FRIDAY = 'Fri',
  SATURDAY = 'Sat',
  SUNDAY = 'Sun',
}

/** A time of day in UTC. */
export interface BackupTimeOfDay {
  /** @default 1 */
  readonly hour?: number;
  /** @default 0 */
  readonly minute?: number;
}

/** When a scheduled backup runs, as a systemd timer on every node (the leader backs up). */
export class BackupSchedule {
  /** Every day at `time` (UTC). */
  public static daily(time: BackupTimeOfDay = {}): BackupSchedule {
    return new BackupSchedule(`*-*-* ${clock(time)} UTC`);
  }

  /** Once a week on `day` at `time` (UTC). */
  public static weekly(day: BackupWeekday, time: BackupTimeOfDay = {}): BackupSchedule {
    return new BackupSchedule(`${day} *-*-* ${clock(time)} UTC`);
  }

  /**
   * A systemd `OnCalendar` expression (`man systemd.time`), e.g. `Mon..Sat *-*-* 01:00:00 UTC`.
   * Checked at synth for its characters only; `systemd-analyze calendar` checks the rest.
   */
  public static onCalendar(expression: string): BackupSchedule {
    if (!/^[A-Za-z0-9 *:.,/~+-]{1,100}$/.test(expression)) {
      throw new Error(`BackupSchedule.onCalendar: '${expression}' is not an OnCalendar expression (letters, digits, space and * : . , / ~ + - only)`);
    }
    return new BackupSchedule(expression);
  }

  private constructor(
    /** The systemd OnCalendar expression. */
    public readonly expression: string,
  ) {}
}

function clock(time: BackupTimeOfDay): string {
  const hour = time.hour ?? 1;
  const minute = time.minute ?? 0;
  if (!Number.isInteger(hour) || hour < 0 || hour > 23) throw new Error(`BackupSchedule: hour must be a whole number from 0 to 23, got ${hour}`);
  if (!Number.isInteger(minute) || minute < 0 || minute > 59) throw new Error(`BackupSchedule: minute must be a whole number from 0 to 59, got ${minute}`);
  return `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:00`;
}

/** How far a restore replays the source's WAL. */
export class RestoreTarget {
  /** Every WAL segment in the repository: the source's last archived state. */
  public static latest(): RestoreTarget {
    return new RestoreTarget({ type: 'latest' });
  }

  /** The instant `isoTime` (ISO-8601 with a zone, e.g. `2026-11-30T12:00:00Z`): commits after it are not replayed. */
  public static time(isoTime: string): RestoreTarget {
    try {
      postgresTime(isoTime);
    } catch {
      throw new Error(`RestoreTarget.time: '${isoTime}' is not an ISO-8601 time with a zone (for example 2026-11-30T12:00:00Z)`);
    }
    return new RestoreTarget({ type: 'time', time: isoTime });
  }

  /** A restore point made with `pg_create_restore_point(name)`. */
  public static restorePoint(name: string): RestoreTarget {
    if (!/^[A-Za-z0-9_.-]{1,63}$/.test(name)) {
      throw new Error(`RestoreTarget.restorePoint: '${name}' must be 1-63 letters, digits, _ . or -`);
    }
    return new RestoreTarget({ type: 'name', name });
  }

  private constructor(
    /** @jsii ignore */
    public readonly spec: RestoreSourceSpec['target'],
  ) {}
}

/** A repository in another bucket, typically in another region, for regional recovery. */
export interface BackupRepository {
  /** The bucket. Its KMS key, if any, must let the node role encrypt and decrypt. */
  readonly bucket: s3.IBucket;
  /** The bucket's region. */
  readonly region: string;
  /**
   * Full backups kept there.
   * @default - as the primary repository
   */
  readonly fullRetention?: number;
}

/** Where a new cluster's data comes from, instead of an empty database. */
export interface RestoreSource {
  /**
   * The source cluster's name (its pgBackRest stanza and repository path), in this cluster's
   * primary repository bucket: pass the source's bucket as `PatroniBackupProps.bucket`.
   */
  readonly clusterName: string;
  /**
   * How far to replay.
   * @default RestoreTarget.latest()
   */
  readonly target?: RestoreTarget;
}

/** Continuous archiving, scheduled backups and restores with pgBackRest (Debian 12's 2.45). */
export interface PatroniBackupProps {
  /**
   * The primary repository's bucket. The nodes write under `<clusterName>/` only.
   * @default - a new bucket: SSE-KMS with a new key (rotation on), TLS only, public access
   * blocked, kept when the stack is deleted
   */
  readonly bucket?: s3.IBucket;

  /**
   * The primary repository bucket's region.
   * @default - the stack's region
   */
  readonly region?: string;

  /**
   * Full backups kept; pgBackRest expires older ones and the WAL only they need.
   * @default 2
   */
  readonly fullRetention?: number;

  /**
   * PostgreSQL's archive_timeout: a WAL segment is archived at least this often while there are
   * writes, so it bounds what the loss of every node can lose (the RPO).
   * @default Duration.minutes(1)
   */
  readonly archiveTimeout?: Duration;

  /**
   * Full backups.
   * @default BackupSchedule.weekly(BackupWeekday.SUNDAY, { hour: 1 })
   */
  readonly fullSchedule?: BackupSchedule;

  /**
   * Differential backups.
   * @default BackupSchedule.onCalendar('Mon..Sat *-*-* 01:00:00 UTC')
   */
  readonly differentialSchedule?: BackupSchedule;

  /**
   * The newest backup is late past this age: FailoverAlarms' `BackupTooOld` alarm. Set it to the
   * longest gap your schedules leave plus the time a backup takes.
   * @default Duration.hours(30): the default schedules back up every day
   */
  readonly maxBackupAge?: Duration;

  /**
   * A second repository (every WAL segment and every scheduled backup go to both).
   * @default - none
   */
  readonly secondaryRepository?: BackupRepository;

  /**
   * Bootstrap this cluster from another cluster's backups instead of an empty database. Read at
   * the cluster's first boot only: changing it on a deployed cluster does nothing.
   * @default - a new, empty database
   */
  readonly restoreFrom?: RestoreSource;
}

/** What PatroniCluster renders and grants for its backups. */
export interface BackupResources {
  readonly bucket: s3.IBucket;
  readonly spec: BackupSpec;
  /** Deploy-time values of the placeholders in `spec`. */
  readonly values: Record<string, string>;
  readonly limits: BackupLimits;
}

const DEFAULT_DIFF_SCHEDULE = 'Mon..Sat *-*-* 01:00:00 UTC';

function retention(value: number | undefined, fallback: number, what: string): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < 1 || n > 9999) throw new Error(`${what} must be a whole number from 1 to 9999, got ${n}`);
  return n;
}

/**
 * The bucket (created unless passed), the roles' access to `<clusterName>/` in each repository
 * (and to the restore source's or the followed primary's prefix), and the spec with placeholders.
 */
export function createBackupResources(scope: Construct, clusterName: string, roles: readonly iam.IRole[], props: PatroniBackupProps, standbyOf?: string): BackupResources {
  const grant = (bucket: s3.IBucket, prefix: string, write: boolean) => roles.forEach((role) => grantRepository(role, bucket, prefix, write));
  const stack = Stack.of(scope);
  const fullRetention = retention(props.fullRetention, 2, 'backup.fullRetention');
  const archiveTimeout = props.archiveTimeout ?? Duration.minutes(1);
  const archiveTimeoutSeconds = archiveTimeout.toSeconds();
  if (!Number.isInteger(archiveTimeoutSeconds) || archiveTimeoutSeconds < 10 || archiveTimeoutSeconds > 3600) {
    throw new Error(`backup.archiveTimeout must be whole seconds from 10 s to 1 hour, got ${archiveTimeout.toHumanString()}`);
  }
  // A finished WAL segment waits for archive_command's next attempt (after a failure, about a
  // minute) and a queue of others: five minutes past archive_timeout (in whole minutes) is late.
  const limits = checkBackupLimits(
    { maxBackupAge: props.maxBackupAge ?? Duration.hours(30), maxArchiveWait: Duration.minutes(Math.ceil(archiveTimeoutSeconds / 60) + 5) },
    'backup',
  );
  const bucket = props.bucket ?? createBucket(scope, clusterName);
  const repos = [{ bucket, region: props.region ?? stack.region, fullRetention }];
  if (props.secondaryRepository) {
    const second = props.secondaryRepository;
    repos.push({ bucket: second.bucket, region: second.region, fullRetention: retention(second.fullRetention, fullRetention, 'backup.secondaryRepository.fullRetention') });
  }
  const values: Record<string, string> = { __AWS_URL_SUFFIX__: stack.urlSuffix };
  const spec: BackupSpec = {
    repositories: repos.map((repo, i) => {
      const key = i === 0 ? 'BACKUP' : 'BACKUP2';
      values[`__${key}_BUCKET__`] = repo.bucket.bucketName;
      values[`__${key}_REGION__`] = repo.region;
      grant(repo.bucket, clusterName, true);
      return {
        bucket: `__${key}_BUCKET__`,
        region: `__${key}_REGION__`,
        endpoint: `s3.__${key}_REGION__.__AWS_URL_SUFFIX__`,
        path: clusterStanza(clusterName).path,
        uriStyle: 'host' as const,
        retentionFull: repo.fullRetention,
      };
    }),
    archiveTimeoutSeconds,
    schedules: {
      full: (props.fullSchedule ?? BackupSchedule.weekly(BackupWeekday.SUNDAY, { hour: 1 })).expression,
      diff: (props.differentialSchedule ?? BackupSchedule.onCalendar(DEFAULT_DIFF_SCHEDULE)).expression,
    },
  };
  if (standbyOf !== undefined) {
    // The primary's prefix, read-only: its backups and archived WAL.
    grant(bucket, standbyOf, false);
    return { bucket, spec: { ...spec, standbyOf: clusterStanza(standbyOf) }, values, limits };
  }
  if (!props.restoreFrom) return { bucket, spec, values, limits };
  const source = props.restoreFrom.clusterName;
  if (!Token.isUnresolved(source) && (!isClusterName(source) || source === clusterName)) {
    throw new Error(`backup.restoreFrom.clusterName must be another cluster's name (lowercase letters, digits, hyphens), got '${source}'`);
  }
  grant(bucket, source, false);
  const restoreFrom: RestoreSourceSpec = { ...clusterStanza(source), target: (props.restoreFrom.target ?? RestoreTarget.latest()).spec };
  return { bucket, spec: { ...spec, restoreFrom }, values, limits };
}

function createBucket(scope: Construct, clusterName: string): s3.IBucket {
  const key = new kms.Key(scope, 'BackupKey', {
    description: `pgBackRest repository of Patroni cluster ${clusterName}`,
    enableKeyRotation: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const bucket = new s3.Bucket(scope, 'BackupBucket', {
    encryption: s3.BucketEncryption.KMS,
    encryptionKey: key,
    bucketKeyEnabled: true,
    enforceSSL: true,
    minimumTLSVersion: 1.2,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    // Backups outlive the stack: a deleted cluster is restored from them.
    removalPolicy: RemovalPolicy.RETAIN,
    // Versioned: a node's role may delete objects under its prefix (pgBackRest's expire does), so
    // what a compromised node or a mistaken stanza-delete removes stays recoverable for 30 days.
    versioned: true,
    // pgBackRest's retention expires backups and WAL; only what it never tracks is cleaned here.
    lifecycleRules: [
      { id: 'AbortIncompleteUploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      { id: 'ExpireDeletedVersions', noncurrentVersionExpiration: Duration.days(30), expiredObjectDeleteMarker: true },
    ],
  });
  Validations.of(bucket).acknowledge({
    id: 'AwsSolutions-S1',
    reason:
      'Only the cluster\'s node role writes this repository, and pgBackRest logs every backup and archive push on the nodes; ' +
      'object-level access is recorded by CloudTrail data events where the account turns them on.',
  });
  return bucket;
}

/** The objects ARN as cdk-nag spells it in its finding, when the bucket's name or logical ID is known here. */
function nagObjectsResource(bucket: s3.IBucket, prefix: string): string | undefined {
  const cfn = bucket.node.defaultChild;
  if (cfn instanceof s3.CfnBucket) return `<${Stack.of(cfn).getLogicalId(cfn)}.Arn>/${prefix}/*`;
  if (!Token.isUnresolved(bucket.bucketName)) return `arn:<AWS::Partition>:s3:::${bucket.bucketName}/${prefix}/*`;
  return undefined;
}

/**
 * A standby's promotion fences its primary (`failover promote --stack`): the node role (root's,
 * which runs the promotion through Run Command) may put that one object into the primary's prefix.
 */
export function grantFenceWrite(role: iam.IRole, bucket: s3.IBucket, primaryName: string): void {
  role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [bucket.arnForObjects(`${primaryName}/${FENCE_FILE}`)] }));
}

/**
 * Objects under `<prefix>/` and the listing of that prefix (write: also put and delete), and the
 * bucket key's data-key operations.
 */
function grantRepository(role: iam.IRole, bucket: s3.IBucket, prefix: string, write: boolean): void {
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: write ? ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'] : ['s3:GetObject'],
      resources: [bucket.arnForObjects(`${prefix}/*`)],
    }),
  );
  const finding = nagObjectsResource(bucket, prefix);
  if (finding) {
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${finding}]`,
      reason: `pgBackRest names its files itself (backups, WAL segments); the role reaches only the cluster's own prefix ${prefix}/ in the repository.`,
    });
  }
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['s3:ListBucket'],
      resources: [bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [prefix, `${prefix}/*`] } },
    }),
  );
  if (bucket.encryptionKey) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: write ? ['kms:Decrypt', 'kms:GenerateDataKey'] : ['kms:Decrypt'],
        resources: [bucket.encryptionKey.keyArn],
      }),
    );
  }
}
