import * as fs from 'fs';
import * as path from 'path';
import { Duration } from 'aws-cdk-lib';
import { describeFailoverTime, HealthCheckProtocol, worstCaseFailoverTime } from '../../lib';

describe('worstCaseFailoverTime', () => {
  test('per-check timeouts: HTTP(S) 6 s, string match 8 s, TCP 10 s', () => {
    const model = (protocol: HealthCheckProtocol, stringMatch: boolean) =>
      worstCaseFailoverTime({ protocol, stringMatch, interval: Duration.seconds(10), failureThreshold: 1, ttl: Duration.seconds(0) });
    expect(model(HealthCheckProtocol.HTTPS, false).detection.toSeconds()).toBe(16);
    expect(model(HealthCheckProtocol.HTTP, true).detection.toSeconds()).toBe(18);
    expect(model(HealthCheckProtocol.TCP, false).detection.toSeconds()).toBe(20);
  });

  test('describes its breakdown', () => {
    const b = worstCaseFailoverTime({
      protocol: HealthCheckProtocol.HTTPS,
      stringMatch: false,
      interval: Duration.seconds(30),
      failureThreshold: 3,
      ttl: Duration.seconds(60),
    });
    expect(describeFailoverTime(b)).toBe('108 s detection + 30 s propagation allowance + 60 s TTL = 198 s');
  });

  test("every row of docs/dns-failover.md's worst-case table matches the model", () => {
    const readme = fs.readFileSync(path.join(__dirname, '../../docs/dns-failover.md'), 'utf8');
    const rows = readme
      .split('\n')
      .filter((line) => /^\| (HTTPS|HTTP|TCP) \| (yes|no) \|/.test(line))
      .map((line) => line.split('|').slice(1, -1).map((c) => c.trim()));
    expect(rows.length).toBeGreaterThanOrEqual(5);
    const seconds = (cell: string) => Number(cell.replace(/ s$/, ''));
    for (const [protocol, stringMatch, interval, threshold, ttl, detection, propagation, total] of rows) {
      const b = worstCaseFailoverTime({
        protocol: (HealthCheckProtocol as unknown as Record<string, HealthCheckProtocol>)[protocol],
        stringMatch: stringMatch === 'yes',
        interval: Duration.seconds(seconds(interval)),
        failureThreshold: Number(threshold),
        ttl: Duration.seconds(seconds(ttl)),
      });
      expect([b.detection.toSeconds(), b.propagation.toSeconds(), b.total.toSeconds()]).toEqual([
        seconds(detection),
        seconds(propagation),
        seconds(total),
      ]);
    }
  });
});
