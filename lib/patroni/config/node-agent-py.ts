// The node agent: Python 3 (Debian 12's /usr/bin/python3, PyYAML from the patroni package). The
// instance's CloudFormation metadata holds the node's desired configuration (see node-bundle.ts);
// the agent boots the node from it once, then a timer makes it apply every later generation, one
// node of the cluster at a time (an etcd lock), the leader last. docs/design.md "Day two".
import { DRAIN_ON_STOP } from './agent-units';
import { PATRONI_TIMING_CHECK_PY } from './patroni-version-py';
import { URL_OPENER_PY } from './python-program';

/**
 * `cdk-failover-agent boot`: fetch the desired configuration, run its bootstrap, wait until
 * PostgreSQL leads or streams, signal CloudFormation. `reconcile`: apply a new generation under
 * the cluster's etcd lock. `apply`: what `reconcile` runs holding the lock. `drain`: before the node
 * is stopped, rebooted or replaced, under the same lock and once the cluster is healthy: the leader
 * switches over, then Patroni stops (PostgreSQL with it). `drain-on-stop`: the drain unit's
 * ExecStop, as the node shuts down (never refuses it). `write-files`: write the
 * bundle's files (the bootstrap calls it). `check-patroni`: refuse a Patroni that would not run the
 * declared timing (the bootstrap calls it once the packages are in). The last line on stderr of a
 * failure says what failed.
 */
export const NODE_AGENT_PY = String.raw`#!/usr/bin/python3
import base64
import gzip
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

STATE = '/var/lib/cdk-failover'
IDENTITY = STATE + '/identity.json'
DESIRED = STATE + '/desired.json'
APPLIED = STATE + '/applied-generation'
SIGNALLED = STATE + '/signalled-generation'
FILE_HASHES = STATE + '/file-hashes.json'
PENDING_ACTIONS = STATE + '/pending-actions.json'
IMDS_FIREWALL_LOADED = STATE + '/imds-firewall-loaded'
CREDENTIAL_BROKER_STARTED = STATE + '/credential-broker-started'
TLS_INSTALLED = STATE + '/tls-version'
SSM_AGENT_ATTEMPT = STATE + '/ssm-agent-attempt'
SSM_AGENT_RETRY_SECONDS = 1800
SSM_AGENT_INSTALL_SECONDS = 600
LOCK_TTL_SECONDS = 30
RUNBOOK = " (runbook: A node's configuration change failed)"
RUNBOOK_BOOT = " (runbook: A node's bootstrap failed)"
RUNBOOK_DRAIN = " (runbook: Planned maintenance of a node)"
# drain: how long the other members may take to be healthy again (a node replaced or rebooted before).
DRAIN_HEALTHY_SECONDS = 300
# drain-on-stop (agent-units.ts DRAIN_ON_STOP): the leader's settle time, and the waits when
# CloudFormation updates the instance (all stop at once) or when anything else stops it.
STOP_SETTLE_SECONDS = ${DRAIN_ON_STOP.settleSeconds}
STOP_ROLLING_SECONDS = ${DRAIN_ON_STOP.rollingSeconds}
STOP_OTHER_SECONDS = ${DRAIN_ON_STOP.otherSeconds}
STOP_STEP_SECONDS = ${DRAIN_ON_STOP.stepSeconds}
STOP_BUDGET_SECONDS = ${DRAIN_ON_STOP.budgetSeconds}
STOP_OTHER_BUDGET_SECONDS = ${DRAIN_ON_STOP.otherBudgetSeconds}
# A root volume replacement: how long the agent waits for EC2 to reboot its node, and how often it asks.
ROOT_VOLUME_SECONDS = 900
ROOT_VOLUME_POLL_SECONDS = 5
# What the drain under the lock inherits from drain-on-stop.
DRAIN_SECONDS_ENV = 'CDK_FAILOVER_DRAIN_HEALTHY_SECONDS'
DRAIN_ON_STOP_ENV = 'CDK_FAILOVER_DRAIN_ON_STOP'


${URL_OPENER_PY}


OPENER = opener(None)


class Failure(Exception):
    pass


def log(message):
    print('cdk-failover-agent: ' + message, flush=True)


def read_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def write_atomic(path, content, mode=0o600, uid=0, gid=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + '.cdk-failover-new'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
        f.write(content)
    os.chown(tmp, uid, gid)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def run(args, timeout=120, check=True):
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        lines = [l for l in result.stderr.splitlines() if l.strip()] or [l for l in result.stdout.splitlines() if l.strip()]
        # The command's words, not its options' values (URLs, TLS file paths).
        words = [a for a in args if not a.startswith(('-', '/')) and '://' not in a][:3]
        raise Failure('%s failed: %s' % (' '.join(words), lines[-1] if lines else 'exit %d' % result.returncode))
    return result.stdout


def aws(identity, *args, timeout=60):
    return run(['aws', '--region', identity['region'], *args], timeout=timeout)


def retry(what, attempts, delay, fn):
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except (Failure, OSError, ValueError, KeyError, TypeError, subprocess.TimeoutExpired) as e:
            if attempt == attempts:
                raise Failure('%s after %d attempts: %s' % (what, attempts, e))
            time.sleep(delay)


# --- The desired configuration ---------------------------------------------------------------

def fetch_desired(identity):
    def once():
        text = aws(identity, 'cloudformation', 'describe-stack-resource', '--stack-name', identity['stackName'],
                   '--logical-resource-id', identity['logicalId'], '--query', 'StackResourceDetail.Metadata', '--output', 'text')
        document = json.loads(text)['cdk-failover:node']
        bundle = json.loads(gzip.decompress(base64.b64decode(document['bundle'])).decode('utf-8'))
        return {'generation': document['generation'], 'clusterGeneration': document['clusterGeneration'], 'waitHandle': document.get('waitHandle'),
                'image': document.get('image'), 'values': document['values'], 'bundle': bundle}
    return retry('cannot read this instance\'s metadata from stack %s' % identity['stackName'], 5, 6, once)


def fill(text, values):
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def desired_files(desired):
    return [dict(f, content=fill(f['content'], desired['values'])) for f in desired['bundle']['files']]


def read_secret(identity, secret_id, version=None):
    """A secret's SecretString (the version given, else the current one); 10 attempts, 6 s apart."""
    error = ''
    which = ['--version-id', version] if version else []
    for attempt in range(1, 11):
        try:
            return aws(identity, 'secretsmanager', 'get-secret-value', '--secret-id', secret_id, *which, '--query', 'SecretString', '--output', 'text')
        except (Failure, subprocess.TimeoutExpired) as e:
            error = str(e).split(' failed: ', 1)[-1]
            if attempt < 10:
                time.sleep(6)
    raise Failure('cannot read secret %s%s in %s after 10 attempts: %s' % (secret_id, ' version ' + version if version else '', identity['region'], error))


def read_password(identity, secret_id):
    secret = read_secret(identity, secret_id)
    try:
        password = json.loads(secret)['password']
    except (ValueError, KeyError, TypeError):
        password = None
    if not isinstance(password, str):
        raise Failure("secret %s has no string field 'password'" % secret_id)
    return password


def fill_passwords(desired, path, passwords):
    env = {'PATH': '/usr/bin:/bin'}
    pairs = []
    for n, (placeholder, password) in enumerate(sorted(passwords.items())):
        env['CDKF_%d' % n] = password
        pairs.append('%s=CDKF_%d' % (placeholder, n))
    result = subprocess.run(['/usr/bin/python3', '-', path, *pairs], input=desired['bundle']['fillProgram'],
                            capture_output=True, text=True, env=env, timeout=60)
    if result.returncode != 0:
        raise Failure('cannot put the passwords into %s: %s' % (path, (result.stderr.strip().splitlines() or ['?'])[-1]))


def write_files(identity, desired):
    """Writes the files whose rendered content changed; returns them."""
    import grp
    import pwd
    hashes = read_json(FILE_HASHES, {})
    changed = []
    passwords = None
    for f in desired_files(desired):
        digest = hashlib.sha256(f['content'].encode('utf-8')).hexdigest()
        if hashes.get(f['path']) == digest and os.path.exists(f['path']):
            continue
        if f.get('passwords') and passwords is None:
            secrets = desired['bundle']['passwords']
            passwords = {p: read_password(identity, fill(s, desired['values'])) for p, s in secrets.items()}
        # Placeholders first, then the fill program swaps the passwords in (atomically, in place).
        path = f['path'] + '.cdk-failover-template' if f.get('passwords') else f['path']
        write_atomic(path, f['content'], int(f['mode'], 8), pwd.getpwnam(f['owner']).pw_uid, grp.getgrnam(f['group']).gr_gid)
        if f.get('passwords'):
            fill_passwords(desired, path, passwords)
            os.replace(path, f['path'])
        hashes[f['path']] = digest
        changed.append(f)
    write_atomic(FILE_HASHES, json.dumps(hashes, indent=1, sort_keys=True))
    return changed


def write_tls(identity, desired):
    """This node's certificate files from the secret version of this generation, in a new directory
    that replaces the old one in one rename of the tls symlink: etcd, which reads its pair at every
    handshake, never sees one of each. The directory before stays (a handshake that resolved the
    link just before may still open its files). Returns the actions the change takes: none, the
    TLS reload, and with a renewed cluster CA also the restarts of etcd and the metrics publisher
    and HAProxy's reload (each loads its trusted CA once, at start; until then the CA certificate
    it holds, with the same key, verifies until its own end)."""
    import pwd
    tls = desired['bundle'].get('tls')
    if not tls:
        return []
    version = fill(tls['versionId'], desired['values'])
    # A streaming standby trusts its primary's database CA too: a change of that one is a new install.
    primary_ca = fill(tls['primaryDatabaseCa'], desired['values']).strip() if tls.get('primaryDatabaseCa') else None
    primary_ca = primary_ca + '\n' if primary_ca else None
    installed = version + (' primary-ca ' + hashlib.sha256(primary_ca.encode()).hexdigest()[:16] if primary_ca else '')
    link = tls['link']
    if read_text(TLS_INSTALLED) == installed and os.path.islink(link):
        return []
    secret_id = fill(tls['secretId'], desired['values'])
    try:
        secret = json.loads(read_secret(identity, secret_id, version))
    except ValueError:
        secret = None
    node = (secret.get('nodes') or {}).get(tls['node']) if isinstance(secret, dict) else None
    if not node:
        raise Failure('the certificates secret %s (version %s) has no certificate for node %s' % (secret_id, version, tls['node']))
    parent = os.path.dirname(link)
    # Named after the whole install: a new primary CA under the same version is a new directory too,
    # never a rewrite of the one the link points to.
    directory = '%s.%s' % (os.path.basename(link), hashlib.sha256(installed.encode()).hexdigest()[:12])
    shutil.rmtree(os.path.join(parent, directory), ignore_errors=True)
    os.makedirs(os.path.join(parent, directory))
    os.chmod(os.path.join(parent, directory), 0o755)  # the agent's umask is 077: every service user must enter it
    for f in tls['files']:
        source = f['source']
        content = node[source[len('node.'):]] if source.startswith('node.') else secret[source]
        if source == 'databaseCaCert' and primary_ca:
            content = content.rstrip('\n') + '\n' + primary_ca
        owner = pwd.getpwnam(f['owner'])
        write_atomic(os.path.join(parent, directory, f['name']), content, int(f['mode'], 8), owner.pw_uid, owner.pw_gid)
    previous = os.readlink(link) if os.path.islink(link) else None
    ca_files = [f['name'] for f in tls['files'] if f['source'] == 'caCert']
    ca_renewed = previous is not None and any(
        read_text_or_none(os.path.join(parent, previous, name)) != read_text_or_none(os.path.join(parent, directory, name)) for name in ca_files)
    new_link = link + '.cdk-failover-new'
    if os.path.lexists(new_link):
        os.remove(new_link)
    os.symlink(directory, new_link)
    os.replace(new_link, link)
    for entry in os.listdir(parent):
        if entry.startswith(os.path.basename(link) + '.') and entry not in (directory, previous) and os.path.isdir(os.path.join(parent, entry)):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)
    write_atomic(TLS_INSTALLED, installed, 0o644)
    log('installed the certificates of secret version %s%s%s' % (version, ' (a renewed cluster CA)' if ca_renewed else '',
                                                               ", with the primary's database CA" if primary_ca else ''))
    return ['reload-tls'] + (['restart-etcd', 'reload-haproxy', 'restart-metrics'] if ca_renewed else [])


def tls_problem(current_patroni_yml, patroni_yml):
    """Why the new patroni.yml cannot be applied to this running node, or None: etcd's protocol
    (TLS or not) is the cluster's, and switching one member at a time would cut it in two."""
    import yaml
    def protocol(text):
        return str((((yaml.safe_load(text) or {}).get('etcd')) or {}).get('protocol', 'http'))
    if current_patroni_yml is None:
        return None
    current, wanted = protocol(current_patroni_yml), protocol(patroni_yml)
    if current == wanted:
        return None
    return ('the cluster runs etcd and Patroni over %s, the change wants %s: TLS cannot be turned %s on a running cluster '
            '(every member would have to switch at once); deploy it with the tls setting it was made with, or make a new '
            'cluster from a backup' % (current, wanted, 'on' if wanted == 'https' else 'off'))


# --- Patroni and etcd --------------------------------------------------------------------------

def patroni_settings(desired):
    import yaml
    with open(desired['bundle']['patroniConfig']) as f:
        config = yaml.safe_load(f)
    auth = config['restapi']['authentication']
    token = base64.b64encode(('%s:%s' % (auth['username'], auth['password'])).encode()).decode()
    etcd = config['etcd']
    protocol = etcd.get('protocol', 'http')
    # With TLS, etcdctl shows the node's certificate as Patroni does (etcd wants one from every client).
    certificates = ['--cacert', etcd['cacert'], '--cert', etcd['cert'], '--key', etcd['key']] if protocol == 'https' else []
    restapi = config['restapi']
    # With TLS, the REST API's certificate is checked against the cluster CA, address included, and
    # the node's own is shown: Patroni takes writes only from a client with a certificate.
    scheme = 'https' if restapi.get('certfile') else 'http'
    return {'name': config['name'], 'scope': config['scope'], 'url': '%s://%s' % (scheme, restapi['connect_address']),
            'dataDir': config['postgresql']['data_dir'],
            'certfile': restapi.get('certfile'),
            'opener': opener(restapi.get('cafile'), restapi.get('certfile'), restapi.get('keyfile')),
            'auth': 'Basic ' + token, 'etcd': ['%s://%s' % (protocol, h) for h in etcd['hosts']], 'etcdTls': certificates}


def patroni(settings, method, path, body=None, url=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request((url or settings['url']) + path, data=data, method=method,
                                     headers={'Content-Type': 'application/json', 'Authorization': settings['auth']})
    try:
        with settings['opener'].open(request, timeout=timeout) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        if method != 'GET':
            raise Failure('Patroni %s %s answered %d: %s' % (method, path, e.code, text.strip()[:200]))
    try:
        return json.loads(text)
    except ValueError:
        return {'message': text}


def served_certificate(url):
    """The certificate (DER) that the HTTPS server at url presents now. Not checked: only compared."""
    import socket
    import ssl
    import urllib.parse
    address = urllib.parse.urlsplit(url)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((address.hostname, address.port), timeout=5) as connection:
        with context.wrap_socket(connection) as tls:
            return tls.getpeercert(binary_form=True)


def file_certificate(path):
    """The first certificate (DER) in a PEM file."""
    import ssl
    block = re.search(r'-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----', read_text(path), re.S)
    if not block:
        raise Failure('no certificate in ' + path)
    return ssl.PEM_cert_to_DER_cert(block.group(0))


def reload_seconds(desired):
    """How long Patroni may take to act on a reload: its next loop, with time to spare."""
    loop = int((desired['bundle'].get('dynamicConfiguration') or {}).get('loop_wait') or 10)
    return 60 + 2 * loop


def wait(what, seconds, fn):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            result = fn()
            if result:
                return result
        except (Failure, OSError, ValueError, KeyError, TypeError, http.client.HTTPException, subprocess.TimeoutExpired) as e:
            last = e
        time.sleep(1)
    raise Failure('%s not within %d s%s' % (what, seconds, ': %s' % last if last else ''))


def is_leader(status):
    return status.get('role') in ('master', 'primary', 'standby_leader')


def ready(settings):
    """True once this node runs PostgreSQL as the leader, or as a replica streaming from it."""
    me = patroni(settings, 'GET', '/patroni')
    if me.get('state') != 'running':
        return False
    if is_leader(me):
        return True
    members = patroni(settings, 'GET', '/cluster').get('members', [])
    leader = next((m for m in members if m.get('role') in ('leader', 'standby_leader')), None)
    if leader is None:
        return False
    replication = patroni(settings, 'GET', '/patroni', url=leader['api_url'].rsplit('/', 1)[0]).get('replication', [])
    return any(r.get('application_name') == settings['name'] and r.get('state') == 'streaming' for r in replication)


def etcdctl(settings, *args, timeout=30):
    return run(['etcdctl', '--endpoints', ','.join(settings['etcd']), *settings['etcdTls'], '--command-timeout=10s', *args], timeout=timeout)


def applied_key(settings, node):
    return '/cdk-failover/%s/applied/%s' % (settings['scope'], node)


def membership_problem(current, wanted):
    """Why a change of the member set cannot be applied here, or None when it is the same."""
    if sorted(current) == sorted(wanted):
        return None
    return ('the cluster runs members %s, the change wants %s: a change of the node count or names cannot be applied '
            'to a running cluster (supported: a new cluster restored from a backup; one lost member: the runbook\'s '
            '"Replace an etcd member")' % (', '.join(sorted(current)), ', '.join(sorted(wanted))))


def standby_problem(dynamic_config, patroni_yml):
    """Why the new patroni.yml would strand a standby cluster, or None: Patroni's /config still
    follows a primary (standby_cluster, written at the first boot only), and a generation without
    standbyOf takes away the method that makes its nodes and the grant that reads its feed."""
    import yaml
    if not isinstance(dynamic_config, dict) or 'ttl' not in dynamic_config:
        return 'Patroni\'s /config gave no configuration (%s): whether this cluster is a standby cannot be told' % str(dynamic_config)[:200]
    following = dynamic_config.get('standby_cluster')
    wanted = (((yaml.safe_load(patroni_yml) or {}).get('bootstrap') or {}).get('dcs') or {}).get('standby_cluster')
    if following and not wanted:
        return ('this cluster is still a standby cluster (Patroni\'s /config has standby_cluster), and the change removes '
                'standbyOf: it would lose its feed; promote it first (failover promote), then remove standbyOf')
    if wanted and not following:
        return ('this cluster is a primary (Patroni\'s /config has no standby_cluster), and the change declares standbyOf: a deploy '
                'cannot make a running primary a standby; remove standbyOf (after a promotion), or make a new cluster as the standby')
    return None


def parameter_problem(patroni_yml, dynamic_configuration):
    """Why PostgreSQL would refuse the parameters, or None. Patroni writes what it is given into
    postgresql.conf: a reload skips a value PostgreSQL rejects (the change looks applied), and the
    next start (a failover's, a restart's) fails on it. postgres -C runs the server's own check of
    each name and value without touching the running server; config_file=/dev/null checks these
    values alone, not what postgresql.conf holds now (which an older deploy may have spoiled)."""
    import yaml
    postgresql = (yaml.safe_load(patroni_yml) or {}).get('postgresql') or {}
    wanted = dict(((dynamic_configuration or {}).get('postgresql') or {}).get('parameters') or {})
    wanted.update(postgresql.get('parameters') or {})
    if not wanted or not postgresql.get('bin_dir') or not postgresql.get('data_dir'):
        return None
    args = ['runuser', '-u', 'postgres', '--', os.path.join(postgresql['bin_dir'], 'postgres'), '-D', postgresql['data_dir'], '-c', 'config_file=/dev/null']
    for name, value in sorted(wanted.items()):
        args += ['-c', '%s=%s' % (name, ('on' if value else 'off') if isinstance(value, bool) else value)]
    code, output = postgres_check(args + ['-C', sorted(wanted)[0]])
    if code == 0:
        return None
    said = {}
    for line in output.splitlines():
        found = re.search(r'\b(FATAL|HINT):\s+(.*)$', line)
        if found:
            said[found.group(1)] = found.group(2).strip()
    if 'FATAL' not in said:
        lines = [l.strip() for l in output.splitlines() if l.strip()]
        return 'the parameters could not be checked (postgres -C exited %d: %s)' % (code, lines[-1] if lines else 'no output')
    hint = ' (%s)' % said['HINT'] if 'HINT' in said else ''
    return 'PostgreSQL refuses the parameters (postgresParameters): %s%s; nothing was changed' % (said['FATAL'], hint)


def postgres_check(args):
    """postgres -C's exit code and everything it said."""
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return 127, str(e)
    return result.returncode, result.stderr + result.stdout


def watchdog_problem(patroni_yml, device_exists):
    """Why the new patroni.yml would stop this node from leading, or None: Patroni with a required
    watchdog and no device refuses to lead, and a reload on every node would leave no leader."""
    import yaml
    mode = str(((yaml.safe_load(patroni_yml) or {}).get('watchdog') or {}).get('mode', 'off'))
    if mode == 'required' and not device_exists:
        return ('watchdog mode required, but this node has no /dev/watchdog (softdog is loaded at first boot only): '
                'load it (modprobe softdog) on every node first, or replace the nodes one at a time')
    return None


def etcd_members(settings):
    return [m.get('name', '') for m in json.loads(etcdctl(settings, 'member', 'list', '-w', 'json')).get('members', [])]


def lock_held(settings):
    """Whether this process still holds the cluster's lock (etcdctl lock exports its key)."""
    key = os.environ.get('ETCD_LOCK_KEY')
    return bool(key) and bool(etcdctl(settings, 'get', '--keys-only', key).strip())


def cluster_unhealthy(settings, desired):
    """Why taking this node down now could take a second one with it, or None."""
    try:
        etcdctl(settings, 'endpoint', 'health')
    except (Failure, subprocess.TimeoutExpired) as e:
        return 'etcd is not healthy on every member (%s)' % e
    members = {m['name']: m for m in patroni(settings, 'GET', '/cluster').get('members', [])}
    for name in desired['bundle']['members']:
        m = members.get(name)
        if m is None or m.get('state') not in ('running', 'streaming'):
            return 'member %s is %s' % (name, 'not listed' if m is None else m.get('state'))
    return None


def failed_key(settings, desired):
    return '/cdk-failover/%s/failed/%s' % (settings['scope'], desired['clusterGeneration'])


def others_pending(settings, desired):
    """The other members (all of the bundle's, listed by Patroni or not) not yet at this cluster generation."""
    generation = desired['clusterGeneration']
    members = [m for m in desired['bundle']['members'] if m != settings['name']]
    return [m for m in members if etcdctl(settings, 'get', '--print-value-only', applied_key(settings, m)).strip() != generation]


def record_applied(settings, desired):
    """This node's generation locally; the cluster's generation in etcd, where the leader looks."""
    etcdctl(settings, 'put', applied_key(settings, settings['name']), desired['clusterGeneration'])
    write_atomic(APPLIED, desired['generation'] + '\n', 0o644)


# --- Signals to CloudFormation -----------------------------------------------------------------

def signal_handle(desired, node, status, reason):
    """The generation's wait condition: the deploy waits for every node's signal."""
    key = '%s %s' % (desired.get('waitHandle'), status)
    if not desired.get('waitHandle') or read_text(SIGNALLED) == key:
        return
    body = json.dumps({'Status': status, 'Reason': reason[:4000], 'UniqueId': node, 'Data': desired['generation']})
    request = urllib.request.Request(desired['waitHandle'], data=body.encode(), method='PUT', headers={'Content-Type': ''})
    try:
        with urllib.request.urlopen(request, timeout=30):
            pass
        write_atomic(SIGNALLED, key, 0o644)
    except (urllib.error.URLError, OSError) as e:
        log('could not signal the wait condition: %s' % e)


def signal_resource(identity, status, reason):
    """The instance's creation policy: CloudFormation waits for this after launching it."""
    try:
        instance_id = imds_get('/latest/meta-data/instance-id')
        aws(identity, 'cloudformation', 'signal-resource', '--stack-name', identity['stackName'], '--logical-resource-id',
            identity['logicalId'], '--unique-id', instance_id, '--status', status)
    except (Failure, OSError, subprocess.TimeoutExpired) as e:
        log('could not signal CloudFormation (%s): %s' % (reason, e))


def imds(method, path, headers):
    request = urllib.request.Request('http://169.254.169.254' + path, method=method, headers=headers)
    with OPENER.open(request, timeout=5) as response:
        return response.read().decode()


def read_text_or_none(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def read_text(path):
    return (read_text_or_none(path) or '').strip()


def read_bytes(path):
    with open(path, 'rb') as f:
        return f.read()


# --- Commands ----------------------------------------------------------------------------------

def boot():
    identity = read_json(IDENTITY)
    desired = None
    try:
        desired = fetch_desired(identity)
        write_atomic(DESIRED, json.dumps(desired))
        last = run_bootstrap(desired)
        if last is not None:
            raise Failure(last)
        if (desired['bundle'].get('ssmAgent') or {}).get('required'):
            ensure_ssm_agent(desired)
        settings = patroni_settings(desired)
        wait('PostgreSQL leading or streaming', int(desired['bundle']['readySeconds']), lambda: ready(settings))
        # A new instance launched with the launch image while the cluster runs another: it does not
        # run this generation yet; its agent replaces its root volume, under the lock, like any change.
        stale = desired.get('image') and image_lagging(settings, desired['image'])
        if not stale:
            record_applied(settings, desired)
        # Only now: the timer never reconciles a node that is still booting, and a node that never
        # became ready has nothing to drain.
        run(['systemctl', 'enable', '--now', desired['bundle']['units']['agentTimer']])
        ensure_drain_unit(desired)
        if stale:
            signal_resource(identity, 'SUCCESS', 'ready')
            log('node %s ready, on image %s: its agent replaces its root volume with %s' % (identity['nodeName'], stale, desired['image']))
            return 0
    except Exception as e:  # noqa: BLE001 - every failure must reach CloudFormation as one line
        text = str(e) if isinstance(e, Failure) else '%s: %s' % (type(e).__name__, e)
        line = text if text.startswith('cdk-failover:') else 'cdk-failover: %s%s' % (text, RUNBOOK_BOOT)
        signal_resource(identity, 'FAILURE', line)
        if desired:
            signal_handle(desired, identity['nodeName'], 'FAILURE', line)
        print(line, file=sys.stderr, flush=True)
        return 1
    signal_resource(identity, 'SUCCESS', 'ready')
    signal_handle(desired, identity['nodeName'], 'SUCCESS', 'booted generation ' + desired['generation'])
    log('node %s ready at generation %s' % (identity['nodeName'], desired['generation']))
    return 0


def run_bootstrap(desired):
    """Runs the bootstrap, its output passed through; the last stderr line if it failed."""
    script = fill(desired['bundle']['bootstrap'], desired['values'])
    process = subprocess.Popen(['/bin/bash', '-c', script], stderr=subprocess.PIPE, text=True)
    last = None
    for line in process.stderr:
        sys.stderr.write(line)
        sys.stderr.flush()
        if line.strip():
            last = line.strip()
    return None if process.wait() == 0 else (last or 'the bootstrap exited %d' % process.returncode)


def write_files_command():
    identity = read_json(IDENTITY)
    try:
        desired = read_json(DESIRED)
        write_tls(identity, desired)
        for f in write_files(identity, desired):
            log('wrote ' + f['path'])
    except Failure as e:
        print('cdk-failover: %s (runbook: A node\'s bootstrap failed)' % e, file=sys.stderr, flush=True)
        return 1
    return 0


def reconcile():
    """Timer: a new generation is applied holding the cluster's lock (one node at a time)."""
    identity = read_json(IDENTITY)
    try:
        desired = fetch_desired(identity)
        settings = patroni_settings(desired)
        try:
            ensure_imds_firewall(desired)
        except (Failure, OSError, subprocess.TimeoutExpired) as e:
            # Retried at the next run; the rollout itself does not depend on it.
            log('IMDS firewall not loaded: %s' % e)
        if read_text(APPLIED) == desired['generation']:
            # Only with nothing to roll out: the install never delays a change.
            try:
                ensure_ssm_agent(desired, retry_after=SSM_AGENT_RETRY_SECONDS)
            except (Failure, OSError, ValueError) as e:
                log('SSM agent not installed (next attempt in %d s): %s' % (SSM_AGENT_RETRY_SECONDS, e))
            try:
                ensure_drain_unit(desired)
            except (Failure, OSError, subprocess.TimeoutExpired) as e:
                log('drain unit not enabled (next run): %s' % e)
            # Applied here already (this node's files did not change): the generation still counts.
            if read_text(SIGNALLED) != '%s SUCCESS' % desired.get('waitHandle'):
                record_applied(settings, desired)
                signal_handle(desired, settings['name'], 'SUCCESS', 'runs generation ' + desired['generation'])
            return 0
    except (Failure, OSError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
        log(str(e))
        return 1
    log('generation %s is not applied here: waiting for the lock' % desired['generation'])
    lock = lock_key(settings)
    result = subprocess.run(['timeout', str(desired['bundle']['applySeconds']), 'etcdctl', '--endpoints', ','.join(settings['etcd']), *settings['etcdTls'],
                             'lock', '--ttl', str(LOCK_TTL_SECONDS), lock, sys.argv[0], 'apply'])
    return result.returncode


def apply():
    identity = read_json(IDENTITY)
    desired = None
    settings = None
    try:
        # The metadata may have moved on (a rollback) while this node waited for the lock.
        desired = fetch_desired(identity)
        settings = patroni_settings(desired)
        generation = desired['generation']
        if read_text(APPLIED) == generation:
            return 0
        if etcdctl(settings, 'get', '--keys-only', failed_key(settings, desired)).strip():
            log('generation %s failed on another node: not applied here (the deploy rolls back)' % generation)
            return 0
        if not unit_active(desired['bundle']['units']['patroni']):
            # Drained (or stopped by hand): the deploy waits for it, as for any member down.
            log('not now: %s is stopped on this node (drained?)' % desired['bundle']['units']['patroni'])
            return 0
        me = patroni(settings, 'GET', '/patroni')
        pending = others_pending(settings, desired) if is_leader(me) else []
        if pending:
            log('leader %s applies last: waiting for %s' % (settings['name'], ', '.join(pending)))
            return 0
        problem = membership_problem(etcd_members(settings), desired['bundle']['members'])
        if problem:
            raise Failure(problem)
        patroni_yml = next(f for f in desired_files(desired) if f['path'] == desired['bundle']['patroniConfig'])['content']
        problem = watchdog_problem(patroni_yml, os.path.exists('/dev/watchdog')) or \
            tls_problem(read_text_or_none(desired['bundle']['patroniConfig']), patroni_yml)
        if problem:
            raise Failure(problem)
        unhealthy = cluster_unhealthy(settings, desired)
        if unhealthy:
            log('not now: %s' % unhealthy)
            return 0
        # Only now: a healthy cluster has its /config in etcd (a bootstrapping one may not yet).
        problem = standby_problem(patroni(settings, 'GET', '/config'), patroni_yml) or \
            parameter_problem(patroni_yml, desired['bundle']['dynamicConfiguration'])
        if problem:
            raise Failure(problem)
        # After every check of the new files: a replaced root boots with them.
        if desired.get('image') and running_image(settings) != desired['image']:
            return replace_root_volume(identity, settings, desired)
        log('applying generation %s on %s' % (generation, settings['name']))
        # Until the end, this node runs no generation; the actions of every file written are
        # remembered until they have run, so a retry after a failure takes them all.
        write_atomic(APPLIED, '\n', 0o644)
        actions = set(read_json(PENDING_ACTIONS, []))
        actions.update(write_tls(identity, desired))
        # At once: the installed version is recorded, so a retry would not find these again.
        write_atomic(PENDING_ACTIONS, json.dumps(sorted(actions)), 0o644)
        actions.update(a for f in write_files(identity, desired) for a in f['onChange'])
        write_atomic(PENDING_ACTIONS, json.dumps(sorted(actions)), 0o644)
        for action in ordered_actions(actions, desired['bundle']['actionOrder']):
            if action == 'restart-patroni':
                continue
            require_lock(settings)
            log(action)
            take_action(settings, action, desired)
        running_loop = int(patroni(settings, 'GET', '/config').get('loop_wait') or 10)
        patched = desired['bundle']['dynamicConfiguration'] and patch_dynamic_configuration(settings, desired, patroni_yml, is_leader(me))
        if patched or 'reload-patroni' in actions:
            # Patroni applies a changed configuration at its next loop, at the loop_wait in force
            # until then (the old one, when the PATCH changed it): only then is pending_restart known.
            time.sleep(max(running_loop, int(desired['bundle']['dynamicConfiguration']['loop_wait'])) + 3)
        me = patroni(settings, 'GET', '/patroni')
        if 'restart-patroni' in actions or me.get('pending_restart'):
            require_lock(settings)
            restart_member(settings, desired, me, 'restart-patroni' in actions)
        wait('PostgreSQL leading or streaming', int(desired['bundle']['readySeconds']), lambda: ready(settings))
        if patroni(settings, 'GET', '/patroni').get('pending_restart'):
            raise Failure('PostgreSQL still needs a restart (pending_restart) after it')
        write_atomic(PENDING_ACTIONS, '[]', 0o644)
        record_applied(settings, desired)
    except Exception as e:  # noqa: BLE001 - every failure must reach CloudFormation as one line
        text = str(e) if isinstance(e, Failure) else '%s: %s' % (type(e).__name__, e)
        name = settings['name'] if settings else identity['nodeName']
        line = 'cdk-failover: %s could not apply generation %s: %s%s' % (name, desired['generation'] if desired else '?', text, RUNBOOK)
        if desired and settings:
            try:
                etcdctl(settings, 'put', failed_key(settings, desired), name)
            except (Failure, subprocess.TimeoutExpired):
                pass
        if desired:
            signal_handle(desired, name, 'FAILURE', line)
        print(line, file=sys.stderr, flush=True)
        return 1
    signal_handle(desired, settings['name'], 'SUCCESS', 'applied generation ' + generation)
    log('applied generation %s on %s' % (generation, settings['name']))
    return 0


def running_image(settings):
    """The image this instance runs, as IMDS says (EC2 updates it when it replaces the root volume
    from an image)."""
    return imds_get('/latest/meta-data/ami-id')


def image_lagging(settings, image):
    """The image this instance runs when it is not image, else None (also when it cannot be told:
    a boot is not failed for it, and the next generation's apply asks again)."""
    try:
        running = running_image(settings)
    except (Failure, OSError, ValueError, subprocess.TimeoutExpired) as e:
        log('cannot tell which image this instance runs: %s' % e)
        return None
    return running if running != image else None


def root_image_key(settings, node):
    return '/cdk-failover/%s/root-image/%s' % (settings['scope'], node)


def replaced_for(settings, desired, instance_id):
    """The record of a replacement this instance asked for, for this cluster generation, or None."""
    recorded = etcdctl(settings, 'get', '--print-value-only', root_image_key(settings, settings['name'])).strip()
    try:
        record = json.loads(recorded) if recorded else {}
    except ValueError:
        return None
    wanted = {'instance': instance_id, 'image': desired['image'], 'generation': desired['clusterGeneration']}
    return record if all(record.get(k) == v for k, v in wanted.items()) else None


def replace_root_volume(identity, settings, desired):
    """Holding the cluster's lock, with every member running: this node drains (a leader, which
    applies last, switches over first), then asks EC2 to replace its root volume from the desired
    image. EC2 keeps the instance, its interface and its data volume, and reboots it onto the new
    root, whose first boot runs the user data: the node boots again on its data and signals the
    generation. So this returns only when it is not the time (0: a later run), or through Failure.
    Once EC2 has the task, the node stays drained whatever happens: EC2 reboots it (onto its old
    root when the task fails), and a node started again here could go down beside another."""
    image = desired['image']
    instance_id = imds_get('/latest/meta-data/instance-id')
    earlier = replaced_for(settings, desired, instance_id)
    if earlier:
        # This generation's replacement ran, and the instance came back on its old root.
        raise Failure('EC2 did not replace the root volume from %s (task %s): the instance runs %s again' % (image, earlier.get('task'), running_image(settings)))
    busy = stop_under_way(identity, settings)
    if busy:
        log('not now: %s' % busy)
        return 0
    log('image %s: replacing the root volume of %s (%s), which runs %s' % (image, settings['name'], instance_id, running_image(settings)))
    drain_holding_lock(settings, desired)
    key = root_image_key(settings, settings['name'])
    record = {'instance': instance_id, 'image': image, 'generation': desired['clusterGeneration']}
    task = None
    try:
        # Asked again: the drain may have waited minutes.
        busy = stop_under_way(identity, settings)
        if not busy:
            require_lock(settings)
            # Recorded first: EC2 may reboot the node before its answer is read.
            etcdctl(settings, 'put', key, json.dumps(record))
            token = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:32]
            try:
                answer = aws(identity, 'ec2', 'create-replace-root-volume-task', '--instance-id', instance_id, '--image-id', image,
                             '--delete-replaced-root-volume', '--client-token', token, '--output', 'json')
                task = json.loads(answer)['ReplaceRootVolumeTask']['ReplaceRootVolumeTaskId']
            except (Failure, ValueError, KeyError, TypeError, subprocess.TimeoutExpired):
                # An answer lost after EC2 took the task (a timeout): the task decides, not the answer.
                task = unfinished_task(identity, instance_id, image)
                if not task:
                    raise
    except Exception:
        # No task: the node still runs its old root, and rejoins as a replica.
        try:
            etcdctl(settings, 'del', key)
        except (Failure, OSError, subprocess.TimeoutExpired) as e:
            log('could not clear %s: %s' % (key, e))
        run(['systemctl', 'start', desired['bundle']['units']['patroni']], timeout=300, check=False)
        raise
    if busy:
        run(['systemctl', 'start', desired['bundle']['units']['patroni']], timeout=300, check=False)
        log('not now: %s (%s started again)' % (busy, settings['name']))
        return 0
    record['task'] = task
    try:
        etcdctl(settings, 'put', key, json.dumps(record))
    except (Failure, OSError, subprocess.TimeoutExpired) as e:
        log('could not record task %s: %s' % (task, e))
    log('root volume replacement %s started: EC2 reboots %s onto the new root, which boots it again on its data volume' % (task, settings['name']))
    deadline = time.monotonic() + ROOT_VOLUME_SECONDS
    state = None
    for _ in range(ROOT_VOLUME_SECONDS // ROOT_VOLUME_POLL_SECONDS + 1):
        state = root_volume_task_state(identity, task)
        if state in ('failing', 'failed', 'failed-detached'):
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(ROOT_VOLUME_POLL_SECONDS)
    raise Failure('EC2 root volume replacement %s from %s: %s after %d s; %s stays drained until EC2 reboots it (if it never does: systemctl start %s)'
                  % (task, image, state or 'no answer', int(ROOT_VOLUME_SECONDS - max(0, deadline - time.monotonic())), settings['name'],
                     desired['bundle']['units']['patroni']))


def stop_under_way(identity, settings):
    """Why no root volume may be replaced now (CloudFormation stopping this instance, or a member
    that announced its stop: a new instance type in the same deploy), or None."""
    if own_resource_status(identity) in ('UPDATE_IN_PROGRESS', 'UPDATE_ROLLBACK_IN_PROGRESS'):
        return 'CloudFormation is updating this instance'
    prefix = stopping_key(settings, '')
    stopping = [k[len(prefix):] for k in etcdctl(settings, 'get', '--prefix', '--keys-only', prefix).split() if k.startswith(prefix)]
    return 'members stopping: %s' % ', '.join(sorted(stopping)) if stopping else None


def unfinished_task(identity, instance_id, image):
    """The ID of a task of this instance from this image that EC2 has not failed, or None."""
    try:
        answer = json.loads(aws(identity, 'ec2', 'describe-replace-root-volume-tasks', '--filters', 'Name=instance-id,Values=' + instance_id,
                                '--output', 'json', timeout=15))
    except (Failure, OSError, ValueError, subprocess.TimeoutExpired) as e:
        log('cannot list the root volume replacements of %s: %s' % (instance_id, e))
        return None
    for t in answer.get('ReplaceRootVolumeTasks') or []:
        if t.get('ImageId') == image and t.get('TaskState') in ('pending', 'in-progress', 'succeeded'):
            return t.get('ReplaceRootVolumeTaskId')
    return None


def root_volume_task_state(identity, task):
    """The task's state, or None while EC2 cannot be asked (it is rebooting this node, say)."""
    try:
        answer = json.loads(aws(identity, 'ec2', 'describe-replace-root-volume-tasks', '--replace-root-volume-task-ids', task,
                                '--output', 'json', timeout=15))
        return (answer.get('ReplaceRootVolumeTasks') or [{}])[0].get('TaskState')
    except (Failure, OSError, ValueError, subprocess.TimeoutExpired) as e:
        log('root volume replacement %s: %s' % (task, e))
        return None


def imds_get(path):
    token = imds('PUT', '/latest/api/token', {'X-aws-ec2-metadata-token-ttl-seconds': '60'})
    return imds('GET', path, {'X-aws-ec2-metadata-token': token}).strip()


def drain():
    """Before this node is stopped, rebooted or replaced: holding the cluster's lock (never beside
    an apply on another node), once every member runs and etcd is healthy, the leader switches over,
    then Patroni stops (PostgreSQL with it). etcd keeps running: its member resumes from the data
    volume. Nothing is signalled, no generation recorded. Run by etcdctl lock (ETCD_LOCK_KEY set),
    it drains; run by a person, it waits for the lock and runs itself under it."""
    identity = read_json(IDENTITY, {}) or {}
    name = identity.get('nodeName') or '?'
    try:
        # The configuration this node booted with (units, members, patroni.yml): no AWS call, so a
        # node drains while CloudFormation cannot be reached too.
        desired = read_json(DESIRED)
        if not desired:
            raise Failure('no configuration at %s (this node never booted)' % DESIRED)
        settings = patroni_settings(desired)
        name = settings['name']
        if os.environ.get('ETCD_LOCK_KEY'):
            drain_holding_lock(settings, desired)
            return 0
        return drain_under_lock(settings, desired)
    except Exception as e:  # noqa: BLE001 - every failure is one line
        text = str(e) if isinstance(e, Failure) else '%s: %s' % (type(e).__name__, e)
        print('cdk-failover: %s could not drain: %s%s' % (name, text, RUNBOOK_DRAIN), file=sys.stderr, flush=True)
        return 1


def drain_under_lock(settings, desired, healthy_seconds=DRAIN_HEALTHY_SECONDS, on_stop=False, at_most=None):
    """Runs drain again under the cluster's lock; its failure line passed on, or one of its own."""
    lock = lock_key(settings)
    # An apply holds the lock for applySeconds at most; the drain itself bounds each of its waits.
    seconds = int(desired['bundle']['applySeconds']) + healthy_seconds + STOP_STEP_SECONDS
    if at_most is not None:
        seconds = min(seconds, at_most)
    log('draining %s: waiting for the cluster lock (an apply or a drain on another node finishes first)' % settings['name'])
    environment = dict(os.environ, **{DRAIN_SECONDS_ENV: str(healthy_seconds)}, **({DRAIN_ON_STOP_ENV: '1'} if on_stop else {}))
    process = subprocess.Popen(['timeout', str(seconds), 'etcdctl', '--endpoints', ','.join(settings['etcd']), *settings['etcdTls'],
                                'lock', '--ttl', str(LOCK_TTL_SECONDS), lock, sys.argv[0], 'drain'], stderr=subprocess.PIPE, text=True,
                               env=environment)
    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        _, stderr = process.communicate()
    except KeyboardInterrupt:
        # timeout runs in a process group of its own, which a terminal's Ctrl-C does not reach:
        # stop it, etcdctl and the drain under the lock, or that drain would go on unseen.
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()
        raise Failure('interrupted: the drain was stopped (a switchover already asked for may still happen; Patroni may be stopped)')
    finally:
        signal.signal(signal.SIGTERM, previous)
    prefix = 'cdk-failover: %s could not drain: ' % settings['name']
    lines = [l for l in (stderr or '').splitlines() if l.strip()]
    failed = [l for l in lines if l.startswith(prefix)]
    if failed:
        # Its line alone (etcdctl adds "Error: exit status 1"; it may exit 0 too).
        print(failed[-1], file=sys.stderr, flush=True)
        return 1
    for line in lines:
        sys.stderr.write(line + '\n')
    if process.returncode == 124:
        raise Failure('not drained within %d s (the cluster lock: %s)' % (seconds, lock))
    if process.returncode != 0:
        raise Failure('the cluster lock %s: %s' % (lock, lines[-1] if lines else 'etcdctl exited %d' % process.returncode))
    return 0


def interrupted(signum, frame):
    raise KeyboardInterrupt()


def drain_holding_lock(settings, desired):
    unit = desired['bundle']['units']['patroni']
    if not unit_active(unit):
        log('%s is not running on %s: nothing to drain' % (unit, settings['name']))
        return
    log('draining %s: waiting until every member runs and etcd is healthy' % settings['name'])
    wait_healthy(settings, desired, int(os.environ.get(DRAIN_SECONDS_ENV) or DRAIN_HEALTHY_SECONDS))
    me = patroni(settings, 'GET', '/patroni')
    if is_leader(me):
        switch_over(settings, 'before it is drained')
    else:
        log('%s is a %s: no switchover' % (settings['name'], me.get('role')))
    require_lock(settings)
    log('stop ' + unit)
    # During a shutdown, systemd's own stop of Patroni waits for the drain unit (ordered after it)
    # to finish stopping: a plain stop from here would wait for itself until the unit's timeout.
    in_shutdown = ['--job-mode=ignore-dependencies'] if os.environ.get(DRAIN_ON_STOP_ENV) else []
    run(['systemctl', 'stop', *in_shutdown, unit], timeout=300)
    # KillMode=process: systemd stops Patroni alone (after 30 s, with SIGKILL), and PostgreSQL can
    # outlive it, still finishing its shutdown checkpoint.
    wait('PostgreSQL to stop after Patroni', 120, lambda: postmaster_left(settings) is None)
    log('drained %s: Patroni and PostgreSQL stopped, etcd still runs; the node can be stopped, rebooted or replaced' % settings['name'])


def drain_on_stop():
    """The drain unit's ExecStop: this node shuts down (an EC2 stop, reboot or termination). Its
    own instance resource says why: DELETE_IN_PROGRESS (the stack goes) needs no drain;
    UPDATE_IN_PROGRESS or UPDATE_ROLLBACK_IN_PROGRESS is CloudFormation stopping every instance at
    once (an instance-type change, or its rollback): each node announces its stop in etcd, a leader
    lets the others drain first, and each drains under the cluster's lock once the others run
    again, so the nodes go down one at a time
    and the leader switches over once. Anything else (a reboot EC2 forces after a few minutes)
    waits briefly. Never refuses the shutdown: every failure is one line, and the exit status is 0."""
    started = time.monotonic()
    identity = read_json(IDENTITY, {}) or {}
    name = identity.get('nodeName') or '?'
    try:
        desired = read_json(DESIRED)
        if not desired:
            raise Failure('no configuration at %s (this node never booted)' % DESIRED)
        settings = patroni_settings(desired)
        name = settings['name']
        if not unit_active(desired['bundle']['units']['patroni']):
            log('%s is not running on %s: nothing to drain' % (desired['bundle']['units']['patroni'], name))
            return 0
        key = stopping_key(settings, name)
        # First: the leader's settle time counts from the nodes' own starts.
        announce_stop(settings, key)
        try:
            status = own_resource_status(identity)
            if status == 'DELETE_IN_PROGRESS':
                log('the stack deletes %s: no drain' % name)
                return 0
            coordinated = coordinated_stop(settings, status)
            # Every wait within the budget: past it, systemd forces the power-off whatever runs.
            deadline = started + (STOP_BUDGET_SECONDS if coordinated else STOP_OTHER_BUDGET_SECONDS)
            left = int(deadline - time.monotonic())
            seconds = min(STOP_ROLLING_SECONDS, left - STOP_STEP_SECONDS) if coordinated else min(STOP_OTHER_SECONDS, left)
            log('%s shuts down (its instance resource: %s%s): draining, waiting at most %d s for the other members'
                % (name, status or 'unknown', ', a stop CloudFormation coordinates' if coordinated else '', seconds))
            if coordinated:
                # What is left for its own drain: the last member's return (300 s at least), the steps.
                leader_goes_last(settings, started, deadline - STOP_STEP_SECONDS - DRAIN_HEALTHY_SECONDS)
                left = int(deadline - time.monotonic())
                seconds = max(0, min(STOP_ROLLING_SECONDS, left - STOP_STEP_SECONDS))
            drain_under_lock(settings, desired, max(0, seconds), on_stop=True, at_most=max(1, left))
        finally:
            try:
                etcdctl(settings, 'del', key)
            except (Failure, OSError, subprocess.TimeoutExpired) as e:
                log('could not clear %s: %s' % (key, e))
    except Exception as e:  # noqa: BLE001 - the shutdown goes on whatever happens here
        text = str(e) if isinstance(e, Failure) else '%s: %s' % (type(e).__name__, e)
        print('cdk-failover: %s could not drain before it shut down: %s%s' % (name, text, RUNBOOK_DRAIN), file=sys.stderr, flush=True)
    return 0


def announce_stop(settings, key):
    """This node's stop in etcd, for a leader to wait for; leased, so a forced power-off's key
    expires with the budget. Best effort: a drain does not depend on it."""
    try:
        lease = etcdctl(settings, 'lease', 'grant', str(STOP_BUDGET_SECONDS)).split()[1]
        etcdctl(settings, 'put', '--lease=' + lease, key, str(int(time.time())))
    except (Failure, OSError, IndexError, subprocess.TimeoutExpired) as e:
        log('could not announce this stop in etcd (%s): a leader may not wait for it' % e)


def coordinated_stop(settings, status):
    """Whether CloudFormation stops every node at once: its resource in progress (not deleted), or,
    its status unknown, another member that announced its stop."""
    if status:
        # An update stops the instance to change it; so does the update's rollback.
        return status in ('UPDATE_IN_PROGRESS', 'UPDATE_ROLLBACK_IN_PROGRESS')
    try:
        return bool(others_stopping(settings))
    except (Failure, OSError, ValueError, KeyError, http.client.HTTPException, subprocess.TimeoutExpired):
        return False


def own_resource_status(identity):
    """This instance's resource status in its stack (3 attempts, about 55 s at most), or None."""
    try:
        return retry('cannot read this instance\'s resource status', 3, 5, lambda: aws(
            identity, 'cloudformation', 'describe-stack-resource', '--stack-name', identity['stackName'], '--logical-resource-id',
            identity['logicalId'], '--query', 'StackResourceDetail.ResourceStatus', '--output', 'text', timeout=15).strip() or None)
    except Failure as e:
        log(str(e))
        return None


def lock_key(settings):
    return '/cdk-failover/%s/apply-lock' % settings['scope']


def stopping_key(settings, node):
    return '/cdk-failover/%s/stopping/%s' % (settings['scope'], node)


def others_stopping(settings):
    """The other members that announced their stop and still run (not drained yet)."""
    prefix = stopping_key(settings, '')
    names = [k[len(prefix):] for k in etcdctl(settings, 'get', '--prefix', '--keys-only', prefix).split() if k.startswith(prefix)]
    running = {m['name'] for m in patroni(settings, 'GET', '/cluster').get('members', []) if m.get('state') in ('running', 'streaming')}
    return sorted(n for n in names if n != settings['name'] and n in running)


def leader_goes_last(settings, started, until):
    """While this node leads, it waits (at most STOP_ROLLING_SECONDS, and not past the monotonic time
    until) for the members stopping beside it: it then switches over once, to a member already back,
    instead of to one about to stop."""
    said = None
    for attempt in range(STOP_ROLLING_SECONDS // 5 + 1):
        try:
            if not is_leader(patroni(settings, 'GET', '/patroni')):
                return
            if attempt == 0:
                # The stops CloudFormation issues beside this one announce themselves meanwhile.
                time.sleep(max(0, STOP_SETTLE_SECONDS - (time.monotonic() - started)))
            waiting = others_stopping(settings)
        except (Failure, OSError, ValueError, KeyError, http.client.HTTPException, subprocess.TimeoutExpired) as e:
            # etcd or Patroni busy for a moment (a member restarting): asked again, within the bound.
            waiting = ['(unknown: %s)' % e]
        if not waiting:
            return
        if time.monotonic() >= min(until, started + STOP_SETTLE_SECONDS + STOP_ROLLING_SECONDS):
            break
        if waiting != said:
            log('leader %s goes last: %s stop first' % (settings['name'], ', '.join(waiting)))
            said = waiting
        time.sleep(5)
    log('leader %s waited %d s for the others: draining now' % (settings['name'], time.monotonic() - started))


def ensure_drain_unit(desired):
    """The drain unit active (a node booted before it existed gets it once it runs this generation)."""
    unit = desired['bundle']['units'].get('drain')
    if unit and not unit_active(unit):
        run(['systemctl', 'enable', '--now', unit])
        log('%s enabled: this node drains before it shuts down' % unit)


def postmaster_left(settings):
    """The PID of a postmaster still running on this node's data directory, or None."""
    try:
        pid = int(read_text(os.path.join(settings['dataDir'], 'postmaster.pid')).split()[0])
        with open('/proc/%d/comm' % pid) as f:
            return pid if f.read().strip() in ('postgres', 'postmaster') else None
    except (OSError, ValueError, IndexError):
        return None


def wait_healthy(settings, desired, seconds):
    """Until every member runs and etcd is healthy (each new reason said once), or Failure."""
    deadline = time.monotonic() + seconds
    said = None
    for _ in range(seconds + 1):
        try:
            why = cluster_unhealthy(settings, desired)
        except (Failure, OSError, ValueError, KeyError, http.client.HTTPException, subprocess.TimeoutExpired) as e:
            why = 'the cluster cannot be read (%s)' % e
        if why is None:
            return
        if why != said:
            log('not yet: %s' % why)
            said = why
        if time.monotonic() >= deadline:
            break
        time.sleep(2)
    raise Failure('the cluster is not healthy after %d s (%s): a node is never taken down while another is' % (seconds, said))


def require_lock(settings):
    if not lock_held(settings):
        raise Failure('lost the cluster lock (etcd unreachable for %d s): stopped before the next step' % LOCK_TTL_SECONDS)


def take_action(settings, action, desired):
    units = desired['bundle']['units']
    if action == 'daemon-reload':
        run(['systemctl', 'daemon-reload'])
    elif action == 'restart-etcd':
        run(['systemctl', 'restart', units['etcd']], timeout=300)
        wait('etcd healthy on every member', 120, lambda: etcdctl(settings, 'endpoint', 'health') is not None)
    elif action == 'reload-haproxy':
        run(['haproxy', '-c', '-q', '-f', desired['bundle']['haproxyConfig']])
        run(['systemctl', 'reload-or-restart', units['haproxy']])
    elif action == 'restart-haproxy':
        run(['systemctl', 'restart', units['haproxy']])
    elif action == 'restart-metrics':
        run(['systemctl', 'restart', units['metrics']])
    elif action == 'prepare-backup':
        # A node booted before the cluster had backups has neither the package nor its directories.
        backup = desired['bundle'].get('backup')
        if backup:
            install_missing('/usr/bin/pgbackrest', 'pgbackrest')
            run(['install', '-d', '-o', 'postgres', '-g', 'postgres', '-m', '0750'] + list(backup['dirs']))
    elif action == 'stanza-create':
        # Fails harmlessly on a replica; the leader applies last and creates it, so archiving works.
        backup = desired['bundle'].get('backup')
        if backup:
            run(['/usr/bin/python3', '-I', backup['runner'], 'stanza-create'], timeout=300, check=False)
    elif action == 'restart-backup-timers':
        # Enabled here too: a cluster that gains backups on day two gets its timers this way.
        run(['systemctl', 'enable'] + list(units['backupTimers']))
        run(['systemctl', 'restart'] + list(units['backupTimers']))
    elif action == 'reload-patroni':
        run(['systemctl', 'reload', units['patroni']])
    elif action == 'reload-tls':
        # Patroni rebuilds its HTTPS server on a reload when the certificate's serial changed;
        # PostgreSQL re-reads its certificate at SIGHUP. etcd reads its pair at every handshake.
        tls = desired['bundle']['tls']
        run(['systemctl', 'reload', units['patroni']])
        # The rebuild happens at Patroni's next loop and drops the connections of the moment: the
        # next request would be reset (seen in a booted rotation). It is done once the new one is served.
        wait("Patroni's REST API serving the new certificate", reload_seconds(desired),
             lambda: served_certificate(settings['url']) == file_certificate(settings['certfile']))
        run(['runuser', '-u', 'postgres', '--', tls['pgCtl'], 'reload', '-s', '-D', tls['dataDir']])
        # pgBackRest's TLS server loads its pair when it starts (a backup it serves fails and is retried).
        if units.get('backupServer'):
            run(['systemctl', 'try-restart', units['backupServer']])
    elif action != 'none':
        raise Failure('unknown action ' + action)


def ordered_actions(actions, order):
    """The actions in this generation's order. One it does not have was remembered from a newer
    generation that was rolled back: dropped, or the rollback could never finish here."""
    unknown = sorted(a for a in actions if a not in order)
    if unknown:
        log('dropped actions this generation does not have: %s' % ', '.join(unknown))
    return sorted((a for a in actions if a in order), key=order.index)


def ensure_imds_firewall(desired):
    """The IMDS table loaded from the current rules file, at every agent run: not a file's action,
    because an older agent writes the files of the generation that brings the firewall and knows
    no action for them. nft loads the file as one transaction (the unit's reload): a failed load
    keeps the table in force. The credential broker that the rules send postgres to runs first: a
    table that redirects to no broker is not loaded (the one in force stays)."""
    firewall = desired['bundle'].get('imdsFirewall')
    if not firewall:
        return
    rules = read_bytes(firewall['rules'])
    broker = firewall.get('broker')
    if broker:
        if not ensure_credential_broker(broker):
            return
    elif b'dnat' in rules:
        # Files of a generation with the broker, the desired one without (a rollback under way):
        # the table in force stays until the rollback's files are written.
        log('IMDS firewall not loaded: its rules send postgres to a credential broker this generation does not have')
        return
    digest = hashlib.sha256(rules).hexdigest()
    active = unit_active(firewall['unit'])
    if active and read_text(IMDS_FIREWALL_LOADED) == digest:
        return
    install_missing('/usr/sbin/nft', 'nftables')
    run(['systemctl', 'enable', '--quiet', firewall['unit']])
    run(['systemctl', 'reload-or-restart', firewall['unit']])
    write_atomic(IMDS_FIREWALL_LOADED, digest, 0o644)
    log('IMDS firewall loaded (%s)' % digest[:12])


def ensure_credential_broker(broker):
    """The broker running its current program and unit (restarted when either changed); False
    while its files are not written here yet (an older generation) or it does not stay up."""
    unit_file = '/etc/systemd/system/' + broker['unit']
    if not (os.path.exists(broker['program']) and os.path.exists(unit_file)):
        return False
    digest = hashlib.sha256(read_bytes(broker['program']) + read_bytes(unit_file)).hexdigest()
    active = unit_active(broker['unit'])
    recorded = read_text(CREDENTIAL_BROKER_STARTED)
    if active and recorded in (digest, ''):
        # Nothing recorded: the first boot's bootstrap started it from these files; a restart
        # would only refuse postgres's requests for a moment.
        if not recorded:
            write_atomic(CREDENTIAL_BROKER_STARTED, digest, 0o644)
        return True
    run(['systemctl', 'daemon-reload'])
    run(['systemctl', 'enable', '--quiet', broker['unit']])
    # Type=notify: returns once the broker holds the process role's credentials, or fails.
    run(['systemctl', 'restart', broker['unit']])
    # Restart=always hides a broker that exits at once: it must still be up a moment later.
    time.sleep(2)
    if not unit_active(broker['unit']):
        raise Failure('the credential broker %s does not stay up (journalctl -u %s)' % (broker['unit'], broker['unit']))
    write_atomic(CREDENTIAL_BROKER_STARTED, digest, 0o644)
    log('credential broker started (%s)' % digest[:12])
    return True


def ensure_ssm_agent(desired, retry_after=0):
    """AWS's SSM agent, installed where it is missing (a new node, or one booted by a bundle
    without it) and kept running. A failed install is retried only after retry_after seconds: the
    package is tens of MB, and the timer runs every minute."""
    ssm = desired['bundle'].get('ssmAgent')
    if not ssm:
        return
    if not os.path.exists(ssm['program']):
        if not os.path.exists(ssm['installer']):
            return  # this generation's files are not written here yet
        try:
            last = float(read_text(SSM_AGENT_ATTEMPT) or 0)
        except ValueError:
            last = 0
        if retry_after and time.time() - last < retry_after:
            return
        write_atomic(SSM_AGENT_ATTEMPT, str(time.time()), 0o644)
        # Its own session: on a timeout the installer's curl and apt go with it.
        process = subprocess.Popen([ssm['installer'], 'install'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, errors='replace', start_new_session=True)
        try:
            out, err = process.communicate(timeout=SSM_AGENT_INSTALL_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise Failure('SSM agent: the installer did not finish within %d s' % SSM_AGENT_INSTALL_SECONDS)
        lines = [l for l in err.splitlines() if l.strip()]
        if process.returncode != 0:
            raise Failure(lines[-1] if lines else 'the SSM agent installer exited %d' % process.returncode)
        log(out.strip().splitlines()[-1] if out.strip() else 'SSM agent installed')
    elif not unit_active(ssm['unit']):
        run(['systemctl', 'enable', '--now', ssm['unit']])


def unit_active(unit):
    return subprocess.run(['systemctl', 'is-active', '--quiet', unit]).returncode == 0


def install_missing(program, package):
    """Installs Debian's package when its program is missing (a node booted by an older bundle)."""
    if not os.path.exists(program):
        run(['apt-get', 'update'], timeout=600)
        run(['apt-get', '-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '--no-install-recommends', package], timeout=900)


def patch_dynamic_configuration(settings, desired, patroni_yml, leader):
    """PATCHes Patroni's /config where it differs from the desired dynamic configuration. A
    standby's streaming source only from its standby leader, which applies last: by then every
    node trusts the primary's CA."""
    current = patroni(settings, 'GET', '/config')
    wanted = desired['bundle']['dynamicConfiguration']
    patch = diff(current, wanted)
    if leader:
        patch.update(standby_patch(current, patroni_yml))
    if not patch:
        return False
    log('PATCH /config ' + json.dumps(patch, sort_keys=True))
    answer = patroni(settings, 'PATCH', '/config', patch)
    following = answer.get('standby_cluster') if isinstance(answer, dict) else None
    if 'standby_cluster' in patch and isinstance(following, dict) and not following.get('restore_command'):
        # A promotion (standby_cluster: null) came between the read and the PATCH, which made a
        # standby_cluster of host and port alone: undo it at once, so the promotion stands.
        patroni(settings, 'PATCH', '/config', {'standby_cluster': None})
        raise Failure('the cluster was promoted while this change applied; its streaming source was not set (the promotion stands): deploy again without standbyOf')
    return True


def standby_patch(current, patroni_yml):
    """standby_cluster's host and port as patroni.yml's bootstrap wants them, while /config still
    follows a primary: streaming added to, moved on or removed from a running standby. Nothing
    once promoted (no standby_cluster), so no deploy can undo a promotion."""
    import yaml
    following = current.get('standby_cluster')
    wanted = (((yaml.safe_load(patroni_yml) or {}).get('bootstrap') or {}).get('dcs') or {}).get('standby_cluster')
    if not isinstance(following, dict) or not isinstance(wanted, dict):
        return {}
    changed = {k: wanted.get(k) for k in ('host', 'port') if following.get(k) != wanted.get(k)}
    return {'standby_cluster': changed} if changed else {}


def diff(current, wanted):
    """The merge patch turning current into wanted (postgresql.parameters not wanted become null)."""
    patch = {}
    for key, value in wanted.items():
        if isinstance(value, dict):
            inner = diff(current.get(key) or {}, value)
            if key == 'parameters':
                inner.update({k: None for k in (current.get(key) or {}) if k not in value})
            if inner:
                patch[key] = inner
        elif current.get(key) != value:
            patch[key] = value
    return patch


def switch_over(settings, why):
    """This leader hands over to a replica (one switchover) and runs as a replica itself, or Failure."""
    log('switchover away from %s %s' % (settings['name'], why))
    try:
        patroni(settings, 'POST', '/switchover', {'leader': settings['name']}, timeout=60)
    except (Failure, OSError, http.client.HTTPException) as e:
        # 503 "status unknown" or a timeout: the switchover may still happen; the wait decides.
        log('switchover answer: %s' % e)
    wait('%s to run as a replica' % settings['name'], 180,
         lambda: (lambda s: s.get('state') == 'running' and not is_leader(s))(patroni(settings, 'GET', '/patroni')))


def restart_member(settings, desired, me, restart_service):
    """A restart, never of the leader: the leader hands over first (one switchover)."""
    if is_leader(me):
        switch_over(settings, 'before its restart')
    if restart_service:
        log('restart ' + desired['bundle']['units']['patroni'])
        run(['systemctl', 'restart', desired['bundle']['units']['patroni']], timeout=300)
    else:
        log('restart PostgreSQL (pending_restart)')
        try:
            # role=replica: Patroni refuses if this node has become the leader meanwhile.
            patroni(settings, 'POST', '/restart', {'role': 'replica', 'restart_pending': True}, timeout=120)
        except (Failure, OSError, http.client.HTTPException) as e:
            log('restart answer: %s (waiting for PostgreSQL)' % e)


${PATRONI_TIMING_CHECK_PY}

def check_patroni_command():
    timing = read_json(DESIRED)['bundle']['dynamicConfiguration']
    try:
        version = run(['patroni', '--version'], timeout=60)
    except (Failure, OSError, subprocess.TimeoutExpired) as e:
        version = str(e)
    problem = timing_adjustment(version, timing)
    if problem:
        print('cdk-failover: %s%s' % (problem, RUNBOOK_BOOT), file=sys.stderr, flush=True)
        return 1
    log('%s runs ttl %s / loop_wait %s / retry_timeout %s as declared' % (version.strip(), timing['ttl'], timing['loop_wait'], timing['retry_timeout']))
    return 0


COMMANDS = {'boot': boot, 'reconcile': reconcile, 'apply': apply, 'drain': drain, 'drain-on-stop': drain_on_stop, 'write-files': write_files_command, 'check-patroni': check_patroni_command}

if __name__ == '__main__':
    if len(sys.argv) != 2 or sys.argv[1] not in COMMANDS:
        sys.exit('usage: cdk-failover-agent ' + '|'.join(COMMANDS))
    sys.exit(COMMANDS[sys.argv[1]]())
`;
