// The timing profiles as plain numbers, shared by PatroniCluster (through PatroniTiming) and the
// local rehearsal cluster, so that what is rehearsed is what is deployed.
import { ClusterTiming } from './spec';

/** Patroni's own defaults (ttl 30, loop_wait 10, retry_timeout 10); HAProxy checks every second. */
export const DEFAULT_TIMING: ClusterTiming = {
  ttlSeconds: 30,
  loopWaitSeconds: 10,
  retryTimeoutSeconds: 10,
  haproxyCheckIntervalMs: 1000,
  haproxyFall: 2,
  haproxyRise: 1,
  etcdHeartbeatMs: 100,
  etcdElectionTimeoutMs: 1000,
};

/**
 * As fast as is safe on Patroni 3.0.2: loop_wait + 2 x retry_timeout = ttl leaves no slack, and
 * etcd elects a new leader (500 ms) well inside retry_timeout. Chosen by measurement in the local
 * cluster: with ttl 8 / loop_wait 2 and a 1 s etcd election, losing the node that held both the
 * Patroni and the etcd leader took 10.8-11.5 s (the new etcd leader extends the old key's life);
 * 7 / 1 / 3 with a 500 ms election took 8.6-9.4 s. Patroni 3.2+ would raise ttl to its minimum
 * of 20 s: this profile relies on Debian 12's 3.0.2.
 */
export const FAST_TIMING: ClusterTiming = {
  ttlSeconds: 7,
  loopWaitSeconds: 1,
  retryTimeoutSeconds: 3,
  haproxyCheckIntervalMs: 500,
  haproxyFall: 2,
  haproxyRise: 1,
  etcdHeartbeatMs: 100,
  etcdElectionTimeoutMs: 500,
};

/** Patroni's and HAProxy's stock settings, the benchmark's baseline (HAProxy `inter 3s fall 3 rise 2`). */
export const STOCK_BASELINE_TIMING: ClusterTiming = {
  ...DEFAULT_TIMING,
  haproxyCheckIntervalMs: 3000,
  haproxyFall: 3,
  haproxyRise: 2,
  haproxyWriterFastChecks: false,
};

/** Throws unless the timing is one Patroni and etcd can run safely; names the field and value. */
export function validateTiming(t: ClusterTiming, where = 'timing'): void {
  const whole = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new Error(`${where}.${name} must be a whole number of at least ${min}, got ${v}`);
  };
  whole('ttl', t.ttlSeconds, 2);
  whole('loopWait', t.loopWaitSeconds, 1);
  whole('retryTimeout', t.retryTimeoutSeconds, 1);
  if (t.loopWaitSeconds + 2 * t.retryTimeoutSeconds > t.ttlSeconds) {
    throw new Error(
      `${where}: loop_wait + 2 x retry_timeout must not exceed ttl (${t.loopWaitSeconds} + 2 x ${t.retryTimeoutSeconds} = ` +
        `${t.loopWaitSeconds + 2 * t.retryTimeoutSeconds} > ${t.ttlSeconds}): a leader could lose its key while still retrying, ` +
        'and two nodes could both act as primary. Patroni 3.0.2 does not check this',
    );
  }
  whole('haproxyCheckInterval (ms)', t.haproxyCheckIntervalMs, 100);
  whole('haproxyFall', t.haproxyFall, 1);
  whole('haproxyRise', t.haproxyRise, 1);
  whole('etcdHeartbeatInterval (ms)', t.etcdHeartbeatMs, 10);
  if (!Number.isInteger(t.etcdElectionTimeoutMs) || t.etcdElectionTimeoutMs < 5 * t.etcdHeartbeatMs) {
    throw new Error(
      `${where}.etcdElectionTimeout must be at least 5 x the heartbeat interval (etcd refuses less): ` +
        `${t.etcdElectionTimeoutMs} ms < 5 x ${t.etcdHeartbeatMs} ms`,
    );
  }
  if (t.etcdElectionTimeoutMs >= t.retryTimeoutSeconds * 1000) {
    throw new Error(
      `${where}.etcdElectionTimeout (${t.etcdElectionTimeoutMs} ms) must be shorter than retryTimeout (${t.retryTimeoutSeconds} s): ` +
        'otherwise one etcd leader election demotes the Patroni leader',
    );
  }
}

/** Patroni's own `watchdog.safety_margin`: the watchdog fires at ttl - 5 s after the last keepalive. */
const PATRONI_SAFETY_MARGIN_SECONDS = 5;
/** Time allowed for Patroni's own demotion (an immediate shutdown) before the watchdog may fire. */
const DEMOTION_SLACK_SECONDS = 1;

/**
 * Patroni's `watchdog.safety_margin` for `t`: the watchdog (which fires `ttl - safety_margin` after
 * the last keepalive) must wait until Patroni, unable to renew its key for a loop and a
 * retry_timeout, could have demoted itself, and still fire at least 1 s before the key expires and
 * another node may promote. Patroni's 5 s where that fits (DEFAULT: the watchdog at 25 s), less
 * where it does not (FAST, ttl 7: 2 s, the watchdog at 5 s instead of a 2 s that would reset a
 * leader after any 2 s stall). Throws, naming the values, where nothing fits.
 */
export function watchdogSafetyMargin(t: ClusterTiming, where = 'timing'): number {
  const demotedBy = t.loopWaitSeconds + t.retryTimeoutSeconds + DEMOTION_SLACK_SECONDS;
  const margin = Math.min(PATRONI_SAFETY_MARGIN_SECONDS, t.ttlSeconds - demotedBy);
  if (margin < 1) {
    throw new Error(
      `${where}: a watchdog needs ttl of at least loop_wait + retry_timeout + 2 s (${t.loopWaitSeconds} + ${t.retryTimeoutSeconds} + 2 = ` +
        `${demotedBy + 1} > ${t.ttlSeconds}): it must wait until Patroni could have demoted itself and still fence the leader before its key ` +
        'expires. Use a longer ttl, or watchdog WatchdogMode.OFF',
    );
  }
  return margin;
}
