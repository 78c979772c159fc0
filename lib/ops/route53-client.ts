import { Route53Client } from '@aws-sdk/client-route-53';

/**
 * Route 53 allows 5 API requests per second per account. The SDK retries throttling with its own
 * retry strategy (standard mode: exponential backoff with jitter, 500 ms base for throttling) but
 * has no rate limiter, so every attempt, retries included, first takes its turn here.
 */
export const ROUTE53_REQUESTS_PER_SECOND_LIMIT = 5;

/** A token bucket of capacity one: requests at most `perSecond` a second, evenly spaced. */
export class RequestPacer {
  private nextFreeAt = 0;
  private readonly spacingMs: number;

  constructor(public readonly perSecond: number) {
    if (!(perSecond > 0)) throw new Error(`requests per second must be positive, got ${perSecond}`);
    this.spacingMs = 1000 / perSecond;
  }

  /** Resolves when the caller may send its request. */
  public async take(): Promise<void> {
    const now = Date.now();
    const at = Math.max(now, this.nextFreeAt);
    this.nextFreeAt = at + this.spacingMs;
    if (at > now) await new Promise((resolve) => setTimeout(resolve, at - now));
  }
}

export interface Route53ClientOptions {
  /** Our own pace, below Route 53's limit to leave room for others in the account. @default 4 */
  readonly requestsPerSecond?: number;
  /** Attempts per call, throttling retries included (SDK standard retry mode). @default 8 */
  readonly maxAttempts?: number;
  /** Tests only: a loopback endpoint. @default - Route 53's global endpoint */
  readonly endpoint?: string;
  /** @default - the SDK's default credential chain */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
}

/**
 * A Route 53 client for the drills: the control plane in us-east-1, the SDK's standard retry
 * strategy for throttling, and a pacer on every attempt.
 */
export function createRoute53Client(options: Route53ClientOptions = {}): Route53Client {
  const perSecond = options.requestsPerSecond ?? 4;
  if (perSecond > ROUTE53_REQUESTS_PER_SECOND_LIMIT) {
    throw new Error(`requestsPerSecond must be at most ${ROUTE53_REQUESTS_PER_SECOND_LIMIT} (Route 53's account limit), got ${perSecond}`);
  }
  const client = new Route53Client({
    region: 'us-east-1', // Route 53's control plane
    retryMode: 'standard',
    maxAttempts: options.maxAttempts ?? 8,
    endpoint: options.endpoint,
    credentials: options.credentials,
  });
  pace(client, new RequestPacer(perSecond));
  return client;
}

/**
 * Adds the pacer to a client's middleware stack after the retry middleware, so that each attempt
 * (not only each call) waits for its turn.
 */
export function pace(client: Route53Client, pacer: RequestPacer): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      await pacer.take();
      return next(args);
    },
    { step: 'finalizeRequest', priority: 'low', name: 'cdkFailoverRoute53Pacer', override: true },
  );
}
