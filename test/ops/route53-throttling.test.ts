// Throttling and pacing need the SDK's own middleware (retry strategy, our pacer), which
// aws-sdk-client-mock bypasses (it stubs send()). So these tests point a real Route53Client at a
// fake Route 53 endpoint on 127.0.0.1 that answers in Route 53's REST-XML.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetHealthCheckStatusCommand } from '@aws-sdk/client-route-53';
import { createRoute53Client, RequestPacer } from '../../lib/ops/route53-client';
import { Route53Drill } from '../../lib/ops/route53-drill';
import { TARGET } from './fake-route53';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const XMLNS = 'https://route53.amazonaws.com/doc/2013-04-01/';
const THROTTLED = `<?xml version="1.0"?>\n<ErrorResponse xmlns="${XMLNS}"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`;
const STATUS = `<?xml version="1.0"?>\n<GetHealthCheckStatusResponse xmlns="${XMLNS}"><HealthCheckObservations>${['us-east-1', 'eu-west-1', 'ap-southeast-1']
  .map(
    (r, i) =>
      `<HealthCheckObservation><Region>${r}</Region><IPAddress>15.177.0.${i}</IPAddress><StatusReport><Status>${i === 2 ? 'Failure: Connection timed out' : 'Success: HTTP Status Code 200, OK'}</Status><CheckedTime>2026-01-01T00:00:0${i}.000Z</CheckedTime></StatusReport></HealthCheckObservation>`,
  )
  .join('')}</HealthCheckObservations></GetHealthCheckStatusResponse>`;

const CREDENTIALS = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };

describe('Route 53 client: SDK retry strategy and pacing, against a loopback endpoint', () => {
  let server: http.Server;
  let endpoint: string;
  let seen: Array<{ at: number; path: string }>;
  let throttleFirst: number;

  beforeEach(async () => {
    seen = [];
    throttleFirst = 0;
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push({ at: Date.now(), path: req.url ?? '' });
        const throttled = seen.length <= throttleFirst;
        res.writeHead(throttled ? 400 : 200, { 'Content-Type': 'text/xml', 'x-amzn-RequestId': `r-${seen.length}` });
        res.end(throttled ? THROTTLED : STATUS);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('throttling, then success: the SDK retries and the drill gets the answer', async () => {
    throttleFirst = 2;
    const route53 = createRoute53Client({ endpoint, credentials: CREDENTIALS, requestsPerSecond: 5, maxAttempts: 4 });
    const drill = new Route53Drill({ route53, target: TARGET });
    const status = await drill.checkerStatus('hc-primary');
    expect(seen).toHaveLength(3);
    expect(seen.every((s) => s.path === '/2013-04-01/healthcheck/hc-primary/status')).toBe(true);
    expect(status.observations.map((o) => `${o.region}:${o.healthy}`)).toEqual(['ap-southeast-1:false', 'eu-west-1:true', 'us-east-1:true']);
    // 2 of 3 healthy is more than 18%: Route 53 calls it healthy.
    expect(status.healthy).toBe(true);
  }, 20_000);

  test('throttling that does not stop fails after maxAttempts, with the error code', async () => {
    throttleFirst = 100;
    const route53 = createRoute53Client({ endpoint, credentials: CREDENTIALS, requestsPerSecond: 5, maxAttempts: 3 });
    await expect(route53.send(new GetHealthCheckStatusCommand({ HealthCheckId: 'hc-primary' }))).rejects.toMatchObject({ name: 'Throttling' });
    expect(seen).toHaveLength(3);
  }, 30_000);

  test('every attempt, retries included, is paced: never more than 5 requests in any second', async () => {
    throttleFirst = 3;
    // The default pace, 4/s, leaves room for the jitter between the pacer and the wire.
    const route53 = createRoute53Client({ endpoint, credentials: CREDENTIALS, maxAttempts: 8 });
    const started = Date.now();
    await Promise.all([1, 2, 3, 4, 5].map(() => route53.send(new GetHealthCheckStatusCommand({ HealthCheckId: 'hc-primary' }))));
    expect(seen.length).toBe(8);
    const at = seen.map((s) => s.at).sort((a, b) => a - b);
    const busiestSecond = Math.max(...at.map((t) => at.filter((u) => u >= t && u < t + 1000).length));
    expect(busiestSecond).toBeLessThanOrEqual(5);
    // 8 requests at 4/s take at least 7 x 250 ms.
    expect(at[7]! - started).toBeGreaterThanOrEqual(1700);
  }, 30_000);

  test('refuses a pace above Route 53\'s limit', () => {
    expect(() => createRoute53Client({ requestsPerSecond: 6 })).toThrow("requestsPerSecond must be at most 5 (Route 53's account limit), got 6");
  });

  test('the pacer spaces callers evenly', async () => {
    const pacer = new RequestPacer(20);
    const started = Date.now();
    const times: number[] = [];
    await Promise.all([0, 1, 2, 3].map(async () => {
      await pacer.take();
      times.push(Date.now() - started);
    }));
    times.sort((a, b) => a - b);
    expect(times[0]).toBeLessThan(40);
    expect(times[3]).toBeGreaterThanOrEqual(145);
  });
});
