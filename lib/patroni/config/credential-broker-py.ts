// The credential broker's program body (Python 3, standard library and Debian's awscli): postgres's
// requests to IMDS arrive here (the IMDS firewall redirects them) and get the process role's
// credentials, nothing else. See credential-broker.ts.

export const CREDENTIAL_BROKER_BODY = `import base64
import datetime
import hashlib
import hmac
import http.server
import os
import pwd
import secrets
import socket
import struct
import subprocess
import sys
import threading
import time

CREDENTIALS_PATH = '/latest/meta-data/iam/security-credentials'
LOCK = threading.Lock()
STATE = {'credentials': None}
# Tokens are signed, not stored: nothing grows, however many clients ask.
TOKEN_KEY = secrets.token_bytes(32)


def log(message):
    print('cdk-failover-credentials: %s' % message, file=sys.stderr, flush=True)


def notify(state):
    """systemd's readiness protocol (Type=notify), without a library."""
    address = os.environ.get('NOTIFY_SOCKET')
    if not address:
        return
    if address.startswith('@'):
        address = '\\0' + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(address)
        s.sendall(state.encode('utf-8'))


def timestamp(text):
    """awscli's ISO-8601 time (an offset, or Z) in seconds since the epoch."""
    return datetime.datetime.fromisoformat(text.replace('Z', '+00:00')).timestamp()


def imds_time(seconds):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(seconds))


def assume_role():
    """The process role's credentials, through STS's regional endpoint, signed with the instance
    role's (this program runs as root, which alone reaches IMDS)."""
    env = dict(os.environ, AWS_STS_REGIONAL_ENDPOINTS='regional')
    region = ['--region', CONFIG['region']] if CONFIG['region'] else []
    argv = ['aws', 'sts', 'assume-role', *region, '--role-arn', CONFIG['roleArn'],
            '--role-session-name', CONFIG['sessionName'], '--duration-seconds', str(CONFIG['durationSeconds']),
            '--query', 'Credentials', '--output', 'json']
    result = subprocess.run(argv, capture_output=True, text=True, errors='replace', env=env, timeout=CONFIG['stsTimeoutSeconds'])
    if result.returncode != 0:
        lines = [l for l in result.stderr.splitlines() if l.strip()]
        raise RuntimeError(lines[-1] if lines else 'aws sts assume-role exited %d' % result.returncode)
    c = json.loads(result.stdout)
    # IMDS's shape: pgBackRest and botocore read these names and this time format.
    return {'Code': 'Success', 'LastUpdated': imds_time(time.time()), 'Type': 'AWS-HMAC',
            'AccessKeyId': c['AccessKeyId'], 'SecretAccessKey': c['SecretAccessKey'], 'Token': c['SessionToken'],
            'Expiration': imds_time(timestamp(c['Expiration']))}


def refresh():
    """Keeps credentials with at least refreshBeforeSeconds left, so a request never waits for STS
    (botocore gives IMDS one second). A failed refresh keeps the old ones while they last. Ready
    (to systemd) once the first set is in hand."""
    while True:
        delay = CONFIG['checkSeconds']
        try:
            current = STATE['credentials']
            if current is None or timestamp(current['Expiration']) - time.time() < CONFIG['refreshBeforeSeconds']:
                fresh = assume_role()
                with LOCK:
                    STATE['credentials'] = fresh
                log('credentials of %s until %s' % (CONFIG['roleArn'], fresh['Expiration']))
                if current is None:
                    notify('READY=1')
        except Exception as e:  # the thread must outlive any failure: it is the broker's only source
            log('cannot assume %s (next attempt in %d s): %s' % (CONFIG['roleArn'], CONFIG['retrySeconds'], e))
            delay = CONFIG['retrySeconds']
        time.sleep(delay)


def token_mac(expires):
    return base64.urlsafe_b64encode(hmac.new(TOKEN_KEY, expires.encode(), hashlib.sha256).digest()).decode().rstrip('=')


def new_token(ttl):
    expires = '%d' % (time.time() + ttl)
    return expires + '.' + token_mac(expires)


def valid_token(token):
    expires, _, mac = (token or '').partition('.')
    return expires.isdigit() and hmac.compare_digest(mac, token_mac(expires)) and time.time() < int(expires)


def peer_uid(address, port):
    """The owner of the client's end of a loopback connection, from /proc/net/tcp: the broker's
    own check that it answers postgres alone, besides the firewall's."""
    wanted = '%08X:%04X' % (struct.unpack('<I', socket.inet_aton(address))[0], port)
    with open('/proc/net/tcp') as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            # The established connection's end (a closed one in TIME_WAIT shows uid 0).
            if fields[1] == wanted and fields[3] == '01':
                return int(fields[7])
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    """IMDSv2's shape for the credential paths only; anything else is 404, as for a role-less instance."""
    protocol_version = 'HTTP/1.1'
    timeout = 10

    def reply(self, status, body, content_type='text/plain', headers=()):
        data = body.encode('utf-8')
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def admitted(self):
        """Drains the body; False (answered) for a caller that is not postgres, or a request that
        came through a proxy (as IMDS refuses X-Forwarded-For)."""
        length = self.headers.get('Content-Length', '0')
        if length.isdigit() and 0 < int(length) <= 65536:
            self.rfile.read(int(length))
        elif length != '0':
            self.close_connection = True
        if self.headers.get('X-Forwarded-For') is not None:
            self.reply(403, 'Forbidden\\n')
            return False
        if peer_uid(*self.client_address[:2]) not in ALLOWED_UIDS:
            self.reply(403, 'Forbidden\\n')
            return False
        return True

    def do_PUT(self):
        if not self.admitted():
            return
        if self.path != '/latest/api/token':
            return self.reply(404, 'Not Found\\n')
        ttl = self.headers.get('X-aws-ec2-metadata-token-ttl-seconds', '')
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return self.reply(400, 'Bad Request\\n')
        self.reply(200, new_token(int(ttl)), headers=[('X-aws-ec2-metadata-token-ttl-seconds', ttl)])

    def do_GET(self):
        if not self.admitted():
            return
        # Tokens required, as on the nodes' instances (IMDSv2 only).
        if not valid_token(self.headers.get('X-aws-ec2-metadata-token')):
            return self.reply(401, 'Unauthorized\\n')
        path = self.path.split('?', 1)[0]
        if path in (CREDENTIALS_PATH, CREDENTIALS_PATH + '/'):
            return self.reply(200, CONFIG['roleName'])
        if path != CREDENTIALS_PATH + '/' + CONFIG['roleName']:
            return self.reply(404, 'Not Found\\n')
        with LOCK:
            current = STATE['credentials']
        if current is None or timestamp(current['Expiration']) <= time.time():
            return self.reply(503, 'Service Unavailable: no credentials of the process role yet\\n')
        self.reply(200, json.dumps(current), 'application/json')

    def log_message(self, format, *args):
        pass  # no access log: the journal keeps the refreshes and the failures


ALLOWED_UIDS = {pwd.getpwnam(user).pw_uid for user in CONFIG['users']}


def main():
    server = http.server.ThreadingHTTPServer((CONFIG['address'], CONFIG['port']), Handler)
    server.daemon_threads = True
    threading.Thread(target=refresh, daemon=True).start()
    log('serving the credentials of %s to %s on %s:%d' % (CONFIG['roleArn'], ', '.join(CONFIG['users']), CONFIG['address'], CONFIG['port']))
    server.serve_forever()


if __name__ == '__main__':
    main()
`;
