// The credential broker's program body (Python 3, standard library and Debian's awscli): postgres's
// requests to IMDS arrive here (the IMDS firewall redirects them) and get the process role's
// credentials, nothing else. See credential-broker.ts.

export const CREDENTIAL_BROKER_BODY = `import datetime
import http.server
import os
import secrets
import subprocess
import sys
import threading
import time

CREDENTIALS_PATH = '/latest/meta-data/iam/security-credentials'
LOCK = threading.Lock()
STATE = {'credentials': None, 'tokens': {}}


def log(message):
    print('cdk-failover-credentials: %s' % message, file=sys.stderr, flush=True)


def expiry(credentials):
    return datetime.datetime.fromisoformat(credentials['Expiration'].replace('Z', '+00:00')).timestamp()


def assume_role():
    """The process role's credentials, through STS's regional endpoint, signed with the instance
    role's (this program runs as root, which alone reaches IMDS)."""
    env = dict(os.environ, AWS_STS_REGIONAL_ENDPOINTS='regional')
    argv = ['aws', 'sts', 'assume-role', '--region', CONFIG['region'], '--role-arn', CONFIG['roleArn'],
            '--role-session-name', CONFIG['sessionName'], '--duration-seconds', str(CONFIG['durationSeconds']),
            '--query', 'Credentials', '--output', 'json']
    result = subprocess.run(argv, capture_output=True, text=True, errors='replace', env=env, timeout=CONFIG['stsTimeoutSeconds'])
    if result.returncode != 0:
        lines = [l for l in result.stderr.splitlines() if l.strip()]
        raise RuntimeError(lines[-1] if lines else 'aws sts assume-role exited %d' % result.returncode)
    c = json.loads(result.stdout)
    expires = datetime.datetime.fromisoformat(c['Expiration'].replace('Z', '+00:00')).astimezone(datetime.timezone.utc)
    # IMDS's shape: pgBackRest and botocore read these names and this time format.
    return {'Code': 'Success', 'LastUpdated': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), 'Type': 'AWS-HMAC',
            'AccessKeyId': c['AccessKeyId'], 'SecretAccessKey': c['SecretAccessKey'], 'Token': c['SessionToken'],
            'Expiration': expires.strftime('%Y-%m-%dT%H:%M:%SZ')}


def refresh():
    """Keeps credentials with at least refreshBeforeSeconds left, so a request never waits for STS
    (botocore gives IMDS one second). A failed refresh keeps the old ones while they last."""
    while True:
        current = STATE['credentials']
        delay = CONFIG['checkSeconds']
        if current is None or expiry(current) - time.time() < CONFIG['refreshBeforeSeconds']:
            try:
                fresh = assume_role()
                with LOCK:
                    STATE['credentials'] = fresh
                log('credentials of %s until %s' % (CONFIG['roleArn'], fresh['Expiration']))
            except (RuntimeError, OSError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
                log('cannot assume %s (next attempt in %d s): %s' % (CONFIG['roleArn'], CONFIG['retrySeconds'], e))
                delay = CONFIG['retrySeconds']
        time.sleep(delay)


def new_token(ttl):
    now = time.time()
    with LOCK:
        tokens = STATE['tokens']
        for token in [t for t, until in tokens.items() if until <= now]:
            del tokens[token]
        if len(tokens) >= CONFIG['maxTokens']:
            del tokens[min(tokens, key=tokens.get)]
        token = secrets.token_urlsafe(32)
        tokens[token] = now + ttl
        return token


def valid_token(token):
    with LOCK:
        until = STATE['tokens'].get(token or '')
    return until is not None and time.time() < until


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

    def drain(self):
        length = self.headers.get('Content-Length', '0')
        if length.isdigit() and 0 < int(length) <= 65536:
            self.rfile.read(int(length))

    def do_PUT(self):
        self.drain()
        if self.path != '/latest/api/token':
            return self.reply(404, 'Not Found\\n')
        ttl = self.headers.get('X-aws-ec2-metadata-token-ttl-seconds', '')
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return self.reply(400, 'Bad Request\\n')
        self.reply(200, new_token(int(ttl)), headers=[('X-aws-ec2-metadata-token-ttl-seconds', ttl)])

    def do_GET(self):
        self.drain()
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
        if current is None or expiry(current) <= time.time():
            return self.reply(503, 'Service Unavailable: no credentials of the process role yet\\n')
        self.reply(200, json.dumps(current), 'application/json')

    def log_message(self, format, *args):
        pass  # no access log: the journal keeps the refreshes and the failures


def main():
    server = http.server.ThreadingHTTPServer((CONFIG['address'], CONFIG['port']), Handler)
    server.daemon_threads = True
    threading.Thread(target=refresh, daemon=True).start()
    log('serving the credentials of %s to postgres on %s:%d' % (CONFIG['roleArn'], CONFIG['address'], CONFIG['port']))
    server.serve_forever()


if __name__ == '__main__':
    main()
`;
