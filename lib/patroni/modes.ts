import { SyncMode, WatchdogModeName } from './config';

/** How Patroni keeps a synchronous standby. */
export class SynchronousMode {
  /**
   * A commit waits for one synchronous standby; only that standby may be promoted, so no
   * acknowledged write is lost. With no standby left, the primary keeps accepting writes alone.
   */
  public static readonly ON = new SynchronousMode('on');
  /** As ON, but with no standby left the primary stops accepting writes instead: zero loss, always. */
  public static readonly STRICT = new SynchronousMode('strict');
  /** Asynchronous replication: a failover may lose up to `maximumLagOnFailover` of acknowledged writes. */
  public static readonly OFF = new SynchronousMode('off');

  private constructor(
    /** The mode as the renderers spell it. */
    public readonly name: SyncMode,
  ) {}
}

/** Patroni's watchdog: fences a leader whose Patroni hangs, so two primaries never coexist. */
export class WatchdogMode {
  /** Patroni refuses to lead without a working watchdog (softdog, loaded at boot). */
  public static readonly REQUIRED = new WatchdogMode('required');
  /** Use the watchdog when present, lead without it otherwise. */
  public static readonly AUTOMATIC = new WatchdogMode('automatic');
  /** No fencing by watchdog. */
  public static readonly OFF = new WatchdogMode('off');

  private constructor(
    /** The mode as Patroni spells it. */
    public readonly name: WatchdogModeName,
  ) {}
}
