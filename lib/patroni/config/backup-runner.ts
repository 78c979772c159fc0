// Scheduled backups: backup.py on every node, and the systemd timers that start it. Every node's
// timer fires; the node that leads takes the backup, the others wait until a backup of that kind,
// started after the timer fired, is in every repository, and take it over if the leader changes
// before it is done (a backup cut short by a failover fails cleanly and the new leader runs it).
import { findNode } from './nodes';
import { nodePaths } from './paths';
import { backupRunnerPath, checkedBackup, pgBackRestConfigPath } from './pgbackrest';
import { renderPythonProgram, URL_OPENER_PY } from './python-program';
import { restApiCaFile, restApiUrl } from './rest-api';
import { ClusterSpec } from './spec';
import { SYSTEMD_UNIT_NAMES } from './systemd-units';

export const BACKUP_UNIT_NAMES = {
  service: 'cdk-failover-backup@.service',
  full: 'cdk-failover-backup-full.timer',
  diff: 'cdk-failover-backup-diff.timer',
} as const;

export const BACKUP_TYPES = ['full', 'diff', 'incr'] as const;
export type BackupType = (typeof BACKUP_TYPES)[number];

/** How long a node keeps watching for a scheduled backup, and how often. */
export const BACKUP_RUNNER_TIMING = { windowSeconds: 6 * 3600, intervalSeconds: 30, httpTimeoutSeconds: 5 } as const;

const BODY = String.raw`import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

${URL_OPENER_PY}


OPENER = opener(CONFIG['caFile'])
# pgBackRest's exit code for a lock held by another of its processes (error [050]).
LOCK_ERROR = 50
USAGE = 'usage: backup.py backup full|diff|incr [--once] | stanza-create [ignored...] | info'


def log(message):
    print('cdk-failover backup %s: %s' % (CONFIG['node'], message), file=sys.stderr, flush=True)


def pgbackrest(*args, timeout=None):
    command = ['pgbackrest', '--config=' + CONFIG['config'], '--stanza=' + CONFIG['stanza']] + list(args)
    if os.geteuid() == 0:
        command = ['runuser', '-u', 'postgres', '--'] + command
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)


def leads():
    try:
        with OPENER.open(CONFIG['primaryUrl'], timeout=CONFIG['httpTimeoutSeconds']) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


# pgBackRest turns a diff or incr with no prior full into a full, and an incr may follow any type.
SATISFIES = {'full': ('full',), 'diff': ('diff', 'full'), 'incr': ('incr', 'diff', 'full')}


def done_in(repo, kind, since):
    """A backup that does for kind, started at or after since, is in repository repo."""
    try:
        result = pgbackrest('--repo=%d' % repo, '--output=json', 'info', timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        log('info failed: %s' % e)
        return False
    if result.returncode != 0:
        return False
    try:
        stanzas = json.loads(result.stdout)
    except ValueError:
        return False
    for stanza in stanzas:
        for backup in stanza.get('backup', []):
            if backup.get('type') in SATISFIES[kind] and backup.get('timestamp', {}).get('start', 0) >= since \
                    and backup.get('database', {}).get('repo-key', repo) == repo:
                return True
    return False


def stanza_create():
    try:
        result = pgbackrest('stanza-create', timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        log('stanza-create failed (the next backup retries it): %s' % e)
        return False
    if result.returncode == LOCK_ERROR and stanza_exists():
        # The asynchronous archive-push holds the stanza's archive lock while WAL is queued (all the
        # time under a steady write load), so stanza-create cannot run; the stanza exists anyway.
        log('stanza-create skipped: another pgBackRest process holds its lock, and the stanza exists')
        return True
    if result.returncode != 0:
        log('stanza-create failed (the next backup retries it): ' + last_line(result))
    return result.returncode == 0


def stanza_exists():
    """pgbackrest info lists the stanza (0 ok, 2 no backup yet, 6 a backup or expire running)."""
    try:
        result = pgbackrest('--output=json', 'info', timeout=120)
        stanzas = json.loads(result.stdout) if result.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return False
    return any(s.get('name') == CONFIG['stanza'] and s.get('status', {}).get('code') in (0, 2, 6) for s in stanzas if isinstance(s, dict))


def last_line(result):
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    return lines[-1].strip() if lines else 'exit %d' % result.returncode


def backup(kind, once):
    since = int(time.time())
    deadline = since + CONFIG['windowSeconds']
    pending = list(CONFIG['repositories'])
    while True:
        pending = [repo for repo in pending if not done_in(repo, kind, since)]
        if not pending:
            log('%s backup done in every repository' % kind)
            return 0
        if leads():
            if stanza_create():
                for repo in list(pending):
                    log('%s backup into repository %d' % (kind, repo))
                    try:
                        result = pgbackrest('--repo=%d' % repo, '--type=' + kind, 'backup')
                    except OSError as e:
                        log('%s backup into repository %d failed: %s' % (kind, repo, e))
                        continue
                    if result.returncode == 0:
                        pending.remove(repo)
                    else:
                        log('%s backup into repository %d failed: %s' % (kind, repo, last_line(result)))
                if not pending:
                    log('%s backup done in every repository' % kind)
                    return 0
        elif once:
            log('this node does not lead: the leader takes the backup')
            return 0
        if once or time.time() + CONFIG['intervalSeconds'] > deadline:
            print('cdk-failover: no %s backup completed in repositories %s within %d s (runbook: Backups and point-in-time recovery)'
                  % (kind, ','.join(map(str, pending)), int(time.time()) - since), file=sys.stderr, flush=True)
            return 1
        time.sleep(CONFIG['intervalSeconds'])


def main(argv):
    if len(argv) >= 1 and argv[0] == 'stanza-create':
        # Patroni's post_init (it appends a connection string): never fail the bootstrap for it.
        stanza_create()
        return 0
    if len(argv) == 1 and argv[0] == 'info':
        result = pgbackrest('--output=json', 'info', timeout=120)
        sys.stdout.write(result.stdout)
        return result.returncode
    if len(argv) in (2, 3) and argv[0] == 'backup' and argv[1] in CONFIG['types'] and argv[2:] in ([], ['--once']):
        return backup(argv[1], argv[2:] == ['--once'])
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
`;

/** backup.py for `nodeName`. */
export function renderBackupRunner(spec: ClusterSpec, nodeName: string): string {
  const backup = checkedBackup(spec);
  if (!backup) throw new Error('renderBackupRunner: the spec has no backup settings');
  const node = findNode(spec, nodeName);
  const paths = nodePaths(spec, node);
  return renderPythonProgram(
    [
      `Scheduled backups for node ${node.name} of cluster ${spec.clusterName} (rendered by cdk-failover:`,
      'edits are overwritten). Run by cdk-failover-backup@<type>.service on every node; the leader backs up.',
    ],
    {
      node: node.name,
      stanza: spec.clusterName,
      config: pgBackRestConfigPath(paths),
      primaryUrl: `${restApiUrl(spec, node)}/primary`,
      caFile: restApiCaFile(spec, node.name),
      repositories: backup.repositories.map((_, i) => i + 1),
      types: BACKUP_TYPES,
      ...BACKUP_RUNNER_TIMING,
    },
    BODY,
  );
}

const UNIT_HEADER = (what: string, spec: ClusterSpec, nodeName: string) => `Description=${what} for node ${nodeName} of cluster ${spec.clusterName} (rendered by cdk-failover)`;

/** The service template: `cdk-failover-backup@full.service` runs `backup.py backup full`. */
export function renderBackupService(spec: ClusterSpec, nodeName: string): string {
  const paths = nodePaths(spec, findNode(spec, nodeName));
  return [
    '[Unit]',
    UNIT_HEADER('pgBackRest %i backup', spec, nodeName),
    `After=${SYSTEMD_UNIT_NAMES.patroni}`,
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=/usr/bin/python3 -I ${backupRunnerPath(paths)} backup %i`,
    // It runs (or waits for) a backup; nothing else of the node's should wait on it.
    'Nice=10',
    'IOSchedulingClass=best-effort',
    'IOSchedulingPriority=7',
    '',
  ].join('\n');
}

/** A timer for `kind` at the spec's schedule (UTC). */
export function renderBackupTimer(spec: ClusterSpec, nodeName: string, kind: 'full' | 'diff'): string {
  const backup = checkedBackup(spec);
  if (!backup) throw new Error('renderBackupTimer: the spec has no backup settings');
  return [
    '[Unit]',
    UNIT_HEADER(`Scheduled pgBackRest ${kind} backup`, spec, nodeName),
    '',
    '[Timer]',
    `OnCalendar=${backup.schedules[kind]}`,
    // Not Persistent: a node that missed a run was not the leader then, and catching up alone it
    // would wait for a backup nobody takes.
    `Unit=cdk-failover-backup@${kind}.service`,
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
}
