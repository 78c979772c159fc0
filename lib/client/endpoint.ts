import { Pool, type PoolClient, type PoolConfig } from 'pg';
import { DEFAULTS, type EndpointRole, type EndpointSpec } from './options';

/**
 * One endpoint (the writer or a reader): its node-postgres pool, its health for read routing,
 * and the outage the hooks report.
 *
 * Connections carry the endpoint's epoch from when they were made. When a connection that was
 * working fails with a failover symptom, the epoch moves on and every older connection is
 * closed instead of being handed out (when taken from the pool) or pooled again (when released):
 * after a failover they lead to the old primary, or to nothing, and would turn the next write
 * into an ambiguous one instead of a clean connect failure.
 */
export class Endpoint {
  public readonly pool: Pool;
  /** performance.now() until which reads avoid this endpoint. */
  private unhealthyUntil = 0;
  /** performance.now() of the first failure of the current outage. */
  private failingSince: number | undefined;
  private epoch = 0;
  private readonly epochs = new WeakMap<PoolClient, number>();

  constructor(
    public readonly spec: EndpointSpec,
    config: PoolConfig,
  ) {
    this.pool = new Pool({
      connectionTimeoutMillis: spec.connectTimeoutMs ?? DEFAULTS.connectionTimeoutMs,
      keepAlive: true,
      // Well inside the load balancer's and HAProxy's idle timeout (SESSION_IDLE_TIMEOUT_SECONDS).
      keepAliveInitialDelayMillis: 60_000,
      ...config,
      connectionString: spec.uri,
    });
    this.pool.on('connect', (client) => {
      this.epochs.set(client, this.epoch);
    });
    // An idle client whose connection dies makes the pool emit 'error' (and drop the client);
    // without a listener, Node would end the process. It says nothing about new connections
    // (a load balancer closes the sessions of a backend it marks down), so it changes no routing.
    this.pool.on('error', () => undefined);
  }

  public get label(): string {
    return this.spec.label;
  }

  public get role(): EndpointRole {
    return this.spec.role;
  }

  /** A connection of the current epoch (older ones are closed on the way). */
  public async connect(): Promise<PoolClient> {
    for (;;) {
      const client = await this.pool.connect();
      if (!this.isStale(client)) return client;
      client.release(new Error('FailoverPool: connection made before a failover, closed'));
    }
  }

  /** Whether the connection was made before the last failover symptom. */
  public isStale(client: PoolClient): boolean {
    return (this.epochs.get(client) ?? this.epoch) < this.epoch;
  }

  /**
   * A connection of this endpoint failed with a failover symptom: retire every connection of
   * its epoch (once per epoch, however many fail together).
   */
  public retireConnectionsLike(client: PoolClient): void {
    if (!this.isStale(client)) this.epoch++;
  }

  public isHealthy(now: number): boolean {
    return now >= this.unhealthyUntil;
  }

  public markUnhealthy(now: number, cooldownMs: number): void {
    this.unhealthyUntil = Math.max(this.unhealthyUntil, now + cooldownMs);
  }

  /** The remaining cool-down, 0 when healthy. */
  public cooldownLeft(now: number): number {
    return Math.max(0, this.unhealthyUntil - now);
  }

  /** Records a failure; true when it starts an outage (the first since the last success). */
  public recordFailure(now: number): boolean {
    if (this.failingSince !== undefined) return false;
    this.failingSince = now;
    return true;
  }

  /** Records a success; the outage's length when it ends one, else undefined. */
  public recordSuccess(now: number): number | undefined {
    if (this.failingSince === undefined) return undefined;
    const downtime = now - this.failingSince;
    this.failingSince = undefined;
    return downtime;
  }

  public end(): Promise<void> {
    return this.pool.end();
  }
}
