// The body of the node metrics publisher: Python 3 with the standard library only (Debian 12's
// /usr/bin/python3). It is the same for every node; renderMetricsPublisher puts `import json` and
// the node's CONFIG (a JSON object) in front of it.
import { PATRONI_TIMING_CHECK_PY } from './patroni-version-py';
import { URL_OPENER_PY } from './python-program';

/**
 * Reads CONFIG, samples Patroni's REST API and etcd's health every `sampleSeconds`, keeps the
 * "last healthy primary seen" mark in `markFile` up to date, and publishes the gauges with one
 * `aws cloudwatch put-metric-data` every `intervalSeconds` (in the background, killed after
 * `awsTimeoutSeconds`). With backups, the primary adds the archiver's state (psql over the local
 * socket) and the repository's newest backup and size (`pgbackrest info` in the background every
 * `probeSeconds`). `--once`: one sample, one publish (waited for), the metric data on stdout.
 */
export const METRICS_PUBLISHER_BODY = String.raw`import datetime
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

NODE = CONFIG['node']
GAUGE = CONFIG['gauges']


${URL_OPENER_PY}


OPENER = opener(CONFIG['caFile'])


${PATRONI_TIMING_CHECK_PY}

def log(message):
    print('metrics publisher %s: %s' % (NODE, message), file=sys.stderr, flush=True)


def get_json(url):
    """The JSON body of GET url (also of an error status), or None without an answer."""
    try:
        with OPENER.open(url, timeout=CONFIG['httpTimeoutSeconds']) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as error:
        try:
            return json.load(error)
        except Exception:
            return None
    except Exception:
        return None


def number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def read_mark():
    """(epoch, leader) of the last healthy primary this node saw, or None."""
    try:
        with open(CONFIG['markFile']) as f:
            epoch, leader = f.read().split()[:2]
        return int(epoch), leader
    except (OSError, ValueError):
        return None


def write_mark(leader, now):
    tmp = '%s.%d' % (CONFIG['markFile'], os.getpid())
    try:
        with open(tmp, 'w') as f:
            f.write('%d %s\n' % (now, leader))
        os.replace(tmp, CONFIG['markFile'])
    except OSError as error:
        log('could not write %s: %s' % (CONFIG['markFile'], error))


def running_primary(status):
    return isinstance(status, dict) and status.get('state') == 'running' and status.get('role') in ('master', 'primary')


def running_leader(status):
    """A running primary, or a standby cluster's running standby leader (its replicas stream from it)."""
    return running_primary(status) or (isinstance(status, dict) and status.get('state') == 'running' and status.get('role') == 'standby_leader')


def epoch_seconds(timestamp):
    """Patroni's str() of a datetime with its zone ('2026-12-03 06:40:00.123+00:00'), or None."""
    try:
        return datetime.datetime.fromisoformat(timestamp).timestamp() if isinstance(timestamp, str) else None
    except ValueError:
        return None


CERTIFICATE_ERRORS = {}


def certificate_end(path):
    """When the certificate in the file (its first) ends, epoch seconds; None when it cannot be read.
    Never raises: a failure here must not cost the node's other gauges."""
    try:
        # CPython's own decoder (private, present in Debian 12's 3.11; any failure is caught):
        # notAfter as OpenSSL prints it.
        end = int(ssl.cert_time_to_seconds(ssl._ssl._test_decode_cert(path)['notAfter']))
        CERTIFICATE_ERRORS.pop(path, None)
        return end
    except Exception as error:  # noqa: BLE001
        if CERTIFICATE_ERRORS.get(path) != repr(error):  # once per new error, not every sample
            log('certificate %s unreadable: %r' % (path, error))
        CERTIFICATE_ERRORS[path] = repr(error)
        return None


def sample(now):
    """The gauges, by metric name; records the mark when a healthy primary is seen."""
    me = get_json(CONFIG['restApi'][NODE] + '/patroni')
    me = me if isinstance(me, dict) else {}
    cluster = get_json(CONFIG['restApi'][NODE] + '/cluster')
    members = cluster.get('members') if isinstance(cluster, dict) else None
    running = me.get('state') == 'running'
    primary = running_primary(me)
    replica = running and me.get('role') == 'replica'

    # The leader the DCS names (a standby leader in a standby cluster), if running, and (when it
    # is another node) its own answer.
    leader = None
    for m in members if isinstance(members, list) else []:
        if isinstance(m, dict) and m.get('role') in ('leader', 'standby_leader') and m.get('state') == 'running':
            leader = m
    leader_status = None
    if leader and leader.get('name') != NODE and leader.get('name') in CONFIG['restApi']:
        answer = get_json(CONFIG['restApi'][leader['name']] + '/patroni')
        leader_status = answer if running_leader(answer) else None

    # The mark: another node answering as a running primary, or this one once its promotion has
    # been handled (the callback marks it; before that, the callback still has to read the mark).
    if running_primary(leader_status):
        write_mark(leader['name'], now)
    elif primary and (read_mark() or (0, NODE))[1] == NODE:
        write_mark(NODE, now)

    lag = 0 if primary else None
    if replica:
        # A standby leader has no write location: its replicas are behind what it has replayed.
        leader_xlog = (leader_status or {}).get('xlog', {})
        location = number(leader_xlog.get('location', leader_xlog.get('replayed_location')))
        replayed = number(me.get('xlog', {}).get('replayed_location'))
        if location is not None and replayed is not None:
            lag = max(0, location - replayed)
        else:  # the leader did not answer: the DCS's view, at most a loop old
            mine = [m for m in members or [] if isinstance(m, dict) and m.get('name') == NODE]
            lag = number(mine[0].get('lag')) if mine else None
    streaming = any(
        isinstance(r, dict) and r.get('application_name') == NODE and r.get('state') == 'streaming'
        for r in (leader_status or {}).get('replication') or []
    )
    etcd = get_json(CONFIG['etcdHealthUrl'])
    seen = number(me.get('dcs_last_seen'))

    gauges = {
        GAUGE['isPrimary']: int(primary),
        GAUGE['isReplica']: int(replica),
        GAUGE['healthyReplica']: int(replica and streaming and lag is not None and lag <= CONFIG['replicaMaxLagBytes']),
        GAUGE['postgresRunning']: int(running),
        GAUGE['etcdHealthy']: int(isinstance(etcd, dict) and str(etcd.get('health')).lower() == 'true'),
    }
    # Unknown values are left out rather than guessed.
    if lag is not None:
        gauges[GAUGE['replicationLagBytes']] = lag
    if seen:
        gauges[GAUGE['dcsLastSeenAgeSeconds']] = max(0, now - seen)
    replayed = epoch_seconds(me.get('xlog', {}).get('replayed_timestamp')) if running and me.get('role') == 'standby_leader' else None
    if replayed is not None:
        gauges[GAUGE['standbyReplayAgeSeconds']] = max(0, now - replayed)
    lag_bytes = streamed_lag_bytes() if CONFIG['standbyStreams'] and running and me.get('role') == 'standby_leader' else None
    if lag_bytes is not None:
        gauges[GAUGE['standbyReplayLagBytes']] = lag_bytes
    ends = [end for end in map(certificate_end, CONFIG['certificates']) if end is not None]
    if ends:
        gauges[GAUGE['certificateExpirySeconds']] = min(ends) - now
    # The version the running Patroni reports, in patroni --version's words; unreadable: left out.
    version = 'patroni %s' % (me.get('patroni') or {}).get('version')
    if patroni_version(version):
        gauges[GAUGE['timingAdjusted']] = int(timing_adjustment(version, CONFIG['timing']) is not None)
    return gauges


def metric_data(gauges):
    dimensions = [{'Name': name, 'Value': value} for name, value in CONFIG['dimensions']]
    return [
        {'MetricName': name, 'Dimensions': dimensions, 'Value': gauges[name], 'Unit': CONFIG['units'].get(name, 'None')}
        for name in GAUGE.values() if name in gauges
    ]


class Background:
    """One command at a time, in the background, killed after timeout seconds; stdout to a file."""

    def __init__(self, what, timeout):
        self.what = what
        self.timeout = timeout
        self.proc = None
        self.out = None
        self.started = 0.0

    def busy(self):
        return self.proc is not None

    def start(self, argv):
        """False (logged) when the command could not be started."""
        self.out = tempfile.TemporaryFile(mode='w+')
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.out)
            return True
        except OSError as error:
            log('could not run %s: %s' % (self.what, error))
            self.out.close()
            return False

    def reap(self, wait=False):
        """(exit code or why it was killed, stdout) once the command has ended, else None."""
        if self.proc is None:
            return None
        try:
            code = self.proc.wait(max(0.0, self.started + self.timeout - time.monotonic()) if wait else 0)
        except subprocess.TimeoutExpired:
            if time.monotonic() - self.started < self.timeout:
                return None
            self.proc.kill()
            code = 'killed after %d s' % self.timeout
            self.proc.wait()
        self.proc = None
        self.out.seek(0)
        output = self.out.read()
        self.out.close()
        return code, output


class Publisher:
    """One put-metric-data at a time, never for longer than the timeout."""

    def __init__(self):
        self.job = Background('aws', CONFIG['awsTimeoutSeconds'])
        self.file = None
        self.warned = False

    def reap(self, wait=False):
        """True while the previous call still runs."""
        done = self.job.reap(wait)
        if done is not None:
            if done[0] != 0:
                log('metrics not published (aws: %s)' % done[0])
            os.unlink(self.file)
        return self.job.busy()

    def publish(self, data):
        aws = shutil.which('aws')
        if aws is None:
            if not self.warned:
                log('no aws command on PATH: metrics are not published')
            self.warned = True
            return
        if self.reap():
            log('the previous put-metric-data still runs: this interval is skipped')
            return
        fd, self.file = tempfile.mkstemp(prefix='cdk-failover-metrics-', suffix='.json')
        with os.fdopen(fd, 'w') as f:
            json.dump(data, f)
        region = ['--region', CONFIG['region']] if CONFIG['region'] else []
        argv = [aws, 'cloudwatch', 'put-metric-data'] + region + ['--namespace', CONFIG['namespace'], '--metric-data', 'file://' + self.file]
        if not self.job.start(argv):
            os.unlink(self.file)


BACKUP = CONFIG['backup']
# Whether the latest archive attempt failed; how long the oldest finished WAL segment has been
# waiting to be archived (0 when none waits: an idle primary archives nothing and is not late); and
# when the database was created (initdb: the system identifier's high 32 bits are its epoch second).
ARCHIVER_SQL = (
    "SELECT coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false)::int, "
    "coalesce((SELECT extract(epoch FROM now() - min(modification))::bigint "
    "FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'), 0), "
    "(SELECT system_identifier >> 32 FROM pg_control_system()) FROM pg_stat_archiver"
)
# A streaming standby leader: how far its replay is behind the primary's WAL position as the
# primary's WAL sender last reported it; -1 while it does not stream (the repository shows no
# position of the primary's).
STANDBY_LAG_SQL = (
    "SELECT coalesce((SELECT greatest(0, pg_wal_lsn_diff(latest_end_lsn, pg_last_wal_replay_lsn()))::bigint "
    "FROM pg_stat_wal_receiver WHERE status = 'streaming' AND latest_end_lsn IS NOT NULL), -1)"
)


def psql_values(sql):
    """The words of psql's one-row answer over the local socket, as the superuser."""
    answer = subprocess.run(
        ['psql', '-XAtq', '-h', BACKUP['socketDir'], '-p', str(BACKUP['port']), '-U', BACKUP['user'],
         '-d', 'postgres', '-F', ' ', '-c', sql],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        timeout=CONFIG['httpTimeoutSeconds'])
    return answer.stdout.split()


def streamed_lag_bytes():
    """StandbyReplayLagBytes, or None (not streaming, or PostgreSQL did not answer: left out)."""
    try:
        (lag,) = (int(v) for v in psql_values(STANDBY_LAG_SQL))
    except (OSError, ValueError, subprocess.TimeoutExpired) as error:
        log('standby lag in bytes unknown (psql: %r)' % (error,))
        return None
    return lag if lag >= 0 else None


class Repository:
    """The newest backup's end and the backups' size in repository 1, from pgbackrest info, asked
    in the background every probeSeconds while this node is the primary (the repository is the
    same from every node; one asker is enough)."""

    def __init__(self):
        self.job = Background('pgbackrest', BACKUP['infoTimeoutSeconds'])
        self.due = 0.0
        self.newest = None
        self.size = None

    def refresh(self, primary, wait=False):
        if not primary:
            self.due, self.newest, self.size = 0.0, None, None
        elif not self.job.busy() and time.monotonic() >= self.due:
            self.due = time.monotonic() + BACKUP['probeSeconds']
            self.job.start(['pgbackrest', '--config=' + BACKUP['config'], '--stanza=' + BACKUP['stanza'],
                            '--repo=1', '--output=json', 'info'])
        done = self.job.reap(wait)
        if done is not None:
            self.read(*done)

    def read(self, code, output):
        """Unknown (left out) unless pgbackrest answered with the stanza."""
        self.newest, self.size = None, None
        if code != 0:
            log('backup age unknown (pgbackrest info: %s)' % code)
            return
        try:
            stanzas = [s for s in json.loads(output) if isinstance(s, dict) and s.get('name') == BACKUP['stanza']]
            backups = stanzas[0].get('backup') or [] if stanzas else []
            stops = [b['timestamp']['stop'] for b in backups]
            self.size = sum(b['info']['repository']['delta'] for b in backups)
            self.newest = max(stops) if stops else None
        except (ValueError, KeyError, TypeError) as error:
            log('backup age unknown (pgbackrest info: %r)' % (error,))

    def gauges(self, now):
        """The backup gauges; with no backup yet, the age is the database's (its data never backed up)."""
        gauges = {}
        if self.newest is not None:
            gauges[GAUGE['backupAgeSeconds']] = max(0, now - self.newest)
        if self.size is not None:
            gauges[GAUGE['backupRepositorySizeBytes']] = self.size
        try:
            failing, waiting, created = (int(v) for v in psql_values(ARCHIVER_SQL))
            gauges[GAUGE['walArchiveFailing']] = failing
            gauges[GAUGE['walArchiveWaitSeconds']] = max(0, waiting)
            if self.newest is None and self.size is not None:
                gauges[GAUGE['backupAgeSeconds']] = max(0, now - created)
        except (OSError, ValueError, subprocess.TimeoutExpired) as error:
            log('archiver state unknown (psql: %r)' % (error,))
        return gauges


def main(argv):
    once = '--once' in argv[1:]
    publisher = Publisher()
    repository = Repository() if BACKUP else None
    next_publish = 0.0
    while True:
        started = time.monotonic()
        try:
            now = int(time.time())
            gauges = sample(now)
            primary = gauges[GAUGE['isPrimary']] == 1
            if repository:
                repository.refresh(primary, wait=once)
            if once or started >= next_publish:
                next_publish = started + CONFIG['intervalSeconds']
                if repository and primary:
                    gauges.update(repository.gauges(now))
                data = metric_data(gauges)
                if once:
                    print(json.dumps(data), flush=True)
                publisher.publish(data)
        except Exception as error:  # one bad sample never ends the loop
            log('sample failed: %r' % (error,))
        if once:
            publisher.reap(wait=True)
            return 0
        publisher.reap()
        time.sleep(max(0.1, CONFIG['sampleSeconds'] - (time.monotonic() - started)))


if __name__ == '__main__':
    sys.exit(main(sys.argv))
`;
