import { Duration } from 'aws-cdk-lib';
import * as route53 from 'aws-cdk-lib/aws-route53';

/**
 * How Route 53 probes an endpoint.
 *
 * Each protocol carries the per-check timeout the failover-time model uses: HTTP(S) must connect
 * within 4 s and answer within 2 s more; a string match needs up to 2 s more for the body; TCP
 * must connect within 10 s.
 */
export class HealthCheckProtocol {
  /** HTTPS request; healthy on a 2xx or 3xx status. */
  public static readonly HTTPS = new HealthCheckProtocol('HTTPS', 443, true);
  /** Plain HTTP request; healthy on a 2xx or 3xx status. */
  public static readonly HTTP = new HealthCheckProtocol('HTTP', 80, true);
  /** TCP connection only: no path, no string match, no SNI. */
  public static readonly TCP = new HealthCheckProtocol('TCP', undefined, false);

  private constructor(
    /** The protocol's name, as Route 53 spells it. */
    public readonly name: string,
    /** The port Route 53 uses when none is given. */
    public readonly defaultPort: number | undefined,
    /** Whether the check makes an HTTP request (path, string match and SNI apply). */
    public readonly isHttp: boolean,
  ) {}

  /** The Route 53 health check type, string match or not. */
  public healthCheckType(stringMatch: boolean): route53.HealthCheckType {
    if (this === HealthCheckProtocol.TCP) return route53.HealthCheckType.TCP;
    if (this === HealthCheckProtocol.HTTP) {
      return stringMatch ? route53.HealthCheckType.HTTP_STR_MATCH : route53.HealthCheckType.HTTP;
    }
    return stringMatch ? route53.HealthCheckType.HTTPS_STR_MATCH : route53.HealthCheckType.HTTPS;
  }

  /** Longest time one check may take before it counts as failed (Route 53's documented limits). */
  public checkTimeout(stringMatch: boolean): Duration {
    if (!this.isHttp) return Duration.seconds(10);
    return Duration.seconds(stringMatch ? 8 : 6);
  }
}
