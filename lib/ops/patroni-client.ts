import { isRunningState, type PatroniMember, type PatroniNodeStatus } from '../local/rest';
import { patroniTimeMs } from '../local/health';
import { OpsError } from './errors';
import { NodeHttpTransport, type HttpTransport, type TransportAnswer } from './http-transport';
import { found, notYet, poll, type PollOptions } from './poll';

export type { PatroniMember, PatroniNodeStatus, PatroniReplicationEntry } from '../local/rest';

/** A failure talking to Patroni's REST API (unreachable, refused, unexpected answer). */
export class PatroniError extends OpsError {
  constructor(message: string) {
    super(message);
    this.name = 'PatroniError';
  }
}

export interface BasicAuth {
  readonly username: string;
  readonly password: string;
}

export interface PatroniClientOptions {
  /** Every node's REST API base URL, e.g. `http://10.0.1.10:8008`; asked in this order. */
  readonly urls: readonly string[];
  /** @default - node:http, straight to the URLs */
  readonly transport?: HttpTransport;
  /** Basic auth for the unsafe methods (POST /switchover, /failover). GETs are sent without it. */
  readonly auth?: BasicAuth;
  /** Per GET, from the request to the end of the body. @default 3000 */
  readonly timeoutMs?: number;
  /**
   * Per POST /switchover or /failover: Patroni answers only once it has seen the new leader or
   * given up (up to 2 x max(10, loop_wait) s). @default 60000
   */
  readonly actionTimeoutMs?: number;
}

/** GET /cluster, from the first node that answered it. */
export interface ClusterStatus {
  readonly members: readonly PatroniMember[];
  /** Maintenance mode: Patroni does not fail over on its own. */
  readonly paused: boolean;
  readonly scheduledSwitchover?: { readonly at?: string; readonly from?: string; readonly to?: string };
  /** The base URL that answered. */
  readonly source: string;
  /** Nodes asked before `source`, and why they did not answer. */
  readonly unreachable: readonly string[];
}

/** The part of GET /config (the DCS's dynamic configuration) the client reads. */
export interface DynamicConfig {
  readonly ttl?: number;
  readonly loop_wait?: number;
  readonly retry_timeout?: number;
  readonly synchronous_mode?: boolean;
  readonly synchronous_mode_strict?: boolean;
  readonly maximum_lag_on_failover?: number;
  /** Present (an object) in a standby cluster: what its standby leader follows. */
  readonly standby_cluster?: Record<string, unknown> | null;
}

/** A replica that could take over. */
export interface ReplicaCandidate {
  readonly name: string;
  /** 'sync_standby' or 'replica'. */
  readonly role: string;
  readonly state: string;
  readonly lagBytes: number;
  readonly timeline?: number;
}

export interface HealthSummary {
  /** True when no issue was found. */
  readonly healthy: boolean;
  /** A leader is running: the cluster takes writes. */
  readonly writable: boolean;
  readonly leader?: { readonly name: string; readonly state: string; readonly timeline?: number };
  readonly replicas: ReadonlyArray<{
    readonly name: string;
    readonly role: string;
    readonly state: string;
    readonly lagBytes: number | null;
    readonly timeline?: number;
    /** From the leader's pg_stat_replication; undefined when the leader's /patroni was not read. */
    readonly streaming?: boolean;
  }>;
  readonly issues: readonly string[];
  readonly synchronousMode?: boolean;
  readonly source?: string;
  /** A standby cluster (Patroni's /config has standby_cluster): what it follows and how far behind. */
  readonly standby?: StandbyHealth;
}

/** A standby cluster's readiness, as `failover status` prints it. */
export interface StandbyHealth {
  /** `host:port` of the primary's writer endpoint it streams from, or null: its repository alone. */
  readonly streamsFrom: string | null;
  /** The running standby leader, or null (nothing to promote). */
  readonly leader: string | null;
  /** Seconds since the primary committed the last transaction the standby leader replayed, or null (none replayed yet, or unread). */
  readonly replayAgeSeconds: number | null;
}

export interface SwitchoverOptions {
  /** The member to promote. @default - the best healthy replica (a sync standby in synchronous mode) */
  readonly candidate?: string;
  /** Largest acceptable replication lag of the candidate. @default 1 MiB */
  readonly maxLagBytes?: number;
}

export interface ActionOutcome {
  readonly action: 'switchover' | 'failover';
  /** The leader before, if there was one. */
  readonly from?: string;
  /** The member asked to take over. */
  readonly candidate: string;
  /** Patroni's own answer, e.g. 'Successfully switched over to "pg-1"'. */
  readonly message: string;
  /** HTTP status of Patroni's answer; 0 when the answer was lost (then wait and look). */
  readonly status: number;
}

export interface WaitForLeaderOptions extends Omit<PollOptions, 'timeoutMs'> {
  readonly timeoutMs: number;
  /** A leader other than this one. */
  readonly notMember?: string;
  /** This member as the leader. */
  readonly member?: string;
}

export const DEFAULT_MAX_LAG_BYTES = 1024 * 1024;
const REPLICA_ROLES = ['replica', 'sync_standby'];

/**
 * Patroni 3.0.2's REST API, asked of every node in turn: what the reference failover manager
 * script does, with timeouts, basic auth, errors that say which node answered what, and waits
 * with deadlines.
 */
export class PatroniClient {
  public readonly urls: readonly string[];
  private readonly transport: HttpTransport;
  private readonly timeoutMs: number;
  private readonly actionTimeoutMs: number;

  constructor(private readonly options: PatroniClientOptions) {
    if (options.urls.length === 0) throw new PatroniError('no Patroni REST API URL given');
    this.urls = options.urls.map((u) => u.replace(/\/+$/, ''));
    for (const u of this.urls) {
      if (!/^https?:\/\/[^/]+$/.test(u)) throw new PatroniError(`Patroni REST API URL must look like http://host:8008, got '${u}'`);
    }
    this.transport = options.transport ?? new NodeHttpTransport();
    this.timeoutMs = options.timeoutMs ?? 3000;
    this.actionTimeoutMs = options.actionTimeoutMs ?? 60_000;
  }

  /** GET /cluster from the first node that answers with a member list. */
  public async clusterStatus(): Promise<ClusterStatus> {
    const { value, source, unreachable } = await this.getFromAny('/cluster', (body) => {
      const v = body as { members?: unknown; pause?: boolean; scheduled_switchover?: ClusterStatus['scheduledSwitchover'] };
      if (!v || !Array.isArray(v.members)) return undefined;
      return v;
    });
    return {
      members: (value.members as PatroniMember[]).filter((m) => m && typeof m.name === 'string'),
      paused: value.pause === true,
      scheduledSwitchover: value.scheduled_switchover,
      source,
      unreachable,
    };
  }

  /** GET /config: the dynamic configuration in the DCS (ttl, synchronous_mode, ...). */
  public async dynamicConfig(): Promise<DynamicConfig> {
    return (await this.getFromAny('/config', (b) => (b && typeof b === 'object' ? (b as DynamicConfig) : undefined))).value;
  }

  /** GET /patroni of one node (by base URL): its own view of PostgreSQL. */
  public async nodeStatus(url: string): Promise<PatroniNodeStatus> {
    const answer = await this.get(url, '/patroni');
    const body = parseBody(answer);
    // /patroni answers 503 when PostgreSQL is not running, with a body all the same.
    if (!body || typeof body !== 'object' || typeof (body as PatroniNodeStatus).state !== 'string') {
      throw new PatroniError(`${url}/patroni: ${describeAnswer(answer)}`);
    }
    return body as PatroniNodeStatus;
  }

  /** The leader as the DCS says (role 'leader' or 'standby_leader'), or undefined. */
  public async leader(status?: ClusterStatus): Promise<PatroniMember | undefined> {
    const s = status ?? (await this.clusterStatus());
    return s.members.find((m) => m.role === 'leader' || m.role === 'standby_leader');
  }

  /**
   * Replicas that could take over: role replica or sync_standby, running (Patroni 3.0.x) or
   * streaming (later versions), a known lag under `maxLagBytes`, not tagged nofailover; least lag
   * first, a sync standby before an async replica at equal lag.
   */
  public async healthyReplicas(options: { readonly maxLagBytes?: number; readonly status?: ClusterStatus } = {}): Promise<ReplicaCandidate[]> {
    const s = options.status ?? (await this.clusterStatus());
    return healthyReplicas(s.members, options.maxLagBytes ?? DEFAULT_MAX_LAG_BYTES);
  }

  /**
   * The member a switchover should promote: the named one after checking it, or the healthiest
   * replica (only sync standbys in synchronous mode: Patroni refuses any other).
   */
  public async chooseCandidate(options: SwitchoverOptions & { readonly status?: ClusterStatus } = {}): Promise<ReplicaCandidate> {
    const status = options.status ?? (await this.clusterStatus());
    const maxLag = options.maxLagBytes ?? DEFAULT_MAX_LAG_BYTES;
    const healthy = healthyReplicas(status.members, maxLag);
    const synchronous = (await this.dynamicConfig().catch(() => undefined))?.synchronous_mode ?? status.members.some((m) => m.role === 'sync_standby');
    if (options.candidate) {
      const member = status.members.find((m) => m.name === options.candidate);
      if (!member) throw new PatroniError(`no member '${options.candidate}' in the cluster (members: ${status.members.map((m) => m.name).join(', ') || 'none'})`);
      const candidate = healthy.find((c) => c.name === options.candidate);
      if (!candidate) throw new PatroniError(`'${options.candidate}' cannot take over: ${whyUnfit(member, maxLag)}`);
      if (synchronous && candidate.role !== 'sync_standby') {
        throw new PatroniError(`'${options.candidate}' is not a sync standby, and the cluster is in synchronous mode (Patroni would refuse)`);
      }
      return candidate;
    }
    const eligible = synchronous ? healthy.filter((c) => c.role === 'sync_standby') : healthy;
    if (eligible.length === 0) {
      const others = status.members.filter((m) => !isLeader(m));
      const reasons = others.map((m) => `${m.name}: ${whyUnfit(m, maxLag) || (synchronous ? 'not a sync standby' : 'unfit')}`);
      throw new PatroniError(`no healthy replica can take over${reasons.length ? ` (${reasons.join('; ')})` : ' (no replica at all)'}`);
    }
    return eligible[0]!;
  }

  /**
   * A planned switchover (POST /switchover with leader and candidate) to the named or the best
   * candidate. Refuses when there is no running leader (use `failover`) or the candidate is unfit.
   * Resolves once Patroni answered; `waitForLeader` confirms.
   */
  public async switchover(options: SwitchoverOptions = {}): Promise<ActionOutcome> {
    const status = await this.clusterStatus();
    if (status.paused) throw new PatroniError('the cluster is paused (maintenance mode): resume it before a switchover');
    const leader = await this.leader(status);
    if (!leader) throw new PatroniError('the cluster has no leader: a switchover needs one (use failover)');
    if (!isRunningState(leader.state)) throw new PatroniError(`leader ${leader.name} is ${leader.state}: a switchover needs a running leader (use failover)`);
    const candidate = await this.chooseCandidate({ ...options, status });
    return this.post('switchover', { leader: leader.name, candidate: candidate.name }, leader, candidate.name);
  }

  /**
   * An unplanned failover (POST /failover with a candidate) for when no leader is healthy.
   * Refuses while a leader is running: a switchover is the safe way then.
   */
  public async failover(options: SwitchoverOptions = {}): Promise<ActionOutcome> {
    const status = await this.clusterStatus();
    const leader = await this.leader(status);
    if (leader && isRunningState(leader.state)) {
      throw new PatroniError(`leader ${leader.name} is running: use a switchover, not a failover`);
    }
    const maxLag = options.maxLagBytes ?? DEFAULT_MAX_LAG_BYTES;
    const healthy = healthyReplicas(status.members, maxLag).filter((c) => !leader || c.name !== leader.name);
    let candidate: string;
    if (options.candidate) {
      const member = status.members.find((m) => m.name === options.candidate);
      if (!member) throw new PatroniError(`no member '${options.candidate}' in the cluster`);
      if (!healthy.some((c) => c.name === options.candidate)) throw new PatroniError(`'${options.candidate}' cannot take over: ${whyUnfit(member, maxLag)}`);
      candidate = options.candidate;
    } else {
      if (healthy.length === 0) throw new PatroniError('no healthy replica to fail over to');
      candidate = healthy[0]!.name;
    }
    return this.post('failover', { candidate }, leader, candidate);
  }

  /** Until a running leader exists (other than `notMember`, or exactly `member`); returns it. */
  public async waitForLeader(options: WaitForLeaderOptions): Promise<PatroniMember> {
    const what = options.member ? `${options.member} to lead` : options.notMember ? `a leader other than ${options.notMember}` : 'a leader';
    return poll(
      what,
      async () => {
        const leader = await this.leader();
        if (!leader) return notYet('no leader');
        if (!isRunningState(leader.state)) return notYet(`leader ${leader.name} is ${leader.state}`);
        if (options.notMember && leader.name === options.notMember) return notYet(`${leader.name} still leads`);
        if (options.member && leader.name !== options.member) return notYet(`${leader.name} leads`);
        return found(leader);
      },
      { intervalMs: 500, ...options },
    );
  }

  /** Until `name` is listed with one of `roles`, running, and (for replicas) streaming from the leader. */
  public async waitForMember(name: string, roles: readonly string[], options: PollOptions): Promise<PatroniMember> {
    return poll(
      `${name} to be ${roles.join(' or ')} and running`,
      async () => {
        const status = await this.clusterStatus();
        const m = status.members.find((x) => x.name === name);
        if (!m) return notYet(`${name} is not listed`);
        if (!roles.includes(m.role) || !isRunningState(m.state)) return notYet(`${name} is ${m.role}, ${m.state}`);
        if (REPLICA_ROLES.includes(m.role)) {
          const leader = status.members.find(isLeader);
          if (!leader) return notYet('no leader');
          const replication = (await this.nodeStatus(this.urlOf(leader))).replication ?? [];
          const entry = replication.find((r) => r.application_name === name);
          if (!entry || entry.state !== 'streaming') return notYet(`${name} is not streaming from ${leader.name} yet`);
        }
        return found(m);
      },
      { intervalMs: 500, ...options },
    );
  }

  /** Until `health()` finds no issue. */
  public async waitForHealthy(options: PollOptions & { readonly maxLagBytes?: number }): Promise<HealthSummary> {
    return poll(
      'a healthy cluster',
      async () => {
        const h = await this.health({ maxLagBytes: options.maxLagBytes });
        return h.healthy ? found(h) : notYet(h.issues.join('; '));
      },
      { intervalMs: 1000, ...options },
    );
  }

  /**
   * Everything that is wrong, as a list: no leader or several, a leader not running, a pause, a
   * replica not running, not streaming, lagging, on an old timeline, no replica able to take over,
   * no sync standby in synchronous mode. Never throws: an unreachable cluster is an issue too.
   */
  public async health(options: { readonly maxLagBytes?: number } = {}): Promise<HealthSummary> {
    const maxLag = options.maxLagBytes ?? DEFAULT_MAX_LAG_BYTES;
    let status: ClusterStatus;
    try {
      status = await this.clusterStatus();
    } catch (err) {
      return { healthy: false, writable: false, replicas: [], issues: [(err as Error).message] };
    }
    const issues: string[] = [];
    const config = await this.dynamicConfig().catch(() => undefined);
    const synchronousMode = config?.synchronous_mode;
    const leaders = status.members.filter(isLeader);
    const leader = leaders[0];
    if (leaders.length === 0) issues.push('no leader');
    if (leaders.length > 1) issues.push(`${leaders.length} leaders: ${leaders.map((m) => m.name).join(', ')}`);
    if (leader && !isRunningState(leader.state)) issues.push(`leader ${leader.name} is ${leader.state}`);
    if (status.paused) issues.push('the cluster is paused (maintenance mode): Patroni will not fail over on its own');
    if (status.scheduledSwitchover) issues.push(`a switchover is scheduled${status.scheduledSwitchover.at ? ` at ${status.scheduledSwitchover.at}` : ''}`);

    const leaderStatus = leader && isRunningState(leader.state) ? await this.nodeStatus(this.urlOf(leader)).catch(() => undefined) : undefined;
    const replication = leaderStatus?.replication ?? undefined;
    const standby = config?.standby_cluster ? standbyHealth(config.standby_cluster, leader, leaderStatus) : undefined;
    const replicas = status.members
      .filter((m) => !isLeader(m))
      .map((m) => {
        const lagBytes = typeof m.lag === 'number' ? m.lag : null;
        const streaming = replication ? replication.some((r) => r.application_name === m.name && r.state === 'streaming') : undefined;
        return { name: m.name, role: m.role, state: m.state, lagBytes, timeline: m.timeline, streaming };
      });
    for (const r of replicas) {
      if (!isRunningState(r.state)) {
        issues.push(`replica ${r.name} is ${r.state}`);
        continue;
      }
      if (r.lagBytes === null) issues.push(`replica ${r.name} lag is unknown`);
      else if (r.lagBytes > maxLag) issues.push(`replica ${r.name} is ${r.lagBytes} bytes behind (limit ${maxLag})`);
      if (leader?.timeline !== undefined && r.timeline !== undefined && r.timeline < leader.timeline) {
        issues.push(`replica ${r.name} is on timeline ${r.timeline}, the leader on ${leader.timeline}`);
      }
      if (r.streaming === false) issues.push(`replica ${r.name} is not streaming from ${leader!.name}`);
    }
    if (replicas.length === 0) issues.push('no replicas: nothing to fail over to');
    else if (healthyReplicas(status.members, maxLag).length === 0) issues.push('no healthy replica: nothing to fail over to');
    if (synchronousMode && leader && replicas.length > 0 && !status.members.some((m) => m.role === 'sync_standby')) {
      issues.push('synchronous mode is on but no member is a sync standby');
    }
    return {
      healthy: issues.length === 0,
      writable: !!leader && leaders.length === 1 && isRunningState(leader.state) && !standby,
      leader: leader ? { name: leader.name, state: leader.state, timeline: leader.timeline } : undefined,
      replicas,
      issues,
      synchronousMode,
      source: status.source,
      ...(standby ? { standby } : {}),
    };
  }

  /** The configured base URL of a member (matched by host and port of its api_url), else its api_url's origin. */
  public urlOf(member: PatroniMember): string {
    if (member.api_url) {
      try {
        const api = new URL(member.api_url);
        const match = this.urls.find((u) => new URL(u).host === api.host);
        return match ?? api.origin;
      } catch {
        // fall through
      }
    }
    const byHost = member.host ? this.urls.find((u) => new URL(u).hostname === member.host) : undefined;
    if (byHost) return byHost;
    throw new PatroniError(`cannot tell the REST API URL of ${member.name} (api_url ${member.api_url ?? 'missing'})`);
  }

  // ---- internals ---------------------------------------------------------------------------

  private get(url: string, path: string): Promise<TransportAnswer> {
    return this.transport.send({ method: 'GET', url: `${url}${path}`, timeoutMs: this.timeoutMs });
  }

  private async getFromAny<T>(path: string, accept: (body: unknown) => T | undefined): Promise<{ value: T; source: string; unreachable: string[] }> {
    const failures: string[] = [];
    for (const url of this.urls) {
      const answer = await this.get(url, path);
      if (answer.status === 200) {
        const value = accept(parseBody(answer));
        if (value !== undefined) return { value, source: url, unreachable: failures };
        failures.push(`${url}: unexpected answer to GET ${path}: ${snippet(answer.body)}`);
      } else {
        failures.push(`${url}: ${describeAnswer(answer)}`);
      }
    }
    throw new PatroniError(`no Patroni REST API answered GET ${path} (${this.transport.description}): ${failures.join('; ')}`);
  }

  /**
   * POSTs to the leader's node first, then the others, moving on only when the request certainly
   * did not arrive (connection refused or never made): a switchover request is not resent to
   * another node once one may have received it.
   */
  private async post(action: 'switchover' | 'failover', body: Record<string, string>, leader: PatroniMember | undefined, candidate: string): Promise<ActionOutcome> {
    const first = leader ? this.safeUrlOf(leader) : undefined;
    const order = first ? [first, ...this.urls.filter((u) => u !== first)] : [...this.urls];
    const failures: string[] = [];
    for (const url of order) {
      const answer = await this.transport.send({
        method: 'POST',
        url: `${url}/${action}`,
        json: body,
        auth: this.options.auth,
        timeoutMs: this.actionTimeoutMs,
      });
      const message = answer.body.trim();
      if (answer.status === 200) return { action, from: leader?.name, candidate, message, status: 200 };
      if (answer.status === 401 || answer.status === 403) {
        throw new PatroniError(
          `${url} refused the ${action} (${answer.status} ${message || 'unauthorized'}): ` +
            (this.options.auth ? 'check the REST API credentials' : 'the REST API needs basic auth: set PATRONI_REST_PASSWORD'),
        );
      }
      if (answer.status === 0 && answer.requestSent === false) {
        failures.push(`${url}: ${answer.error ?? 'no answer'}`);
        continue;
      }
      if (answer.status === 0) {
        // It may have arrived: say so, and let the caller wait and look.
        return { action, from: leader?.name, candidate, message: `no answer from ${url} (${answer.error ?? 'unknown'}); the ${action} may be under way`, status: 0 };
      }
      // 412 (not possible), 400 (bad request), 503 ('Switchover failed' / 'status unknown').
      if (answer.status === 503 && /status unknown/i.test(message)) {
        return { action, from: leader?.name, candidate, message, status: 503 };
      }
      throw new PatroniError(`Patroni refused the ${action} to ${candidate} (${url}: ${answer.status} ${message || 'no message'})`);
    }
    throw new PatroniError(`no Patroni REST API took the ${action} (${this.transport.description}): ${failures.join('; ')}`);
  }

  private safeUrlOf(member: PatroniMember): string | undefined {
    try {
      const url = this.urlOf(member);
      return this.urls.includes(url) ? url : undefined;
    } catch {
      return undefined;
    }
  }
}

function standbyHealth(following: Record<string, unknown>, leader: PatroniMember | undefined, leaderStatus: PatroniNodeStatus | undefined): StandbyHealth {
  const { host, port } = following;
  const running = leader?.role === 'standby_leader' && isRunningState(leader.state) ? leader.name : null;
  const replayed = running ? patroniTimeMs(leaderStatus?.xlog?.replayed_timestamp) : undefined;
  return {
    streamsFrom: typeof host === 'string' && host ? `${host}:${String(port)}` : null,
    leader: running,
    replayAgeSeconds: replayed === undefined ? null : Math.max(0, (Date.now() - replayed) / 1000),
  };
}

export function isLeader(m: PatroniMember): boolean {
  return m.role === 'leader' || m.role === 'standby_leader';
}

/** See `PatroniClient.healthyReplicas`. */
export function healthyReplicas(members: readonly PatroniMember[], maxLagBytes: number): ReplicaCandidate[] {
  return members
    .filter((m) => whyUnfit(m, maxLagBytes) === '')
    .map((m) => ({ name: m.name, role: m.role, state: m.state, lagBytes: m.lag as number, timeline: m.timeline }))
    .sort((a, b) => a.lagBytes - b.lagBytes || rank(a.role) - rank(b.role) || a.name.localeCompare(b.name));
}

function rank(role: string): number {
  return role === 'sync_standby' ? 0 : 1;
}

/** Why a member cannot take over, or '' when it can. */
function whyUnfit(m: PatroniMember, maxLagBytes: number): string {
  if (!REPLICA_ROLES.includes(m.role)) return `it is the ${m.role}`;
  if (!isRunningState(m.state)) return `it is ${m.state || 'in no known state'}`;
  const tags = (m as { tags?: { nofailover?: boolean } }).tags;
  if (tags?.nofailover) return 'it is tagged nofailover';
  if (typeof m.lag !== 'number') return 'its lag is unknown';
  if (m.lag > maxLagBytes) return `it is ${m.lag} bytes behind (limit ${maxLagBytes})`;
  return '';
}

function parseBody(answer: TransportAnswer): unknown {
  if (!answer.body) return undefined;
  try {
    return JSON.parse(answer.body);
  } catch {
    return undefined;
  }
}

function describeAnswer(answer: TransportAnswer): string {
  if (answer.status === 0) return answer.error ?? 'no answer';
  return `HTTP ${answer.status}${answer.body ? ` ${snippet(answer.body)}` : ''}`;
}

function snippet(text: string): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > 120 ? `${one.slice(0, 117)}...` : one;
}
