// The body of the node metrics publisher: Python 3 with the standard library only (Debian 12's
// /usr/bin/python3). It is the same for every node; renderMetricsPublisher puts `import json` and
// the node's CONFIG (a JSON object) in front of it.

/**
 * Reads CONFIG, samples Patroni's REST API and etcd's health every `sampleSeconds`, keeps the
 * "last healthy primary seen" mark in `markFile` up to date, and publishes the gauges with one
 * `aws cloudwatch put-metric-data` every `intervalSeconds` (in the background, killed after
 * `awsTimeoutSeconds`). `--once`: one sample, one publish (waited for), the metric data on stdout.
 */
export const METRICS_PUBLISHER_BODY = String.raw`import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

NODE = CONFIG['node']
GAUGE = CONFIG['gauges']
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


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


def sample(now):
    """The gauges, by metric name; records the mark when a healthy primary is seen."""
    me = get_json(CONFIG['restApi'][NODE] + '/patroni')
    me = me if isinstance(me, dict) else {}
    cluster = get_json(CONFIG['restApi'][NODE] + '/cluster')
    members = cluster.get('members') if isinstance(cluster, dict) else None
    running = me.get('state') == 'running'
    primary = running_primary(me)
    replica = running and me.get('role') == 'replica'

    # The leader the DCS names, if running, and (when it is another node) its own answer.
    leader = None
    for m in members if isinstance(members, list) else []:
        if isinstance(m, dict) and m.get('role') == 'leader' and m.get('state') == 'running':
            leader = m
    leader_status = None
    if leader and leader.get('name') != NODE and leader.get('name') in CONFIG['restApi']:
        answer = get_json(CONFIG['restApi'][leader['name']] + '/patroni')
        leader_status = answer if running_primary(answer) else None

    # The mark: another node answering as a running primary, or this one once its promotion has
    # been handled (the callback marks it; before that, the callback still has to read the mark).
    if leader_status is not None:
        write_mark(leader['name'], now)
    elif primary and (read_mark() or (0, NODE))[1] == NODE:
        write_mark(NODE, now)

    lag = 0 if primary else None
    if replica:
        location = number((leader_status or {}).get('xlog', {}).get('location'))
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
    return gauges


def metric_data(gauges):
    dimensions = [{'Name': name, 'Value': value} for name, value in CONFIG['dimensions']]
    return [
        {'MetricName': name, 'Dimensions': dimensions, 'Value': gauges[name], 'Unit': CONFIG['units'].get(name, 'None')}
        for name in GAUGE.values() if name in gauges
    ]


class Publisher:
    """One put-metric-data at a time, in the background, never for longer than the timeout."""

    def __init__(self):
        self.proc = None
        self.file = None
        self.started = 0.0
        self.warned = False

    def reap(self, wait=False):
        """True while the previous call still runs."""
        if self.proc is None:
            return False
        try:
            code = self.proc.wait(max(0.0, self.started + CONFIG['awsTimeoutSeconds'] - time.monotonic()) if wait else 0)
        except subprocess.TimeoutExpired:
            if time.monotonic() - self.started < CONFIG['awsTimeoutSeconds']:
                return True
            self.proc.kill()
            code = 'killed after %d s' % CONFIG['awsTimeoutSeconds']
            self.proc.wait()
        if code != 0:
            log('metrics not published (aws: %s)' % code)
        os.unlink(self.file)
        self.proc = None
        return False

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
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        except OSError as error:
            log('could not run aws: %s' % error)
            os.unlink(self.file)


def main(argv):
    once = '--once' in argv[1:]
    publisher = Publisher()
    next_publish = 0.0
    while True:
        started = time.monotonic()
        try:
            data = metric_data(sample(int(time.time())))
            if once:
                print(json.dumps(data), flush=True)
            if once or started >= next_publish:
                next_publish = started + CONFIG['intervalSeconds']
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
