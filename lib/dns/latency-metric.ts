/** Latency metrics Route 53 publishes per checker region when `measureLatency` is on. */
export class LatencyMetric {
  /** Time to establish the TCP connection. */
  public static readonly CONNECTION_TIME = new LatencyMetric('ConnectionTime');
  /** Time to the first byte of the response (HTTP and HTTPS). */
  public static readonly TIME_TO_FIRST_BYTE = new LatencyMetric('TimeToFirstByte');
  /** Time to complete the TLS handshake (HTTPS). */
  public static readonly SSL_HANDSHAKE_TIME = new LatencyMetric('SSLHandshakeTime');

  private constructor(
    /** The CloudWatch metric name in AWS/Route53. */
    public readonly metricName: string,
  ) {}
}
