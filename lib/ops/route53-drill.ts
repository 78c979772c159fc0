import {
  GetHealthCheckCommand,
  GetHealthCheckStatusCommand,
  GetHostedZoneCommand,
  ListResourceRecordSetsCommand,
  TestDNSAnswerCommand,
  UpdateHealthCheckCommand,
  type ResourceRecordSet,
  type Route53Client,
} from '@aws-sdk/client-route-53';
import { normalizeDnsValue, SystemDnsQueries, type DnsQueries } from './dns-answers';
import type { DrillCase, DrillContext } from './drill-runner';
import { OpsError, oneLine } from './errors';
import { found, notYet, poll } from './poll';
import type { DnsFailoverOutputs } from './stack-outputs';

/** Route 53 considers an endpoint healthy when more than 18% of its checkers do. */
export const HEALTHY_CHECKER_FRACTION = 0.18;

export type Side = 'primary' | 'secondary' | 'unknown' | 'none';

/** The health check switch the drill flips. */
export interface HealthCheckSwitch {
  readonly disabled: boolean;
  readonly inverted: boolean;
  readonly version: number;
}

export interface CheckerObservation {
  readonly region: string;
  readonly ipAddress?: string;
  readonly status: string;
  readonly healthy: boolean;
  readonly checkedAt?: string;
}

export interface HealthCheckStatus {
  readonly healthCheckId: string;
  readonly observations: CheckerObservation[];
  readonly healthyFraction: number;
  /** What Route 53 concludes from its checkers: more than 18% healthy. */
  readonly healthy: boolean;
}

export interface FailoverRecord {
  readonly setIdentifier: string;
  readonly type: string;
  /** Record values (A, AAAA, CNAME), normalized; empty for an alias. */
  readonly values: string[];
  readonly aliasTarget?: string;
  readonly healthCheckId?: string;
}

export interface DrillInspection {
  readonly zoneName: string;
  readonly privateZone: boolean;
  readonly nameServers: string[];
  readonly recordName: string;
  readonly recordType: string;
  readonly primary: FailoverRecord;
  readonly secondary: FailoverRecord;
  readonly primarySwitch: HealthCheckSwitch;
}

export interface AnswerObservation {
  readonly testDnsAnswer: { readonly values: string[]; readonly side: Side; readonly responseCode?: string };
  readonly nameServers: ReadonlyArray<{ readonly server: string; readonly address?: string; readonly values?: string[]; readonly side?: Side; readonly error?: string }>;
}

export interface Route53DrillOptions {
  readonly route53: Route53Client;
  readonly target: DnsFailoverOutputs;
  /** @default SystemDnsQueries */
  readonly dns?: DnsQueries;
  /** Also ask the zone's name servers directly (needs UDP/TCP 53 out). @default true */
  readonly directQueries?: boolean;
  /** Between looks at the answer. @default 10000 */
  readonly pollIntervalMs?: number;
  /** Until the answer is the secondary, and again the primary after restoring. @default 300000 */
  readonly answerTimeoutMs?: number;
}

/**
 * The Route 53 drill of one DnsFailover: inspect, force the primary's health check unhealthy
 * (Disabled + Inverted, with HealthCheckVersion), wait for the secondary's answer, restore the
 * check's own Disabled and Inverted, wait for the primary's answer.
 */
export class Route53Drill {
  private readonly route53: Route53Client;
  private readonly dns: DnsQueries;
  private inspection?: DrillInspection;
  private forceAttempted = false;
  private versionAfterForce?: number;
  private nameServerAddresses?: Array<{ server: string; address?: string; error?: string }>;

  constructor(private readonly options: Route53DrillOptions) {
    this.route53 = options.route53;
    this.dns = options.dns ?? new SystemDnsQueries();
  }

  public get target(): DnsFailoverOutputs {
    return this.options.target;
  }

  /** Whether the primary's health check may have been changed (cleanup must restore it). */
  public get changed(): boolean {
    return this.forceAttempted;
  }

  /** Read-only: the zone, the PRIMARY/SECONDARY records and the primary check's switch. */
  public async inspect(signal?: AbortSignal): Promise<DrillInspection> {
    const t = this.options.target;
    const zone = await this.route53.send(new GetHostedZoneCommand({ Id: t.hostedZoneId }), { abortSignal: signal });
    const zoneName = normalizeDnsValue(zone.HostedZone?.Name ?? '');
    const privateZone = zone.HostedZone?.Config?.PrivateZone === true;
    const recordName = absoluteName(t.recordName, zoneName);
    const pair = await this.findRecords(recordName, signal);
    const primarySwitch = await this.readSwitch(t.primaryHealthCheckId, signal);
    this.inspection = {
      zoneName,
      privateZone,
      nameServers: (zone.DelegationSet?.NameServers ?? []).map(normalizeDnsValue),
      recordName,
      recordType: pair.primary.type,
      primary: pair.primary,
      secondary: pair.secondary,
      primarySwitch,
    };
    return this.inspection;
  }

  /** GetHealthCheckStatus: what each checker region last saw. */
  public async checkerStatus(healthCheckId: string, signal?: AbortSignal): Promise<HealthCheckStatus> {
    const answer = await this.route53.send(new GetHealthCheckStatusCommand({ HealthCheckId: healthCheckId }), { abortSignal: signal });
    const observations = (answer.HealthCheckObservations ?? [])
      .map((o) => {
        const status = o.StatusReport?.Status ?? 'no status';
        return {
          region: o.Region ?? 'unknown',
          ipAddress: o.IPAddress,
          status,
          healthy: /^success/i.test(status),
          checkedAt: o.StatusReport?.CheckedTime?.toISOString(),
        };
      })
      .sort((a, b) => a.region.localeCompare(b.region));
    const healthyCount = observations.filter((o) => o.healthy).length;
    const healthyFraction = observations.length ? healthyCount / observations.length : 0;
    return { healthCheckId, observations, healthyFraction, healthy: healthyFraction > HEALTHY_CHECKER_FRACTION };
  }

  /** TestDNSAnswer, and (unless turned off) the question put to each of the zone's name servers. */
  public async observe(signal?: AbortSignal): Promise<AnswerObservation> {
    const i = this.requireInspection();
    const test = await this.route53.send(
      new TestDNSAnswerCommand({ HostedZoneId: this.options.target.hostedZoneId, RecordName: i.recordName, RecordType: i.recordType as 'A' }),
      { abortSignal: signal },
    );
    const values = (test.RecordData ?? []).map(normalizeDnsValue);
    const expected = await this.expectedValues();
    const nameServers: Array<AnswerObservation['nameServers'][number]> = [];
    if (this.options.directQueries ?? true) {
      for (const ns of await this.resolveNameServers()) {
        if (!ns.address) {
          nameServers.push({ server: ns.server, error: ns.error });
          continue;
        }
        try {
          const answer = (await this.dns.ask(ns.address, i.recordName, i.recordType)).map(normalizeDnsValue);
          nameServers.push({ server: ns.server, address: ns.address, values: answer, side: classify(answer, expected) });
        } catch (err) {
          nameServers.push({ server: ns.server, address: ns.address, error: oneLine(err) });
        }
      }
    }
    return { testDnsAnswer: { values, side: classify(values, expected), responseCode: test.ResponseCode }, nameServers };
  }

  /**
   * Until TestDNSAnswer and every name server that answers give `side` (at least one must
   * answer when direct queries are on); returns the time it took.
   */
  public async waitForSide(side: 'primary' | 'secondary', options: { signal?: AbortSignal; onProgress?: (line: string) => void; timeoutMs?: number } = {}): Promise<{ elapsedMs: number; observation: AnswerObservation }> {
    const started = Date.now();
    const observation = await poll(
      `the ${side}'s answer for ${this.requireInspection().recordName}`,
      async () => {
        const o = await this.observe(options.signal);
        const reason = describeObservation(o);
        return answersAre(o, side, this.options.directQueries ?? true) ? found(o) : notYet(reason);
      },
      {
        timeoutMs: options.timeoutMs ?? this.options.answerTimeoutMs ?? 300_000,
        intervalMs: this.options.pollIntervalMs ?? 10_000,
        signal: options.signal,
        onProgress: (reason, elapsed) => options.onProgress?.(`${(elapsed / 1000).toFixed(0)} s: ${reason}`),
      },
    );
    return { elapsedMs: Date.now() - started, observation };
  }

  /** UpdateHealthCheck Disabled=true, Inverted=true: Route 53 treats the primary as unhealthy. */
  public async forcePrimaryUnhealthy(signal?: AbortSignal): Promise<number> {
    this.requireInspection();
    // From here on the check may have changed, whatever the answer: cleanup restores it.
    this.forceAttempted = true;
    this.versionAfterForce = await this.updateSwitch({ disabled: true, inverted: true }, undefined, signal);
    return this.versionAfterForce;
  }

  /**
   * Puts the primary's Disabled and Inverted back as inspect found them, with the version then
   * current; does nothing when the check was never touched or already reads so.
   * @returns whether an UpdateHealthCheck was sent
   */
  public async restorePrimary(): Promise<boolean> {
    if (!this.forceAttempted || !this.inspection) return false;
    const original = this.inspection.primarySwitch;
    const current = await this.readSwitch(this.options.target.primaryHealthCheckId);
    if (current.disabled === original.disabled && current.inverted === original.inverted) {
      this.forceAttempted = false;
      return false;
    }
    await this.updateSwitch({ disabled: original.disabled, inverted: original.inverted }, current.version);
    this.forceAttempted = false;
    return true;
  }

  /** The aws CLI command that restores the primary's check by hand. */
  public manualRestoreCommand(): string {
    const original = this.inspection?.primarySwitch ?? { disabled: false, inverted: false };
    return (
      `aws route53 update-health-check --health-check-id ${this.options.target.primaryHealthCheckId} ` +
      `${original.disabled ? '--disabled' : '--no-disabled'} ${original.inverted ? '--inverted' : '--no-inverted'}`
    );
  }

  public async readSwitch(healthCheckId: string, signal?: AbortSignal): Promise<HealthCheckSwitch> {
    const answer = await this.route53.send(new GetHealthCheckCommand({ HealthCheckId: healthCheckId }), { abortSignal: signal });
    const hc = answer.HealthCheck;
    if (!hc || hc.HealthCheckVersion === undefined) throw new OpsError(`GetHealthCheck ${healthCheckId} returned no health check`);
    return { disabled: hc.HealthCheckConfig?.Disabled === true, inverted: hc.HealthCheckConfig?.Inverted === true, version: hc.HealthCheckVersion };
  }

  // ---- internals ---------------------------------------------------------------------------

  /**
   * UpdateHealthCheck with HealthCheckVersion; on HealthCheckVersionMismatch (someone changed the
   * check meanwhile) reads the version again and tries once more.
   */
  private async updateSwitch(wanted: { disabled: boolean; inverted: boolean }, knownVersion: number | undefined, signal?: AbortSignal): Promise<number> {
    const id = this.options.target.primaryHealthCheckId;
    let version = knownVersion ?? this.versionAfterForce ?? (await this.readSwitch(id, signal)).version;
    for (let attempt = 1; attempt <= 2; attempt++) {
      try {
        const answer = await this.route53.send(
          new UpdateHealthCheckCommand({ HealthCheckId: id, HealthCheckVersion: version, Disabled: wanted.disabled, Inverted: wanted.inverted }),
          { abortSignal: signal },
        );
        return answer.HealthCheck?.HealthCheckVersion ?? version + 1;
      } catch (err) {
        if ((err as Error).name !== 'HealthCheckVersionMismatch' || attempt === 2) throw err;
        version = (await this.readSwitch(id, signal)).version;
      }
    }
    throw new OpsError('unreachable');
  }

  private async findRecords(recordName: string, signal?: AbortSignal): Promise<{ primary: FailoverRecord; secondary: FailoverRecord }> {
    const sets: ResourceRecordSet[] = [];
    let start: { name?: string; type?: string; id?: string } = { name: recordName };
    for (let page = 0; page < 10; page++) {
      const answer = await this.route53.send(
        new ListResourceRecordSetsCommand({
          HostedZoneId: this.options.target.hostedZoneId,
          StartRecordName: start.name,
          StartRecordType: start.type as 'A' | undefined,
          StartRecordIdentifier: start.id,
          MaxItems: 100,
        }),
        { abortSignal: signal },
      );
      const batch = answer.ResourceRecordSets ?? [];
      sets.push(...batch);
      // Sorted by name: once past our name, stop.
      const pastIt = batch.some((s) => normalizeDnsValue(s.Name ?? '') !== recordName);
      if (!answer.IsTruncated || pastIt) break;
      start = { name: answer.NextRecordName, type: answer.NextRecordType, id: answer.NextRecordIdentifier };
    }
    const failover = sets.filter((s) => normalizeDnsValue(unescapeName(s.Name ?? '')) === recordName && s.Failover);
    const toRecord = (s: ResourceRecordSet): FailoverRecord => ({
      setIdentifier: s.SetIdentifier ?? '',
      type: s.Type ?? 'A',
      values: (s.ResourceRecords ?? []).map((r) => normalizeDnsValue(r.Value ?? '')),
      aliasTarget: s.AliasTarget?.DNSName ? normalizeDnsValue(s.AliasTarget.DNSName) : undefined,
      healthCheckId: s.HealthCheckId,
    });
    // An alias pair may have A and AAAA records: drill on A when there is one.
    const types = [...new Set(failover.map((s) => s.Type ?? 'A'))].sort((a, b) => (a === 'A' ? -1 : b === 'A' ? 1 : a.localeCompare(b)));
    const type = types[0];
    const primary = failover.find((s) => s.Failover === 'PRIMARY' && s.Type === type);
    const secondary = failover.find((s) => s.Failover === 'SECONDARY' && s.Type === type);
    if (!primary || !secondary) {
      throw new OpsError(
        `no PRIMARY and SECONDARY failover records named ${recordName} in zone ${this.options.target.hostedZoneId}` +
          ` (found ${failover.map((s) => `${s.Failover} ${s.Type}`).join(', ') || 'none'})`,
      );
    }
    if (primary.HealthCheckId && primary.HealthCheckId !== this.options.target.primaryHealthCheckId) {
      throw new OpsError(`the PRIMARY record of ${recordName} uses health check ${primary.HealthCheckId}, not ${this.options.target.primaryHealthCheckId}`);
    }
    if (!primary.HealthCheckId && !primary.AliasTarget?.EvaluateTargetHealth) {
      throw new OpsError(`the PRIMARY record of ${recordName} has no health check: forcing ${this.options.target.primaryHealthCheckId} unhealthy would change nothing`);
    }
    return { primary: toRecord(primary), secondary: toRecord(secondary) };
  }

  /** Each side's values: the record's own, or an alias target's current addresses. */
  private async expectedValues(): Promise<{ primary: Set<string>; secondary: Set<string> }> {
    const i = this.requireInspection();
    const valuesOf = async (r: FailoverRecord): Promise<Set<string>> => {
      if (!r.aliasTarget) return new Set(r.values);
      if (r.type !== 'A') throw new OpsError(`alias ${r.type} records cannot be told apart by this drill yet (only A)`);
      return new Set((await this.dns.addressesOf(r.aliasTarget).catch(() => [])).map(normalizeDnsValue));
    };
    return { primary: await valuesOf(i.primary), secondary: await valuesOf(i.secondary) };
  }

  private async resolveNameServers(): Promise<Array<{ server: string; address?: string; error?: string }>> {
    if (!this.nameServerAddresses) {
      const out: Array<{ server: string; address?: string; error?: string }> = [];
      for (const server of this.requireInspection().nameServers) {
        try {
          const [address] = await this.dns.addressesOf(server);
          out.push(address ? { server, address } : { server, error: 'no address' });
        } catch (err) {
          out.push({ server, error: oneLine(err) });
        }
      }
      // Keep what resolved; try the others again next time.
      if (out.every((o) => o.address)) this.nameServerAddresses = out;
      return out;
    }
    return this.nameServerAddresses;
  }

  private requireInspection(): DrillInspection {
    if (!this.inspection) throw new OpsError('inspect() first');
    return this.inspection;
  }
}

/** Which side a set of answered values is. */
export function classify(values: readonly string[], expected: { primary: Set<string>; secondary: Set<string> }): Side {
  if (values.length === 0) return 'none';
  if (values.every((v) => expected.primary.has(v)) && !values.every((v) => expected.secondary.has(v))) return 'primary';
  if (values.every((v) => expected.secondary.has(v)) && !values.every((v) => expected.primary.has(v))) return 'secondary';
  return 'unknown';
}

function answersAre(o: AnswerObservation, side: Side, direct: boolean): boolean {
  if (o.testDnsAnswer.side !== side) return false;
  if (!direct) return true;
  const answered = o.nameServers.filter((n) => n.side !== undefined);
  return answered.length > 0 && answered.every((n) => n.side === side);
}

export function describeObservation(o: AnswerObservation): string {
  const t = `TestDNSAnswer ${o.testDnsAnswer.side} (${o.testDnsAnswer.values.join(' ') || o.testDnsAnswer.responseCode || 'empty'})`;
  const ns = o.nameServers.map((n) => `${n.server} ${n.side ?? `error: ${n.error}`}`);
  return [t, ...ns].join('; ');
}

function absoluteName(recordName: string, zoneName: string): string {
  const name = normalizeDnsValue(recordName);
  if (!zoneName || name === zoneName || name.endsWith(`.${zoneName}`)) return name;
  return `${name}.${zoneName}`;
}

/** Route 53 lists '*' as \052. */
function unescapeName(name: string): string {
  return name.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export interface DnsDrillCaseOptions extends Omit<Route53DrillOptions, 'target'> {
  readonly target: DnsFailoverOutputs;
}

/**
 * The DNS drill as a test case.
 * setup: the zone is public, the primary is the answer, both checks are healthy in Route 53's
 * eyes, the primary's check is not already forced. execute: force the primary unhealthy and wait
 * for the secondary's answer. verify: TestDNSAnswer and every name server answer the secondary,
 * and the check reads Disabled + Inverted. cleanup: restore and wait for the primary's answer.
 */
export function dnsDrillCase(options: DnsDrillCaseOptions): DrillCase {
  const drill = new Route53Drill(options);
  const t = options.target;
  let inspection: DrillInspection | undefined;
  const name = `dns ${t.path || t.recordName}`;

  const checkHealth = async (ctx: DrillContext, id: string, label: string) => {
    const s = await drill.checkerStatus(id, ctx.signal);
    const regions = s.observations.map((o) => `${o.region} ${o.healthy ? 'ok' : 'FAIL'}`).join(', ') || 'no observations';
    ctx.check(`${label} health check ${id} is healthy`, s.healthy, `${Math.round(s.healthyFraction * 100)}% of checkers healthy (${regions})`);
  };

  return {
    name,
    description: `force ${t.recordName}'s primary health check unhealthy, see Route 53 answer with the secondary, restore it`,
    manualCleanupHint: () => (drill.changed ? drill.manualRestoreCommand() : undefined),

    async plan(ctx) {
      const lines: string[] = [];
      try {
        inspection = await drill.inspect(ctx.signal);
      } catch (err) {
        lines.push(`(could not read the current state: ${oneLine(err)})`);
      }
      const i = inspection;
      const primary = i ? `${i.recordType} ${i.primary.aliasTarget ?? i.primary.values.join(' ')}` : 'the primary';
      const secondary = i ? `${i.recordType} ${i.secondary.aliasTarget ?? i.secondary.values.join(' ')}` : 'the secondary';
      const timeout = ((options.answerTimeoutMs ?? 300_000) / 1000).toFixed(0);
      lines.push(
        `record ${i?.recordName ?? t.recordName} in zone ${t.hostedZoneId}${i ? ` (${i.zoneName}, ${i.privateZone ? 'PRIVATE: the drill will refuse' : 'public'})` : ''}`,
        `1. check: ${t.primaryHealthCheckId} (primary) healthy in >18% of checker regions${t.secondaryHealthCheckId ? `, ${t.secondaryHealthCheckId} (secondary) too` : ''}; the answer is the primary (${primary})`,
        `2. UpdateHealthCheck ${t.primaryHealthCheckId} Disabled=true Inverted=true HealthCheckVersion=${i?.primarySwitch.version ?? '<current>'} (forces it unhealthy)`,
        `3. wait up to ${timeout} s until TestDNSAnswer${(options.directQueries ?? true) ? ` and the name servers (${i?.nameServers.join(', ') || 'from GetHostedZone'})` : ''} answer the secondary (${secondary})`,
        `4. cleanup, always (also on error or Ctrl-C): UpdateHealthCheck ${t.primaryHealthCheckId} Disabled=${i?.primarySwitch.disabled ?? false} Inverted=${i?.primarySwitch.inverted ?? false} with the version then current`,
        `5. wait up to ${timeout} s until the answer is the primary again; every phase is timed`,
        `Route 53 calls are paced under 5 requests/s; nothing was changed (--dry-run)`,
      );
      if (!i) throw new OpsError(lines[0]!.replace(/^\(|\)$/g, ''));
      return lines;
    },

    async setup(ctx) {
      inspection = await drill.inspect(ctx.signal);
      const i = inspection;
      ctx.log(`record ${i.recordName} ${i.recordType}: primary ${i.primary.aliasTarget ?? i.primary.values.join(' ')}, secondary ${i.secondary.aliasTarget ?? i.secondary.values.join(' ')}`);
      ctx.check('the hosted zone is public', !i.privateZone, i.privateZone ? `${i.zoneName} is private: TestDNSAnswer works only for public zones` : `${i.zoneName}, name servers ${i.nameServers.join(', ')}`);
      if (i.privateZone) return;
      ctx.check(
        'the primary health check is not already forced',
        !(i.primarySwitch.disabled && i.primarySwitch.inverted),
        i.primarySwitch.disabled && i.primarySwitch.inverted
          ? `${t.primaryHealthCheckId} is Disabled and Inverted (an interrupted drill?); restore it first: ${drill.manualRestoreCommand().replace('--disabled --inverted', '--no-disabled --no-inverted')}`
          : `Disabled=${i.primarySwitch.disabled} Inverted=${i.primarySwitch.inverted} version ${i.primarySwitch.version}`,
      );
      await checkHealth(ctx, t.primaryHealthCheckId, 'primary');
      if (t.secondaryHealthCheckId) await checkHealth(ctx, t.secondaryHealthCheckId, 'secondary');
      else ctx.log('the secondary has no health check of its own: Route 53 assumes it healthy');
      const o = await drill.observe(ctx.signal);
      ctx.check('the answer is the primary', answersAre(o, 'primary', options.directQueries ?? true), describeObservation(o));
    },

    async execute(ctx) {
      const before = Date.now();
      const version = await drill.forcePrimaryUnhealthy(ctx.signal);
      ctx.log(`forced ${t.primaryHealthCheckId} unhealthy (Disabled + Inverted, now version ${version}); waiting for the secondary's answer`);
      const { elapsedMs } = await drill.waitForSide('secondary', { signal: ctx.signal, onProgress: (l) => ctx.log(`waiting for the secondary: ${l}`) });
      ctx.measure('force_to_secondary_seconds', round((Date.now() - before) / 1000));
      ctx.measure('wait_for_secondary_seconds', round(elapsedMs / 1000));
      if (t.worstCaseFailoverSeconds !== undefined) ctx.measure('model_worst_case_failover_seconds', t.worstCaseFailoverSeconds);
    },

    async verify(ctx) {
      const o = await drill.observe(ctx.signal);
      ctx.check('TestDNSAnswer answers the secondary', o.testDnsAnswer.side === 'secondary', `${o.testDnsAnswer.values.join(' ') || 'empty'} (${o.testDnsAnswer.side})`);
      if (options.directQueries ?? true) {
        for (const ns of o.nameServers) {
          ctx.check(`name server ${ns.server} answers the secondary`, ns.side === 'secondary', ns.error ? `error: ${ns.error}` : `${(ns.values ?? []).join(' ')} (${ns.side})`);
        }
      }
      const s = await drill.readSwitch(t.primaryHealthCheckId, ctx.signal);
      ctx.check('the primary health check reads Disabled + Inverted', s.disabled && s.inverted, `Disabled=${s.disabled} Inverted=${s.inverted} version ${s.version}`);
    },

    async cleanup(ctx) {
      if (!drill.changed) {
        ctx.log('the primary health check was not changed: nothing to restore');
        return;
      }
      const before = Date.now();
      const hint = drill.manualRestoreCommand();
      let sent: boolean;
      try {
        sent = await drill.restorePrimary();
      } catch (err) {
        throw new OpsError(`could not restore ${t.primaryHealthCheckId} (${oneLine(err)}); restore it by hand: ${hint}`);
      }
      const original = inspection!.primarySwitch;
      ctx.log(sent ? `restored ${t.primaryHealthCheckId} to Disabled=${original.disabled} Inverted=${original.inverted}` : `${t.primaryHealthCheckId} already read as before`);
      const s = await drill.readSwitch(t.primaryHealthCheckId);
      ctx.check('the primary health check reads as before the drill', s.disabled === original.disabled && s.inverted === original.inverted, `Disabled=${s.disabled} Inverted=${s.inverted} version ${s.version}`);
      try {
        const { elapsedMs, observation } = await drill.waitForSide('primary', { onProgress: (l) => ctx.log(`waiting for the primary: ${l}`) });
        ctx.measure('restore_to_primary_seconds', round((Date.now() - before) / 1000));
        ctx.measure('wait_for_primary_seconds', round(elapsedMs / 1000));
        ctx.check('the answer is the primary again', true, `after ${round(elapsedMs / 1000)} s: ${describeObservation(observation)}`);
      } catch (err) {
        ctx.check('the answer is the primary again', false, oneLine(err));
      }
    },
  };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
