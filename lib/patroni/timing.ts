import { Duration } from 'aws-cdk-lib';
import { ClusterTiming } from './config';
import { DEFAULT_TIMING, FAST_TIMING, validateTiming } from './config/timing-profiles';

/** Options of a custom timing profile. */
export interface PatroniTimingOptions {
  /** Lifetime of the leader key: how long a dead leader keeps it. Whole seconds. */
  readonly ttl: Duration;
  /** Pause between Patroni's loops. Whole seconds. */
  readonly loopWait: Duration;
  /** How long Patroni retries etcd and PostgreSQL before demoting. Whole seconds. */
  readonly retryTimeout: Duration;
  /**
   * How often HAProxy asks each node's REST API whether it is the primary.
   * @default Duration.seconds(1)
   */
  readonly haproxyCheckInterval?: Duration;
  /**
   * Failed checks before HAProxy takes a node out.
   * @default 2
   */
  readonly haproxyFall?: number;
  /**
   * Passed checks before HAProxy puts a node in.
   * @default 1
   */
  readonly haproxyRise?: number;
  /**
   * etcd's Raft heartbeat interval.
   * @default Duration.millis(100)
   */
  readonly etcdHeartbeatInterval?: Duration;
  /**
   * etcd's Raft election timeout; at least 5 heartbeats and less than retryTimeout.
   * @default Duration.seconds(1)
   */
  readonly etcdElectionTimeout?: Duration;
}

/** Which profile a `PatroniTiming` is: one of the two the library tunes, or your own. */
export class TimingProfile {
  /** `PatroniTiming.DEFAULT`. */
  public static readonly DEFAULT = new TimingProfile('default');
  /** `PatroniTiming.FAST`. */
  public static readonly FAST = new TimingProfile('fast');
  /** A `PatroniTiming.custom(...)` timing. */
  public static readonly CUSTOM = new TimingProfile('custom');

  private constructor(
    /** 'default', 'fast' or 'custom', as runbooks print it. */
    public readonly name: string,
  ) {}
}

/** How fast the cluster notices a lost leader, against how easily it fails over by mistake. */
export class PatroniTiming {
  /** Patroni's defaults: ttl 30 s, loop_wait 10 s, retry_timeout 10 s. Node loss: about 20-30 s. */
  public static readonly DEFAULT = new PatroniTiming(DEFAULT_TIMING, TimingProfile.DEFAULT);

  /**
   * ttl 7 s, loop_wait 1 s, retry_timeout 3 s, HAProxy checks every 500 ms: node loss in under
   * 10 s, at the price of failing over after a 3 s stall of etcd or of the leader's disk.
   */
  public static readonly FAST = new PatroniTiming(FAST_TIMING, TimingProfile.FAST);

  /** Your own timing, checked: loop_wait + 2 x retry_timeout <= ttl, etcd election within retry_timeout. */
  public static custom(options: PatroniTimingOptions): PatroniTiming {
    const seconds = (name: string, d: Duration) => {
      if (d.isUnresolved()) throw new Error(`timing.${name} must be a concrete duration`);
      const s = d.toSeconds({ integral: false });
      if (!Number.isInteger(s)) throw new Error(`timing.${name} must be whole seconds, got ${s} s`);
      return s;
    };
    const millis = (d: Duration | undefined, fallback: number) => (d === undefined ? fallback : d.toMilliseconds({ integral: false }));
    const timing: ClusterTiming = {
      ttlSeconds: seconds('ttl', options.ttl),
      loopWaitSeconds: seconds('loopWait', options.loopWait),
      retryTimeoutSeconds: seconds('retryTimeout', options.retryTimeout),
      haproxyCheckIntervalMs: millis(options.haproxyCheckInterval, DEFAULT_TIMING.haproxyCheckIntervalMs),
      haproxyFall: options.haproxyFall ?? DEFAULT_TIMING.haproxyFall,
      haproxyRise: options.haproxyRise ?? DEFAULT_TIMING.haproxyRise,
      etcdHeartbeatMs: millis(options.etcdHeartbeatInterval, DEFAULT_TIMING.etcdHeartbeatMs),
      etcdElectionTimeoutMs: millis(options.etcdElectionTimeout, DEFAULT_TIMING.etcdElectionTimeoutMs),
    };
    validateTiming(timing);
    return new PatroniTiming(timing, TimingProfile.CUSTOM);
  }

  private constructor(
    /**
     * The profile as plain numbers, for the renderers.
     * TypeScript only: the renderers' types are not part of the jsii API.
     * @jsii ignore
     */
    public readonly values: ClusterTiming,
    /** Which profile this is. */
    public readonly profile: TimingProfile,
  ) {}

  /** The profile's name: 'default', 'fast' or 'custom'. */
  public get name(): string {
    return this.profile.name;
  }

  /** Leader key lifetime. */
  public get ttl(): Duration {
    return Duration.seconds(this.values.ttlSeconds);
  }

  /** Pause between Patroni's loops. */
  public get loopWait(): Duration {
    return Duration.seconds(this.values.loopWaitSeconds);
  }

  /** Patroni's retry budget for etcd and PostgreSQL. */
  public get retryTimeout(): Duration {
    return Duration.seconds(this.values.retryTimeoutSeconds);
  }
}
