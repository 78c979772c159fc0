// The AWS stand-in's tests: a configuration of loopback instances, and requests as the nodes'
// programs send them, from a chosen source address (loopback is 127.0.0.0/8 on Linux: the caller
// picks which instance it is).
import * as http from 'node:http';
import * as path from 'node:path';
import type { AwsStandInConfig, StandInInstance } from '../../lib/local/boot/aws-standin';

/** Two instances on loopback, every file in `dir`, the rehearsal's account and region; `extra` on top. */
export function testStandInConfig(dir: string, instances: readonly StandInInstance[], extra: Partial<AwsStandInConfig> = {}): AwsStandInConfig {
  return {
    region: 'eu-west-1',
    accountId: '111122223333',
    roleName: 'Rehearsal-DatabaseNodeRole1234',
    imds: { host: '127.0.0.1', port: 0 },
    api: { host: '127.0.0.1', port: 0 },
    instances,
    secrets: {},
    metricsFile: path.join(dir, 'metrics.jsonl'),
    cloudFormationFile: path.join(dir, 'cloudformation.json'),
    signalsFile: path.join(dir, 'signals.jsonl'),
    requestLogFile: path.join(dir, 'requests.jsonl'),
    rootVolumeTasksFile: path.join(dir, 'tasks.jsonl'),
    ...extra,
  };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface CallOptions {
  method?: string;
  path?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string | Buffer;
  localAddress?: string;
}

export function call(port: number, o: CallOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: o.method ?? 'GET', path: o.path ?? '/', headers: o.headers, localAddress: o.localAddress, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

/** SigV4 headers with a node's role keys: the stand-in reads the key ID and the session token, not the signature. */
export function signedHeaders(c: { readonly AccessKeyId: string; readonly Token: string }, service: string): http.OutgoingHttpHeaders {
  return {
    Authorization: `AWS4-HMAC-SHA256 Credential=${c.AccessKeyId}/20260101/eu-west-1/${service}/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=${'0'.repeat(64)}`,
    'X-Amz-Date': '20260101T000000Z',
    'X-Amz-Security-Token': c.Token,
  };
}
