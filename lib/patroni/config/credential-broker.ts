// The credential broker: IMDS for postgres, with the process role's credentials instead of the
// instance role's. Everything postgres runs (pgBackRest, the metrics publisher, the role-change
// callback, and any COPY ... PROGRAM) asks 169.254.169.254 for credentials; the IMDS firewall sends
// postgres's requests here, and root's alone to IMDS. The process role may only write the
// cluster's metrics and its backup repository; the instance role (the secrets, the stack) stays
// root's. pgBackRest and botocore refresh from here as they would from IMDS, so a backup longer
// than one STS session (an hour: role chaining) keeps going.
import { CREDENTIAL_BROKER_BODY } from './credential-broker-py';
import { renderPythonProgram } from './python-program';
import { ClusterSpec } from './spec';
import { SYSTEMD_UNIT_NAMES } from './systemd-units';

export const CREDENTIAL_BROKER_PROGRAM = '/etc/cdk-failover/credential-broker.py';
export const CREDENTIAL_BROKER_UNIT = 'cdk-failover-credentials.service';
/**
 * Where it listens: loopback, a port the IMDS firewall opens to postgres alone. Below 1024, so no
 * other user can take it while the broker is down.
 */
export const CREDENTIAL_BROKER_ADDRESS = { address: '127.0.0.1', port: 927 } as const;
/** Whose IMDS requests the broker answers (the firewall sends them there; the broker checks the caller's uid too). */
export const BROKER_USERS = ['postgres'] as const;
/** The role name postgres's programs see in IMDS's listing (the real one is in the ARN). */
export const CREDENTIAL_BROKER_ROLE_NAME = 'cdk-failover-process-role';

/** STS session length and refresh, in seconds: a role assumed with role credentials lasts an hour at most. */
export const CREDENTIAL_BROKER_TIMING = {
  durationSeconds: 3600,
  // Credentials handed out have at least this long left: botocore refreshes at 15 minutes, pgBackRest at 5.
  refreshBeforeSeconds: 1800,
  checkSeconds: 60,
  retrySeconds: 10,
  stsTimeoutSeconds: 30,
  /** How long a start may wait for the first credentials (Patroni's start waits for it at boot). */
  readySeconds: 45,
} as const;

function processRoleArn(spec: ClusterSpec): string {
  if (!spec.processRoleArn) throw new Error('spec.processRoleArn is required on an EC2 node: the credential broker hands out that role');
  return spec.processRoleArn;
}

/** The broker for `nodeName` (its session name names the node in CloudTrail). */
export function renderCredentialBroker(spec: ClusterSpec, nodeName: string): string {
  return renderPythonProgram(
    [`Credential broker of node ${nodeName}, cluster ${spec.clusterName} (rendered by cdk-failover: edits are overwritten).`],
    {
      ...CREDENTIAL_BROKER_ADDRESS,
      roleArn: processRoleArn(spec),
      roleName: CREDENTIAL_BROKER_ROLE_NAME,
      users: BROKER_USERS,
      region: spec.awsRegion ?? null,
      // STS: 2-64 of [\w+=,.@-]; the end keeps the node's index.
      sessionName: nodeName.slice(-64),
      maxTokens: 1024,
      ...CREDENTIAL_BROKER_TIMING,
    },
    CREDENTIAL_BROKER_BODY,
  );
}

export function renderCredentialBrokerUnit(spec: ClusterSpec): string {
  return [
    '[Unit]',
    `Description=Credential broker of cluster ${spec.clusterName}: the process role for postgres (rendered by cdk-failover)`,
    'After=network-online.target',
    'Wants=network-online.target',
    `Before=${SYSTEMD_UNIT_NAMES.patroni} ${SYSTEMD_UNIT_NAMES.metrics}`,
    '',
    '[Service]',
    // Ready once it holds the role's first credentials: the agent loads the firewall only then.
    'Type=notify',
    `ExecStart=/usr/bin/python3 -I ${CREDENTIAL_BROKER_PROGRAM}`,
    `TimeoutStartSec=${CREDENTIAL_BROKER_TIMING.readySeconds}`,
    'Restart=always',
    'RestartSec=5s',
    'NoNewPrivileges=yes',
    'PrivateTmp=yes',
    'ProtectSystem=strict',
    'ProtectHome=read-only',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
