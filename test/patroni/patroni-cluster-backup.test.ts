import { Duration, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { BackupSchedule, BackupWeekday, RestoreTarget } from '../../lib';
import { policyStatements as statements, setupCluster as setup } from './cluster-fixture';
import { unpackNode } from './user-data-helpers';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;


describe('PatroniCluster backups', () => {
  const { template, cluster } = setup({ backup: {} });

  test('a versioned bucket with SSE-KMS under a rotated key, TLS only, public access blocked, kept on stack deletion', () => {
    template.resourceCountIs('AWS::S3::Bucket', 1);
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            Match.objectLike({ BucketKeyEnabled: true, ServerSideEncryptionByDefault: Match.objectLike({ SSEAlgorithm: 'aws:kms' }) }),
          ],
        },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        VersioningConfiguration: { Status: 'Enabled' },
        LifecycleConfiguration: {
          Rules: [
            { Id: 'AbortIncompleteUploads', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 }, Status: 'Enabled' },
            { Id: 'ExpireDeletedVersions', NoncurrentVersionExpiration: { NoncurrentDays: 30 }, ExpiredObjectDeleteMarker: true, Status: 'Enabled' },
          ],
        },
      }),
    });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    const policy = JSON.stringify(template.findResources('AWS::S3::BucketPolicy'));
    expect(policy).toContain('"aws:SecureTransport":"false"');
    expect(cluster.backupBucket).toBeDefined();
  });

  test.each(['ProcessRole', 'NodeRole'])("the %s reaches only the cluster's prefix, and the key's data-key operations (the node role may assume the process role: the same rights)", (role) => {
    const s3Statements = statements(template, role).filter((s) => JSON.stringify(s.Action).includes('s3:'));
    expect(s3Statements).toEqual([
      { Action: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'], Effect: 'Allow', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^DbBackupBucket/), 'Arn'] }, '/orders/*']] } },
      {
        Action: 's3:ListBucket',
        Condition: { StringLike: { 's3:prefix': ['orders', 'orders/*'] } },
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^DbBackupBucket/), 'Arn'] },
      },
    ]);
    const kms = statements(template, role).filter((s) => JSON.stringify(s.Action).includes('kms:'));
    expect(kms).toEqual([{ Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^DbBackupKey/), 'Arn'] } }]);
  });

  test("every node's pgbackrest.conf names the bucket and region at deploy time, with IMDS's credentials (the broker's process role)", () => {
    const node = unpackNode(template, 1);
    const conf = node.bundle.files.find((f) => f.path === '/etc/cdk-failover/pgbackrest.conf')!.content;
    expect(conf).toContain('repo1-s3-bucket=__BACKUP_BUCKET__');
    expect(conf).toContain('repo1-s3-endpoint=s3.__BACKUP_REGION__.__AWS_URL_SUFFIX__');
    expect(conf).toContain('repo1-s3-key-type=auto');
    expect(conf).toContain('repo1-path=/orders');
    expect(node.document.values.__BACKUP_REGION__).toBe('eu-west-1');
    expect(node.document.values.__BACKUP_BUCKET__).toBe('test-backup-bucket');
    expect(node.document.values.__AWS_URL_SUFFIX__).toBe('amazonaws.com');
    expect(node.text).toContain('archive_command: pgbackrest --config=/etc/cdk-failover/pgbackrest.conf --stanza=orders archive-push "%p"');
  });

  test('schedules, retention, archive timeout and a second repository reach the nodes', () => {
    // An imported bucket needs only a scope; its name and ARN are plain values.
    const elsewhere = new Stack();
    const { template: withAll } = setup(
      {
        backup: {
          fullRetention: 4,
          archiveTimeout: Duration.seconds(30),
          fullSchedule: BackupSchedule.weekly(BackupWeekday.SATURDAY, { hour: 3, minute: 30 }),
          differentialSchedule: BackupSchedule.daily({ hour: 4 }),
          secondaryRepository: { bucket: s3.Bucket.fromBucketName(elsewhere, 'Imported', 'dr-bucket'), region: 'eu-central-1' },
        },
      },
    );
    const node = unpackNode(withAll, 0);
    const file = (p: string) => node.bundle.files.find((f) => f.path === p)!.content;
    expect(file('/etc/systemd/system/cdk-failover-backup-full.timer')).toContain('OnCalendar=Sat *-*-* 03:30:00 UTC');
    expect(file('/etc/systemd/system/cdk-failover-backup-diff.timer')).toContain('OnCalendar=*-*-* 04:00:00 UTC');
    expect(file('/etc/cdk-failover/pgbackrest.conf')).toContain('repo1-retention-full=4');
    expect(file('/etc/cdk-failover/pgbackrest.conf')).toContain('repo2-s3-bucket=__BACKUP2_BUCKET__');
    expect(node.document.values.__BACKUP2_BUCKET__).toBe('dr-bucket');
    expect(node.document.values.__BACKUP2_REGION__).toBe('eu-central-1');
    expect(node.text).toContain('archive_timeout: 30');
  });

  test('restoreFrom: a pgBackRest bootstrap from the source prefix, read-only', () => {
    const { template: t } = setup({ backup: { restoreFrom: { clusterName: 'old-orders', target: RestoreTarget.time('2026-11-30T12:00:00Z') } } });
    expect(unpackNode(t, 0).text).toContain('method: pgbackrest_restore');
    const read = statements(t, 'ProcessRole').filter((s) => JSON.stringify(s.Resource).includes('/old-orders/*'));
    expect(read.map((s) => s.Action)).toEqual(['s3:GetObject']);
  });

  test.each([
    [{ fullRetention: 0 }, /backup.fullRetention must be a whole number from 1 to 9999, got 0/],
    [{ archiveTimeout: Duration.seconds(5) }, /backup.archiveTimeout must be whole seconds from 10 s to 1 hour, got 5 seconds/],
    [{ archiveTimeout: Duration.hours(2) }, /got 2 hours/],
    [{ restoreFrom: { clusterName: 'orders' } }, /restoreFrom.clusterName must be another cluster's name .* got 'orders'/],
    [{ restoreFrom: { clusterName: 'Old Orders' } }, /got 'Old Orders'/],
  ])('refuses %j at synth', (backup, message) => {
    expect(() => setup({ backup })).toThrow(message);
  });

  test.each([
    [() => BackupSchedule.daily({ hour: 24 }), /hour must be a whole number from 0 to 23, got 24/],
    [() => BackupSchedule.weekly(BackupWeekday.MONDAY, { minute: 60 }), /minute must be a whole number from 0 to 59, got 60/],
    [() => BackupSchedule.onCalendar('daily; rm -rf /'), /is not an OnCalendar expression/],
    [() => RestoreTarget.time('last tuesday'), /'last tuesday' is not an ISO-8601 time with a zone/],
    [() => RestoreTarget.restorePoint('a b'), /must be 1-63 letters/],
  ])('refuses a bad schedule or target: %s', (make, message) => {
    expect(make).toThrow(message);
  });

  test('day two: adding backups changes no instance or launch template, only metadata, the role policy and new resources', () => {
    const before = setup();
    const ofType = (t: typeof template, type: string) => t.findResources(type);
    expect(ofType(template, 'AWS::EC2::Instance')).not.toEqual({}); // guards the comparison below
    const props = (t: typeof template) =>
      Object.fromEntries(Object.entries(ofType(t, 'AWS::EC2::Instance')).map(([id, r]: [string, Json]) => [id, r.Properties]));
    expect(props(template)).toEqual(props(before.template));
    expect(ofType(template, 'AWS::EC2::LaunchTemplate')).toEqual(ofType(before.template, 'AWS::EC2::LaunchTemplate'));
    for (let i = 0; i < 3; i++) expect(unpackNode(template, i).document.generation).not.toBe(unpackNode(before.template, i).document.generation);
    // archive_mode needs a restart: the agent rolls it (replicas, switchover, old leader).
    expect(unpackNode(template, 0).text).toMatch(/archive_mode: ['"]?on['"]?\n/);
  });

  test('no backup prop: no bucket, no key, no archive', () => {
    const { template: t, cluster: c } = setup();
    t.resourceCountIs('AWS::S3::Bucket', 0);
    t.resourceCountIs('AWS::KMS::Key', 0);
    expect(unpackNode(t, 0).text).not.toContain('archive_command');
    expect(c.backupBucket).toBeUndefined();
    expect(Stack.of(c)).toBeDefined();
  });
});
