// A node's user data: small and stable on purpose. Everything the node is (packages, files,
// services) is in the instance's CloudFormation metadata, which the node agent reads at boot and
// whenever the stack changes; a change there never touches the instance. This script changes only
// with the stack, the instance's logical ID or the node's name, and with the agent's location.
import { NODE_AGENT_PATH } from './config/agent-units';

/** The metadata key holding the node's desired configuration. */
export const NODE_METADATA_KEY = 'cdk-failover:node';

export interface NodeIdentity {
  /** The stack's name (`AWS::StackName`). */
  readonly stackName: string;
  /** The instance resource's logical ID: whose metadata to read and whose creation to signal. */
  readonly logicalId: string;
  readonly region: string;
  /** The Patroni member name. */
  readonly nodeName: string;
}

const SAFE = /^[A-Za-z0-9-]+$/;

/**
 * The user data: records the node's identity, reads the instance's metadata (retrying for up to
 * five minutes while egress comes up), installs the agent from it and hands the boot to it. A
 * failure before the agent runs still signals CloudFormation, so the deploy fails and rolls back.
 */
export function renderUserData(identity: NodeIdentity): string {
  for (const [key, value] of [['logicalId', identity.logicalId], ['nodeName', identity.nodeName]] as const) {
    if (!SAFE.test(value)) throw new Error(`user data ${key} must be letters, digits and hyphens, got '${value}'`);
  }
  return `#!/bin/bash
# cdk-failover: boots Patroni node ${identity.nodeName}. The node's configuration is in this
# instance's CloudFormation metadata (${NODE_METADATA_KEY}); the node agent reads it now and at
# every stack change, so this script stays the same when the configuration changes.
set -euo pipefail
umask 077
readonly region='${identity.region}' stack='${identity.stackName}' resource='${identity.logicalId}'
readonly state=/var/lib/cdk-failover
readonly agent='${NODE_AGENT_PATH}'

fail() {
  echo "cdk-failover: $1 (runbook: A node's bootstrap failed)" >&2
  local token id
  token="$(curl -sf -m 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token || true)"
  id="$(curl -sf -m 5 -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/instance-id || echo unknown)"
  aws --region "$region" cloudformation signal-resource --stack-name "$stack" --logical-resource-id "$resource" \\
    --unique-id "$id" --status FAILURE >/dev/null 2>&1 || true
  exit 1
}
trap 'fail "the user data stopped at line $LINENO"' ERR

install -d -m 0700 "$state"
printf '{"stackName": "%s", "logicalId": "%s", "region": "%s", "nodeName": "%s"}\\n' \\
  "$stack" "$resource" "$region" '${identity.nodeName}' >"$state/identity.json"

# Egress (NAT gateway, endpoints) may still be coming up: 30 attempts, 10 s apart.
for ((n = 1; ; n++)); do
  if aws --region "$region" cloudformation describe-stack-resource --stack-name "$stack" --logical-resource-id "$resource" \\
    --query StackResourceDetail.Metadata --output text >"$state/metadata.json" 2>"$state/metadata.err"; then break; fi
  ((n < 30)) || fail "cannot read this instance's metadata after 30 attempts: $(grep -v '^[[:space:]]*$' "$state/metadata.err" | tail -n 1)"
  sleep 10
done
python3 -I - "$state/metadata.json" "$agent" <<'CDK_FAILOVER_AGENT' || fail "the instance's metadata holds no node agent"
import base64, gzip, json, os, sys
bundle = json.loads(gzip.decompress(base64.b64decode(json.load(open(sys.argv[1]))['${NODE_METADATA_KEY}']['bundle'])))
agent = next(f for f in bundle['files'] if f['path'] == '${NODE_AGENT_PATH}')
fd = os.open(sys.argv[2] + '.new', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
os.write(fd, agent['content'].encode('utf-8'))
os.close(fd)
os.replace(sys.argv[2] + '.new', sys.argv[2])
CDK_FAILOVER_AGENT
exec /usr/bin/python3 -I "$agent" boot
`;
}
