import { Duration, Token } from 'aws-cdk-lib';
import { DEFAULT_CHECKER_REGIONS, MIN_CHECKER_REGIONS, ROUTE53_CHECKER_REGIONS } from './checker-regions';
import { HealthCheckProtocol } from './health-check-protocol';

/** How Route 53 probes each endpoint. */
export interface HealthCheckOptions {
  /**
   * Protocol of the probe.
   * @default HealthCheckProtocol.HTTPS
   */
  readonly protocol?: HealthCheckProtocol;

  /**
   * Port probed.
   * @default - 443 for HTTPS, 80 for HTTP; required for TCP
   */
  readonly port?: number;

  /**
   * Path requested (HTTP and HTTPS only), at most 255 characters.
   * @default '/health'
   */
  readonly path?: string;

  /**
   * String that must appear in the first 5,120 bytes of the response body (HTTP and HTTPS only),
   * at most 255 characters. Makes the check a string-match check, which may take 2 s longer.
   * @default - no string match: any 2xx or 3xx status is healthy
   */
  readonly searchString?: string;

  /**
   * How often each checker probes. Route 53 accepts 10 or 30 seconds, and the value cannot change
   * once the health check exists (a change replaces it).
   * @default Duration.seconds(30)
   */
  readonly interval?: Duration;

  /**
   * Consecutive results needed to change status, 1 to 10.
   * @default 3
   */
  readonly failureThreshold?: number;

  /**
   * Checker regions, at least 3 of the 8 Route 53 offers.
   * @default ['us-east-1', 'us-west-2', 'eu-west-1']
   */
  readonly regions?: string[];

  /**
   * Measure latency from each checker region (CloudWatch ConnectionTime, TimeToFirstByte and, for
   * HTTPS, SSLHandshakeTime). Cannot change once the health check exists.
   * @default false
   */
  readonly measureLatency?: boolean;

  /**
   * Send the host name in the TLS client hello (HTTPS only).
   * @default true for HTTPS
   */
  readonly enableSni?: boolean;
}

/** Health check options with every default applied and every value validated. */
export interface ResolvedHealthCheckOptions {
  readonly protocol: HealthCheckProtocol;
  readonly port: number | undefined;
  readonly path: string | undefined;
  readonly searchString: string | undefined;
  readonly interval: Duration;
  readonly failureThreshold: number;
  readonly regions: string[];
  readonly measureLatency: boolean;
  readonly enableSni: boolean | undefined;
}

const DEFAULT_PATH = '/health';
const MAX_PATH_OR_SEARCH_LENGTH = 255;

/** Applies defaults and checks every option against Route 53's limits; throws naming the prop. */
export function resolveHealthCheckOptions(options: HealthCheckOptions = {}): ResolvedHealthCheckOptions {
  const protocol = options.protocol ?? HealthCheckProtocol.HTTPS;
  const where = 'healthCheck';

  const port = options.port ?? protocol.defaultPort;
  if (port === undefined) {
    throw new Error(`${where}.port is required with protocol ${protocol.name} (allowed: 1-65535)`);
  }
  if (!Token.isUnresolved(port) && (!Number.isInteger(port) || port < 1 || port > 65535)) {
    throw new Error(`${where}.port must be an integer between 1 and 65535, got ${port}`);
  }

  if (!protocol.isHttp && options.path !== undefined) {
    throw new Error(`${where}.path cannot be used with protocol ${protocol.name} (got '${options.path}'); paths apply to HTTP and HTTPS checks`);
  }
  const path = protocol.isHttp ? (options.path ?? DEFAULT_PATH) : undefined;
  if (path !== undefined && !Token.isUnresolved(path)) {
    if (path.length > MAX_PATH_OR_SEARCH_LENGTH) {
      throw new Error(`${where}.path must be at most ${MAX_PATH_OR_SEARCH_LENGTH} characters (Route 53's limit), got ${path.length}`);
    }
    if (!path.startsWith('/')) {
      throw new Error(`${where}.path must start with '/', got '${path}'`);
    }
  }

  const searchString = options.searchString;
  if (searchString !== undefined) {
    if (!protocol.isHttp) {
      throw new Error(`${where}.searchString cannot be used with protocol ${protocol.name}; string matching applies to HTTP and HTTPS checks`);
    }
    if (!Token.isUnresolved(searchString) && (searchString.length < 1 || searchString.length > MAX_PATH_OR_SEARCH_LENGTH)) {
      throw new Error(
        `${where}.searchString must be 1 to ${MAX_PATH_OR_SEARCH_LENGTH} characters (Route 53's limit), got ${searchString.length}`,
      );
    }
  }

  const interval = options.interval ?? Duration.seconds(30);
  if (!interval.isUnresolved()) {
    const seconds = interval.toSeconds({ integral: false });
    if (seconds !== 10 && seconds !== 30) {
      throw new Error(`${where}.interval must be 10 or 30 seconds (Route 53's only request intervals), got ${seconds} seconds`);
    }
  }

  const failureThreshold = options.failureThreshold ?? 3;
  if (!Token.isUnresolved(failureThreshold) && (!Number.isInteger(failureThreshold) || failureThreshold < 1 || failureThreshold > 10)) {
    throw new Error(`${where}.failureThreshold must be an integer between 1 and 10 (Route 53's limit), got ${failureThreshold}`);
  }

  const regions = options.regions ?? [...DEFAULT_CHECKER_REGIONS];
  validateRegions(regions, `${where}.regions`);

  if (options.enableSni !== undefined && protocol !== HealthCheckProtocol.HTTPS) {
    throw new Error(`${where}.enableSni applies to HTTPS checks only, but protocol is ${protocol.name}`);
  }
  const enableSni = protocol === HealthCheckProtocol.HTTPS ? (options.enableSni ?? true) : undefined;

  return {
    protocol,
    port,
    path,
    searchString,
    interval,
    failureThreshold,
    regions,
    measureLatency: options.measureLatency ?? false,
    enableSni,
  };
}

function validateRegions(regions: string[], where: string): void {
  if (Token.isUnresolved(regions)) return;
  const seen = new Set<string>();
  for (const region of regions) {
    if (Token.isUnresolved(region)) continue;
    if (!ROUTE53_CHECKER_REGIONS.includes(region)) {
      throw new Error(`${where}: '${region}' is not a Route 53 checker region (allowed: ${ROUTE53_CHECKER_REGIONS.join(', ')})`);
    }
    if (seen.has(region)) {
      throw new Error(`${where}: '${region}' is listed twice; each checker region may appear once`);
    }
    seen.add(region);
  }
  if (regions.length < MIN_CHECKER_REGIONS) {
    throw new Error(
      `${where} must list at least ${MIN_CHECKER_REGIONS} checker regions (Route 53's minimum), got ${regions.length}: [${regions.join(', ')}]`,
    );
  }
}
