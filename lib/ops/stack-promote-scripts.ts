// The shell a deployed standby's promotion runs on nodes through Run Command (as root): who leads,
// the primary stopped, the fence written, the promotion. AWS-RunShellScript runs the lines with
// `sh` (dash on Debian 12): POSIX only, no pipefail. Paths are parameters so that the tools tests
// run the same lines against stand-in files and programs.
import { FENCE_FILE } from '../patroni/config/backup-runner';
import { configFilePath, debianNodePaths } from '../patroni/config/paths';
import { pgBackRestConfigPath } from '../patroni/config/pgbackrest';
import { shellQuote } from '../patroni/config/shell';
import { SYSTEMD_UNIT_NAMES } from '../patroni/config/systemd-units';

/** Where the scripts find the node's files (the construct installs PostgreSQL 15 with Debian's layout). */
export interface NodeFiles {
  readonly patroniYml: string;
  readonly pgBackRestConf: string;
  /** How to run psql as PostgreSQL's superuser on the node. @default 'runuser -u postgres -- psql' */
  readonly psql?: string;
}

export const EC2_NODE_FILES: NodeFiles = {
  patroniYml: configFilePath(debianNodePaths(15), 'patroni'),
  pgBackRestConf: pgBackRestConfigPath(debianNodePaths(15)),
};

/** What the promotion script prints on the node that now leads. */
export const PROMOTED_LINE = 'cdk-failover promote: promoted: this node leads';
/** Seconds the promoted node waits to lead. */
export const LEAD_WAIT_SECONDS = 120;

/** The cluster's members as Patroni sees them, JSON on stdout (`patronictl list -f json`). */
export function membersScript(files: NodeFiles = EC2_NODE_FILES): string[] {
  return ['set -eu', `patronictl -c ${shellQuote(files.patroniYml)} list -f json`];
}

/**
 * Stops a node of the old primary: its endpoints first, then Patroni, and checks that no
 * PostgreSQL is left (a paused Patroni leaves it running when it stops).
 */
export function stopNodeScript(): string[] {
  return [
    'set -eu',
    `systemctl stop ${SYSTEMD_UNIT_NAMES.haproxy} ${SYSTEMD_UNIT_NAMES.patroni}`,
    `if pgrep -u postgres -x postgres >/dev/null; then echo "cdk-failover promote: PostgreSQL still runs on $(hostname) after Patroni stopped (a paused cluster?): stop it first" >&2; exit 5; fi`,
    `echo "cdk-failover promote: stopped $(hostname)"`,
  ];
}

/**
 * Writes `primary`'s fence into the bucket this standby's first repository is in (the primary's
 * second repository), with the node role's one PutObject grant on that key.
 */
export function fenceScript(primary: string, promoted: string, at: string, files: NodeFiles = EC2_NODE_FILES): string[] {
  const fence = JSON.stringify({ fenced: primary, promoted, at });
  const conf = shellQuote(files.pgBackRestConf);
  return [
    'set -eu',
    `bucket=$(sed -n 's/^repo1-s3-bucket=//p' ${conf})`,
    `region=$(sed -n 's/^repo1-s3-region=//p' ${conf})`,
    `if [ -z "$bucket" ] || [ -z "$region" ]; then echo 'cdk-failover promote: no repository in ${files.pgBackRestConf}: this cluster was deployed without backup' >&2; exit 3; fi`,
    `printf '%s\\n' ${shellQuote(fence)} | aws s3 cp - "s3://$bucket/${primary}/${FENCE_FILE}" --region "$region" --only-show-errors`,
    `echo "cdk-failover promote: fenced ${primary}: s3://$bucket/${primary}/${FENCE_FILE}"`,
  ];
}

/**
 * On every node: the standby leader removes `standby_cluster` from Patroni's /config and waits to
 * lead; the others say what they are and step aside.
 */
export function promoteScript(files: NodeFiles = EC2_NODE_FILES): string[] {
  const conf = shellQuote(files.patroniYml);
  // Over the local socket, as postgres (peer authentication); nothing while PostgreSQL does not answer.
  const recoveryCheck = `${files.psql ?? 'runuser -u postgres -- psql'} -XtAc 'select pg_is_in_recovery()' 2>/dev/null || true`;
  const roleOf = `import json, sys, yaml; me = yaml.safe_load(open(sys.argv[1]))['name']; print(next((m.get('Role') for m in json.load(sys.stdin) if m.get('Member') == me), 'not a member'))`;
  return [
    'set -eu',
    // python3 fails on what a failed patronictl leaves (no JSON): no pipefail needed.
    `role() { patronictl -c ${conf} list -f json | python3 -c ${shellQuote(roleOf)} ${conf}; }`,
    'r=$(role)',
    `if [ "$r" != 'Standby Leader' ]; then echo "cdk-failover promote: this node is $r, not the standby leader"; exit 0; fi`,
    `config=$(patronictl -c ${conf} show-config)`,
    `case "$config" in *standby_cluster:*) ;; *) echo 'cdk-failover promote: not a standby cluster (its /config has no standby_cluster): nothing to promote' >&2; exit 3 ;; esac`,
    `patronictl -c ${conf} edit-config --force -s standby_cluster=null >/dev/null`,
    // Patroni names the key holder Leader as soon as /config changes: PostgreSQL out of recovery is the promotion.
    `for _ in $(seq 1 ${LEAD_WAIT_SECONDS}); do if [ "$(${recoveryCheck})" = f ]; then echo '${PROMOTED_LINE}'; exit 0; fi; sleep 1; done`,
    `echo 'cdk-failover promote: standby_cluster removed, but PostgreSQL here did not leave recovery within ${LEAD_WAIT_SECONDS} s (its pre_promote, or the promotion, failed: see the Patroni log)' >&2`,
    'exit 4',
  ];
}
