// The credential broker as the node runs it (Debian's python3), in a network namespace of this
// test's own with the node's IMDS firewall loaded: postgres's requests to IMDS's address reach it,
// real pgBackRest 2.45 takes its credentials, and a failing STS is a 503 and one journal line. STS
// itself is a stub `aws` on PATH here; the booted rehearsal runs the real awscli against the stand-in.
import * as fs from 'fs';
import * as path from 'path';
import { CREDENTIAL_BROKER_ADDRESS, CREDENTIAL_BROKER_ROLE_NAME, renderCredentialBroker, renderCredentialBrokerUnit } from '../../../lib/patroni/config/credential-broker';
import { renderImdsFirewall } from '../../../lib/patroni/config/imds-firewall';
import { ec2Spec, makeTmpDir, removeTmpDir, run } from './fixtures';

/** `aws sts assume-role` as awscli prints it (`--query Credentials`), or AccessDenied when $dir/sts-fails exists. */
const STUB_AWS = `#!/bin/sh
dir=$(dirname "$0")/..
echo "$*" >> "$dir/aws-calls"
if [ -e "$dir/sts-fails" ]; then
  echo "An error occurred (AccessDenied) when calling the AssumeRole operation: not authorized" >&2
  exit 254
fi
cat <<JSON
{"AccessKeyId": "ASIASTUBPROCESSROLE1", "SecretAccessKey": "stub-secret", "SessionToken": "stub-token", "Expiration": "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%S+00:00)"}
JSON
`;

const CREDENTIALS = `/latest/meta-data/iam/security-credentials`;

/** In a fresh network namespace: the firewall, the broker (stub STS), then postgres's view. */
const PROBE = `
set -u
dir=$1
ip link set lo up
ip addr add 169.254.169.254/32 dev lo
nft -f "$dir/imds-firewall.nft"
PATH="$dir/bin:$PATH" /usr/bin/python3 -I "$dir/broker.py" 2> "$dir/broker.log" &
broker=$!
trap 'kill $broker' EXIT
as_pg() { runuser -u postgres -- "$@"; }
for _ in $(seq 1 100); do
  token=$(as_pg curl -s -f -m 1 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token) && \\
    as_pg curl -s -f -m 1 -o /dev/null -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254${CREDENTIALS}/${CREDENTIAL_BROKER_ROLE_NAME} && break
  [ -e "$dir/sts-fails" ] && [ -s "$dir/aws-calls" ] && break
  sleep 0.1
done
code() { as_pg curl -s -m 2 -o /dev/null -w '%{http_code}' "$@"; }
echo "no-token $(code http://169.254.169.254${CREDENTIALS}/)"
echo "bad-ttl $(code -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 0' http://169.254.169.254/latest/api/token)"
echo "listing $(as_pg curl -s -m 2 -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254${CREDENTIALS}/)"
echo "instance-id $(code -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/instance-id)"
echo "credentials $(code -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254${CREDENTIALS}/${CREDENTIAL_BROKER_ROLE_NAME})"
as_pg curl -s -m 2 -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254${CREDENTIALS}/${CREDENTIAL_BROKER_ROLE_NAME} > "$dir/document.json"
# pgBackRest (repo1-s3-key-type=auto) asks IMDS, gets the broker, and goes on to S3 (nobody there).
as_pg pgbackrest --config="$dir/pgbackrest.conf" --stanza=orders --log-level-console=error --log-level-file=off repo-ls > "$dir/pgbackrest.out" 2>&1
echo "pgbackrest $?"
echo "forwarded $(code -X PUT -H 'X-Forwarded-For: 10.0.0.9' -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token)"
# Without the firewall, the broker's own check: postgres alone, by the uid of the connection's other end.
nft delete table inet cdk_failover_imds
broker_url=http://${CREDENTIAL_BROKER_ADDRESS.address}:${CREDENTIAL_BROKER_ADDRESS.port}/latest/api/token
for user in postgres nobody root; do
  echo "direct $user $(runuser -u $user -- curl -s -m 2 -o /dev/null -w '%{http_code}' -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' $broker_url)"
done
`;

const PGBACKREST_CONF = `[global]
repo1-type=s3
repo1-path=/orders
repo1-s3-bucket=orders-repository
repo1-s3-region=eu-west-1
repo1-s3-endpoint=s3.eu-west-1.amazonaws.com
repo1-s3-key-type=auto
repo1-storage-host=127.0.0.1
repo1-storage-port=4433
io-timeout=2
`;

async function probe(stsFails: boolean): Promise<{ lines: string[]; dir: string }> {
  const dir = makeTmpDir('broker');
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.writeFileSync(path.join(dir, 'bin', 'aws'), STUB_AWS, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'broker.py'), renderCredentialBroker(ec2Spec(), 'orders-db-1'));
  fs.writeFileSync(path.join(dir, 'imds-firewall.nft'), renderImdsFirewall());
  fs.writeFileSync(path.join(dir, 'pgbackrest.conf'), PGBACKREST_CONF, { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'probe.sh'), PROBE);
  if (stsFails) fs.writeFileSync(path.join(dir, 'sts-fails'), '');
  const r = await run('unshare', ['--net', 'bash', path.join(dir, 'probe.sh'), dir], { timeoutMs: 90_000 });
  expect(r.stderr).toBe('');
  return { lines: r.stdout.trim().split('\n'), dir };
}

describe('the credential broker', () => {
  test("postgres asking IMDS gets the process role's credentials in IMDS's shape, nothing else; pgBackRest takes them", async () => {
    const { lines, dir } = await probe(false);
    try {
      expect(lines.slice(0, 5)).toEqual(['no-token 401', 'bad-ttl 400', `listing ${CREDENTIAL_BROKER_ROLE_NAME}`, 'instance-id 404', 'credentials 200']);
      const document = JSON.parse(fs.readFileSync(path.join(dir, 'document.json'), 'utf8'));
      expect(document).toEqual({
        Code: 'Success',
        LastUpdated: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
        Type: 'AWS-HMAC',
        AccessKeyId: 'ASIASTUBPROCESSROLE1',
        SecretAccessKey: 'stub-secret',
        Token: 'stub-token',
        Expiration: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      });
      const left = Date.parse(document.Expiration) - Date.now();
      expect(left).toBeGreaterThan(50 * 60_000);
      expect(left).toBeLessThanOrEqual(60 * 60_000);
      // The broker assumed the role once, through the regional endpoint, for the node's session.
      expect(fs.readFileSync(path.join(dir, 'aws-calls'), 'utf8').trim().split('\n')).toEqual([
        'sts assume-role --region eu-west-1 --role-arn arn:aws:iam::123456789012:role/orders-db-ProcessRole --role-session-name orders-db-1 --duration-seconds 3600 --query Credentials --output json',
      ]);
      // Past the credentials, to S3's connection: pgBackRest parsed what the broker gave it.
      expect(lines[5]).not.toBe('pgbackrest 0');
      // A request through a proxy, as IMDS does; then, without the firewall, the broker's own uid check.
      expect(lines.slice(6)).toEqual(['forwarded 403', 'direct postgres 200', 'direct nobody 403', 'direct root 403']);
      const out = fs.readFileSync(path.join(dir, 'pgbackrest.out'), 'utf8');
      expect(out).toMatch(/127\.0\.0\.1:4433|s3\.eu-west-1\.amazonaws\.com/);
      expect(out).not.toMatch(/credential|security-credentials|169\.254/i);
      expect(fs.readFileSync(path.join(dir, 'broker.log'), 'utf8')).toContain('credentials of arn:aws:iam::123456789012:role/orders-db-ProcessRole until ');
    } finally {
      removeTmpDir(dir);
    }
  }, 120_000);

  test('STS refusing: the credentials answer 503, the journal names the role and what STS said, the broker keeps serving', async () => {
    const { lines, dir } = await probe(true);
    try {
      expect(lines.slice(0, 5)).toEqual(['no-token 401', 'bad-ttl 400', `listing ${CREDENTIAL_BROKER_ROLE_NAME}`, 'instance-id 404', 'credentials 503']);
      expect(fs.readFileSync(path.join(dir, 'broker.log'), 'utf8')).toContain(
        'cannot assume arn:aws:iam::123456789012:role/orders-db-ProcessRole (next attempt in 10 s): An error occurred (AccessDenied) when calling the AssumeRole operation: not authorized',
      );
    } finally {
      removeTmpDir(dir);
    }
  }, 120_000);

  test('its unit: root, ready once it holds credentials, restarted, hardened, before Patroni and the metrics publisher; systemd-analyze has nothing to say', async () => {
    const unit = renderCredentialBrokerUnit(ec2Spec());
    expect(unit).toContain('Type=notify\n');
    expect(unit).toContain('TimeoutStartSec=45\n');
    expect(unit).toContain('ExecStart=/usr/bin/python3 -I /etc/cdk-failover/credential-broker.py\n');
    expect(unit).toContain('Before=cdk-failover-patroni.service cdk-failover-metrics.service\n');
    expect(unit).not.toContain('User=');
    const dir = makeTmpDir('broker-unit');
    try {
      const file = path.join(dir, 'cdk-failover-credentials.service');
      fs.writeFileSync(file, unit);
      const verify = await run('systemd-analyze', ['verify', file], { timeoutMs: 60_000 });
      expect({ code: verify.code, stderr: verify.stderr }).toEqual({ code: 0, stderr: '' });
    } finally {
      removeTmpDir(dir);
    }
  }, 120_000);

  test('an EC2 spec without the process role is refused when rendered', () => {
    expect(() => renderCredentialBroker(ec2Spec({ processRoleArn: undefined }), 'orders-db-0')).toThrow(
      'spec.processRoleArn is required on an EC2 node: the credential broker hands out that role',
    );
  });
});
