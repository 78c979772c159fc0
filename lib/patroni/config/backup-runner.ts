// Scheduled backups: backup.py on every node, and the systemd timers that start it. Every node's
// timer fires; the leader's view of the cluster names the node that backs up (the first streaming
// replica by name, with the leader as pg2 through pgBackRest's TLS server, so the leader's disks are
// spared; the leader itself when no replica streams or the cluster has no TLS). The others wait
// until a backup of that kind, started after the timer fired, is in every repository, and take it
// over when the view changes before it is done (a backup cut short by a failover fails cleanly).
import { findNode } from './nodes';
import { nodePaths } from './paths';
import { backsUpFromStandby, backupRunnerPath, checkedBackup, pgBackRestConfigPath, standbyBackupSettings } from './pgbackrest';
import { renderPythonProgram, URL_OPENER_PY } from './python-program';
import { restApiCaFile, restApiUrl } from './rest-api';
import { ClusterSpec } from './spec';
import { SYSTEMD_UNIT_NAMES } from './systemd-units';

export const BACKUP_UNIT_NAMES = {
  service: 'cdk-failover-backup@.service',
  full: 'cdk-failover-backup-full.timer',
  diff: 'cdk-failover-backup-diff.timer',
  /** pgBackRest's TLS server (with TLS only): a replica's backup reaches the leader through it. */
  server: 'cdk-failover-pgbackrest-server.service',
} as const;

/** The backup units the agent enables and restarts (the timers; with TLS, the TLS server too). */
export function backupUnitsToRun(spec: ClusterSpec): string[] {
  if (!checkedBackup(spec)) return [];
  return [BACKUP_UNIT_NAMES.full, BACKUP_UNIT_NAMES.diff, ...(backsUpFromStandby(spec) ? [BACKUP_UNIT_NAMES.server] : [])];
}

export const BACKUP_TYPES = ['full', 'diff', 'incr'] as const;

/**
 * A cluster's fence: this file in its repository path, written when a standby of it is promoted
 * (`failover promote`). Patroni's pre_promote (`backup.py fence-check`) then refuses every promotion
 * of the old cluster, so a region that comes back after the promotion stays read-only.
 */
export const FENCE_FILE = 'fence.json';
/** Seconds a fence check may take per repository: Patroni holds the leader key while it runs. */
export const FENCE_TIMEOUT_SECONDS = 5;

/** Patroni's pre_promote for a cluster with backups. */
export function fenceCheckCommand(spec: ClusterSpec, nodeName: string): string {
  return `${backupRunnerPath(nodePaths(spec, findNode(spec, nodeName)))} fence-check`;
}
export type BackupType = (typeof BACKUP_TYPES)[number];

/** How long a node keeps watching for a scheduled backup, and how often. */
export const BACKUP_RUNNER_TIMING = { windowSeconds: 6 * 3600, intervalSeconds: 30, httpTimeoutSeconds: 5, stanzaLockRetrySeconds: 20 } as const;

/** What the runner prints (stderr) on the node that took the backup. */
export const RUNNER_BACKUP_DONE = /backup done in every repository$/m;

/**
 * Why the runner's backup failed, from its stderr: pgBackRest's error from its last `... backup into
 * repository N failed: ...` or `stanza-create failed (...): ...` (the cause: credentials, the
 * network), or undefined when it logged none.
 */
export function runnerFailureCause(stderr: string): string | undefined {
  const causes = stderr
    .split('\n')
    .map((l) => /(?:backup into repository \d+|stanza-create) failed(?: \(the next backup retries it\))?: (.+)$/.exec(l)?.[1]?.trim())
    .filter((l): l is string => !!l);
  return causes.pop();
}

const BODY = String.raw`import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

${URL_OPENER_PY}


_OPENER = []


def rest_opener():
    """Made on first use: fence-check, Patroni's pre_promote, never reads the CA file."""
    if not _OPENER:
        _OPENER.append(opener(CONFIG['caFile']))
    return _OPENER[0]
# pgBackRest's exit code for a lock held by another of its processes (error [050]).
LOCK_ERROR = 50
USAGE = 'usage: backup.py backup full|diff|incr [--once] | who | stanza-create [ignored...] | info | fence-check'


def log(message):
    print('cdk-failover backup %s: %s' % (CONFIG['node'], message), file=sys.stderr, flush=True)


def pgbackrest(*args, timeout=None):
    command = ['pgbackrest', '--config=' + CONFIG['config'], '--stanza=' + CONFIG['stanza']] + list(args)
    if os.geteuid() == 0:
        command = ['runuser', '-u', 'postgres', '--'] + command
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)


def get_json(url):
    try:
        with rest_opener().open(url, timeout=CONFIG['httpTimeoutSeconds']) as answer:
            return json.loads(answer.read().decode('utf-8'))
    except (urllib.error.URLError, OSError, ValueError):
        return None


def cluster_view(url):
    view = get_json(url)
    return view if isinstance(view, dict) and isinstance(view.get('members'), list) else None


def following_primary():
    """This cluster's /config follows a primary (standby_cluster), whether or not its standby leader runs now."""
    config = get_json(CONFIG['configUrl'])
    return isinstance(config, dict) and bool(config.get('standby_cluster'))


def leader_of(view):
    return next((m for m in view['members'] if isinstance(m, dict) and m.get('role') == 'leader'), None)


def plan():
    """Who backs up now, as the leader sees the cluster: {'node', 'leader'}, {'standbyCluster'} in a
    standby cluster, or None while no leader answers. Every node asks the same member, so they agree on one."""
    own = cluster_view(CONFIG['clusterUrls'][CONFIG['node']])
    if (own and any(isinstance(m, dict) and m.get('role') == 'standby_leader' for m in own['members'])) or following_primary():
        return {'standbyCluster': True}
    leader = own and leader_of(own)
    if not leader or leader.get('name') not in CONFIG['clusterUrls']:
        return None
    name = leader['name']
    view = own if name == CONFIG['node'] else cluster_view(CONFIG['clusterUrls'][name])
    if not view or (leader_of(view) or {}).get('name') != name:
        return None
    if CONFIG['standby']:
        timeline = leader_of(view).get('timeline')
        streaming = sorted(
            m['name'] for m in view['members']
            if isinstance(m, dict) and m.get('role') in ('replica', 'sync_standby') and m.get('state') in ('running', 'streaming')
            and isinstance(m.get('lag'), int) and m.get('timeline') == timeline and m.get('name') in CONFIG['clusterUrls'])
        if streaming:
            return {'node': streaming[0], 'leader': name}
    return {'node': name, 'leader': name}


def leader_args(leader):
    """The leader as pg2, through its TLS server (this replica is pg1: a standby backup copies its files)."""
    s = CONFIG['standby']
    m = s['members'][leader]
    return ['--pg2-host=' + m['address'], '--pg2-host-type=tls', '--pg2-host-port=%d' % s['port'],
            '--pg2-host-cert-file=' + s['certFile'], '--pg2-host-key-file=' + s['keyFile'], '--pg2-host-ca-file=' + s['caFile'],
            '--pg2-path=' + m['dataDir'], '--pg2-socket-path=' + m['socketDir'], '--pg2-port=%d' % s['pgPort'], '--pg2-user=' + s['user']]


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


def stanza_create(extra=()):
    deadline = time.time() + CONFIG['stanzaLockRetrySeconds']
    while True:
        try:
            result = pgbackrest(*extra, 'stanza-create', timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            log('stanza-create failed (the next backup retries it): %s' % e)
            return False
        if result.returncode != LOCK_ERROR:
            break
        if stanza_exists():
            # The asynchronous archive-push holds the stanza's archive lock while WAL is queued (all the
            # time under a steady write load), so stanza-create cannot run; the stanza exists anyway.
            log('stanza-create skipped: another pgBackRest process holds its lock, and the stanza exists')
            return True
        if time.time() >= deadline:
            break
        # A new stanza (a promoted standby): archive-push fails without it and frees its lock between tries.
        time.sleep(1)
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
    """pgBackRest's last ERROR line (a HINT may follow it), else the last line."""
    lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith('ERROR:')]
    return (errors or lines or ['exit %d' % result.returncode])[-1]


def backup(kind, once):
    since = int(time.time())
    deadline = since + CONFIG['windowSeconds']
    pending = list(CONFIG['repositories'])
    while True:
        pending = [repo for repo in pending if not done_in(repo, kind, since)]
        if not pending:
            log('%s backup done in every repository' % kind)
            return 0
        who = plan()
        if who and who.get('standbyCluster'):
            # Its data is the primary's repository; its own backups start when it is promoted.
            log('a standby cluster: no %s backup until it is promoted' % kind)
            return 0
        if who and who['node'] == CONFIG['node']:
            standby = who['leader'] != CONFIG['node']
            extra = leader_args(who['leader']) if standby else []
            source = 'this replica (the leader %s spared)' % who['leader'] if standby else 'the leader'
            if stanza_create(extra):
                for repo in list(pending):
                    log('%s backup into repository %d from %s' % (kind, repo, source))
                    try:
                        result = pgbackrest(*extra, *(['--backup-standby'] if standby else []), '--repo=%d' % repo, '--type=' + kind, 'backup')
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
            log('%s takes the backup, not this node' % who['node'] if who else 'no leader answers: no node is named to back up')
            return 0
        if once or time.time() + CONFIG['intervalSeconds'] > deadline:
            print('cdk-failover: no %s backup completed in repositories %s within %d s (runbook: Backups and point-in-time recovery)'
                  % (kind, ','.join(map(str, pending)), int(time.time()) - since), file=sys.stderr, flush=True)
            return 1
        time.sleep(CONFIG['intervalSeconds'])


def fence_check():
    """Patroni's pre_promote: 1 (no promotion) when a repository holds this cluster's fence, written when a
    standby of it was promoted in its place; 0 otherwise. A repository that cannot be read in time does not
    block the promotion: the fence guards a returning region, and must not stop every failover while S3 is out."""
    for repo in CONFIG['repositories']:
        try:
            result = pgbackrest('--repo=%d' % repo, 'repo-get', '--ignore-missing', CONFIG['fenceFile'], timeout=CONFIG['fenceTimeoutSeconds'])
        except (OSError, subprocess.TimeoutExpired) as e:
            log('fence check: repository %d not read (%s): the promotion goes ahead' % (repo, e))
            continue
        if result.returncode == 0:
            log('promotion refused: this cluster is fenced (%s in repository %d: %s); '
                'rebuild it as a standby of the promoted cluster (docs/regional-recovery.md)' % (CONFIG['fenceFile'], repo, result.stdout.strip()[:300]))
            return 1
        if result.returncode != 1:
            log('fence check: repository %d not read (%s): the promotion goes ahead' % (repo, last_line(result)))
    return 0


def main(argv):
    if len(argv) >= 1 and argv[0] == 'stanza-create':
        # Patroni's post_init (it appends a connection string): never fail the bootstrap for it.
        stanza_create()
        return 0
    if argv == ['who']:
        who = plan()
        print(json.dumps(who))
        return 0 if who else 1
    if len(argv) == 1 and argv[0] == 'info':
        result = pgbackrest('--output=json', 'info', timeout=120)
        sys.stdout.write(result.stdout)
        return result.returncode
    if argv == ['fence-check']:
        try:
            return fence_check()
        except Exception as e:  # noqa: BLE001 - a broken check must not leave the cluster without a leader
            log('fence check failed (%s: %s): the promotion goes ahead' % (type(e).__name__, e))
            return 0
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
      'edits are overwritten). Run by cdk-failover-backup@<type>.service on every node; the node the leader names backs up.',
    ],
    {
      node: node.name,
      stanza: spec.clusterName,
      config: pgBackRestConfigPath(paths),
      clusterUrls: Object.fromEntries(spec.nodes.map((n) => [n.name, `${restApiUrl(spec, n)}/cluster`])),
      configUrl: `${restApiUrl(spec, node)}/config`,
      caFile: restApiCaFile(spec, node.name),
      standby: standbyBackupSettings(spec, node),
      repositories: backup.repositories.map((_, i) => i + 1),
      types: BACKUP_TYPES,
      fenceFile: FENCE_FILE,
      fenceTimeoutSeconds: FENCE_TIMEOUT_SECONDS,
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

/**
 * pgBackRest's TLS server, as postgres. It reads its configuration and certificates when it starts:
 * the agent restarts it when either changes (a backup from a replica running then fails and is retried).
 */
export function renderBackupServerUnit(spec: ClusterSpec, nodeName: string): string {
  const paths = nodePaths(spec, findNode(spec, nodeName));
  return [
    '[Unit]',
    UNIT_HEADER("pgBackRest's TLS server (backups from a replica)", spec, nodeName),
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    'User=postgres',
    'Group=postgres',
    `ExecStart=/usr/bin/pgbackrest --config=${pgBackRestConfigPath(paths)} server`,
    'Restart=always',
    'RestartSec=5s',
    'NoNewPrivileges=yes',
    'PrivateTmp=yes',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
