import { Annotations, Duration, Lazy, Tags, Token } from 'aws-cdk-lib';
import * as route53 from 'aws-cdk-lib/aws-route53';
import { Construct } from 'constructs';
import { DnsFailoverAttributes, DnsFailoverBase, IDnsFailover } from './dns-failover-base';
import { FailoverEndpoint } from './failover-endpoint';
import { ALIAS_RECORD_TTL, describeFailoverTime, FailoverTimeBreakdown, worstCaseFailoverTime } from './failover-time';
import { HealthCheckOptions, ResolvedHealthCheckOptions, resolveHealthCheckOptions } from './health-check-options';
import { resolveRecordName } from './record-name';
import { dnsOutputValues } from './dns-outputs';
import { addFailoverOutputs } from '../util/failover-outputs';
import { DNS_FAILOVER_OUTPUTS } from '../util/output-contract';

/** Properties of a DnsFailover. */
export interface DnsFailoverProps {
  /** The hosted zone the PRIMARY and SECONDARY records go in. */
  readonly zone: route53.IHostedZone;

  /** Record name, relative to the zone ('api') or fully qualified ('api.example.com'). */
  readonly recordName: string;

  /** Where traffic goes while it is healthy. */
  readonly primary: FailoverEndpoint;

  /** Where traffic goes when the primary is unhealthy. */
  readonly secondary: FailoverEndpoint;

  /**
   * How Route 53 probes the endpoints.
   * @default - HTTPS on port 443, path /health, every 30 s, 3 failures, from us-east-1, us-west-2 and eu-west-1
   */
  readonly healthCheck?: HealthCheckOptions;

  /**
   * Health-check the secondary too. When both records are unhealthy Route 53 answers with the
   * primary, so a secondary that is down is never served blindly.
   * @default - true, except for an alias secondary that evaluates its target's health
   */
  readonly checkSecondary?: boolean;

  /**
   * TTL of non-alias records. Part of the worst-case failover time: resolvers keep the old answer
   * this long. Alias records take their target's TTL and cannot have one.
   * @default Duration.seconds(60)
   */
  readonly ttl?: Duration;

  /**
   * Fail synth when the worst-case failover time of this configuration exceeds this.
   * @default - no objective checked
   */
  readonly recoveryTimeObjective?: Duration;

  /**
   * Stack outputs with the health check IDs, record name, zone ID and worst-case failover time,
   * described `cdk-failover:DnsFailover:<path>:<key>`: what `failover drill dns --stack` and the
   * runbook read. Without them, pass the IDs to the CLI (`--health-check-id`, `--hosted-zone-id`,
   * `--record-name`); a template holds at most 200 outputs. Turning them off or on only adds or
   * removes outputs: nothing is replaced.
   * @default true
   */
  readonly outputs?: boolean;
}

/**
 * A PRIMARY/SECONDARY Route 53 failover record pair with health checks probed from several
 * checker regions, validated against Route 53's limits at synth.
 */
export class DnsFailover extends DnsFailoverBase {
  /**
   * A DnsFailover made in another stack or app, from its attributes (the values of its stack
   * outputs), for alarms and dashboards.
   */
  public static fromDnsFailoverAttributes(scope: Construct, id: string, attrs: DnsFailoverAttributes): IDnsFailover {
    return new ImportedDnsFailover(scope, id, attrs);
  }

  /** The primary's health check. */
  public readonly primaryHealthCheck: route53.IHealthCheck;

  /** The secondary's health check, when it has one. */
  public readonly secondaryHealthCheck?: route53.IHealthCheck;

  /** The PRIMARY record. */
  public readonly primaryRecord: route53.RecordSet;

  /** The SECONDARY record. */
  public readonly secondaryRecord: route53.RecordSet;

  /** The record's fully qualified name, without trailing dot (a token when the zone's name is one). */
  public readonly recordName: string;

  /** Worst case from the primary failing to resolvers answering with the secondary. */
  public readonly worstCaseFailoverTime: Duration;

  /** The parts of `worstCaseFailoverTime`. */
  public readonly failoverTimeBreakdown: FailoverTimeBreakdown;

  /** The health check settings in force, defaults applied. */
  public readonly healthCheckOptions: ResolvedHealthCheckOptions;

  public readonly hostedZoneId: string;
  public readonly primaryHealthCheckId: string;
  public readonly secondaryHealthCheckId?: string;
  public readonly latencyRegions: string[];
  public readonly https: boolean;

  constructor(scope: Construct, id: string, props: DnsFailoverProps) {
    super(scope, id);
    const { primary, secondary } = props;
    const options = resolveHealthCheckOptions(props.healthCheck);
    this.healthCheckOptions = options;
    this.hostedZoneId = props.zone.hostedZoneId;
    this.latencyRegions = options.measureLatency ? [...options.regions] : [];
    this.https = options.protocol.name === 'HTTPS';

    const fqdn = resolveRecordName(props.recordName, props.zone.zoneName);
    this.recordName = fqdn ?? props.recordName;
    validatePair(primary, secondary, fqdn, props.zone.zoneName);

    if (props.ttl !== undefined && primary.isAlias && secondary.isAlias) {
      throw new Error(
        `ttl cannot be set when both endpoints are aliases (got ${props.ttl.toHumanString()}): alias records take their target's TTL`,
      );
    }
    const ttl = props.ttl ?? Duration.seconds(60);
    if (ttl.isUnresolved()) {
      throw new Error('ttl must be a concrete duration: the failover-time model and the records need its value');
    }
    if ((!Number.isInteger(ttl.toSeconds({ integral: false })) || ttl.toSeconds() > 2147483647)) {
      throw new Error(`ttl must be a whole number of seconds from 0 to 2147483647, got ${ttl.toHumanString()}`);
    }
    if (props.ttl !== undefined && (primary.isAlias || secondary.isAlias)) {
      Annotations.of(this).addWarningV2(
        'cdk-failover:aliasTtl',
        `ttl ${ttl.toHumanString()} applies to the non-alias record only; the alias record takes its target's TTL`,
      );
    }

    // A value hidden in a token is taken at its worst: 10 failures, 30 s apart.
    this.failoverTimeBreakdown = worstCaseFailoverTime({
      protocol: options.protocol,
      stringMatch: options.searchString !== undefined,
      interval: options.interval.isUnresolved() ? Duration.seconds(30) : options.interval,
      failureThreshold: Token.isUnresolved(options.failureThreshold) ? 10 : options.failureThreshold,
      ttl: primary.isAlias ? ALIAS_RECORD_TTL : ttl,
    });
    this.worstCaseFailoverTime = this.failoverTimeBreakdown.total;
    const rto = props.recoveryTimeObjective;
    if (rto && !rto.isUnresolved() && this.worstCaseFailoverTime.toSeconds() > rto.toSeconds({ integral: false })) {
      throw new Error(
        `recoveryTimeObjective ${rto.toSeconds({ integral: false })} s is exceeded: worst-case failover is ` +
          `${describeFailoverTime(this.failoverTimeBreakdown)}. Lower healthCheck.interval (10 s), ` +
          'healthCheck.failureThreshold or ttl, or raise the objective',
      );
    }

    const primaryTarget = new FailoverAliasTarget(primary);
    const secondaryTarget = new FailoverAliasTarget(secondary);

    this.primaryHealthCheck = this.createHealthCheck('PrimaryHealthCheck', 'primary', primary, primaryTarget, options);
    this.primaryHealthCheckId = this.primaryHealthCheck.healthCheckId;
    const checkSecondary = props.checkSecondary ?? !(secondary.isAlias && secondary.evaluateTargetHealth);
    if (checkSecondary) {
      this.secondaryHealthCheck = this.createHealthCheck('SecondaryHealthCheck', 'secondary', secondary, secondaryTarget, options);
      this.secondaryHealthCheckId = this.secondaryHealthCheck.healthCheckId;
    } else if (!secondary.isAlias || !secondary.evaluateTargetHealth) {
      Annotations.of(this).addWarningV2(
        'cdk-failover:secondaryUnchecked',
        'checkSecondary is false: Route 53 will send traffic to the secondary without knowing whether it is healthy',
      );
    }

    this.primaryRecord = this.createRecord('PrimaryRecord', route53.Failover.PRIMARY, props, primary, primaryTarget, ttl, this.primaryHealthCheck);
    this.secondaryRecord = this.createRecord(
      'SecondaryRecord',
      route53.Failover.SECONDARY,
      props,
      secondary,
      secondaryTarget,
      ttl,
      this.secondaryHealthCheck,
    );

    if (props.outputs ?? true) this.createOutputs();
  }

  private createHealthCheck(
    id: string,
    role: string,
    endpoint: FailoverEndpoint,
    aliasTarget: FailoverAliasTarget,
    options: ResolvedHealthCheckOptions,
  ): route53.HealthCheck {
    const stringMatch = options.searchString !== undefined;
    // IP checks send the record's name as Host header and SNI; name checks probe the name itself.
    // An alias is probed at its target's DNS name, never the failover record (that would be circular).
    const fqdn = endpoint.isAlias ? aliasTarget.dnsName : endpoint.isIpAddress ? this.recordName : endpoint.value;
    const healthCheck = new route53.HealthCheck(this, id, {
      type: options.protocol.healthCheckType(stringMatch),
      ipAddress: endpoint.isIpAddress ? endpoint.value : undefined,
      fqdn,
      port: options.port,
      resourcePath: options.path,
      searchString: options.searchString,
      requestInterval: options.interval,
      failureThreshold: options.failureThreshold,
      regions: options.regions,
      measureLatency: options.measureLatency,
      enableSNI: options.enableSni,
    });
    Tags.of(healthCheck).add('Name', `${this.recordName} ${role}`);
    return healthCheck;
  }

  private createRecord(
    id: string,
    failover: route53.Failover,
    props: DnsFailoverProps,
    endpoint: FailoverEndpoint,
    aliasTarget: FailoverAliasTarget,
    ttl: Duration,
    healthCheck: route53.IHealthCheck | undefined,
  ): route53.RecordSet {
    const record = new route53.RecordSet(this, id, {
      zone: props.zone,
      recordName: this.recordName,
      recordType: endpoint.recordType,
      target: endpoint.isAlias ? route53.RecordTarget.fromAlias(aliasTarget) : route53.RecordTarget.fromValues(endpoint.value!),
      ttl: endpoint.isAlias ? undefined : ttl,
      failover,
      setIdentifier: failover === route53.Failover.PRIMARY ? 'primary' : 'secondary',
      healthCheck,
    });
    if (endpoint.isAlias && !endpoint.evaluateTargetHealth) {
      // aws-cdk-lib insists on EvaluateTargetHealth for failover aliases, which CloudFront and
      // API Gateway cannot give; their own health check (attached above) decides instead.
      (record.node.defaultChild as route53.CfnRecordSet).addPropertyOverride('AliasTarget.EvaluateTargetHealth', false);
    }
    return record;
  }

  private createOutputs(): void {
    addFailoverOutputs(this, 'DnsFailover', DNS_FAILOVER_OUTPUTS, {
      ...dnsOutputValues(this),
      worstCaseFailoverSeconds: String(this.worstCaseFailoverTime.toSeconds()),
    });
  }
}

/** A DnsFailover made elsewhere (another stack or app), known by its attributes. */
class ImportedDnsFailover extends DnsFailoverBase {
  public readonly recordName: string;
  public readonly hostedZoneId: string;
  public readonly primaryHealthCheckId: string;
  public readonly secondaryHealthCheckId?: string;
  public readonly latencyRegions: string[];
  public readonly https: boolean;

  constructor(scope: Construct, id: string, attrs: DnsFailoverAttributes) {
    super(scope, id);
    this.recordName = attrs.recordName;
    this.hostedZoneId = attrs.hostedZoneId;
    this.primaryHealthCheckId = attrs.primaryHealthCheckId;
    this.secondaryHealthCheckId = attrs.secondaryHealthCheckId;
    this.latencyRegions = [...(attrs.latencyRegions ?? [])];
    this.https = attrs.https ?? true;
  }
}

function validatePair(primary: FailoverEndpoint, secondary: FailoverEndpoint, fqdn: string | undefined, zoneName: string): void {
  if (primary === secondary || (primary.value !== undefined && sameValue(primary.value, secondary.value))) {
    throw new Error(
      `primary and secondary are the same endpoint (${primary.describe()}); failover needs two different endpoints`,
    );
  }
  if (primary.aliasTarget !== undefined && primary.aliasTarget === secondary.aliasTarget) {
    throw new Error('primary and secondary are the same alias target; failover needs two different endpoints');
  }
  if (primary.recordType !== secondary.recordType) {
    throw new Error(
      `primary (${primary.describe()}) and secondary (${secondary.describe()}) cannot pair: both records of a failover ` +
        `pair must have the same type, got ${primary.recordType} and ${secondary.recordType}`,
    );
  }
  if (primary.recordType === route53.RecordType.CNAME && fqdn !== undefined && !Token.isUnresolved(zoneName)) {
    if (fqdn === zoneName.replace(/\.$/, '').toLowerCase()) {
      throw new Error(`recordName '${fqdn}' is the zone apex, which cannot hold a CNAME; use IP or alias endpoints there`);
    }
  }
}

function sameValue(a: string, b: string | undefined): boolean {
  if (b === undefined || Token.isUnresolved(a) || Token.isUnresolved(b)) return false;
  const norm = (s: string) => s.replace(/\.$/, '').toLowerCase();
  return norm(a) === norm(b);
}

/**
 * Binds the endpoint's alias target once, so the health check can probe the target's DNS name,
 * and tells aws-cdk-lib the target is evaluated (see the override in createRecord).
 */
class FailoverAliasTarget implements route53.IAliasRecordTarget {
  private config?: route53.AliasRecordTargetConfig;

  constructor(private readonly endpoint: FailoverEndpoint) {}

  /** The target's DNS name, known once the record has bound it (resolved lazily at synth). */
  public get dnsName(): string {
    return Lazy.string({
      produce: () => {
        if (!this.config) throw new Error('alias target was never bound to a record');
        return this.config.dnsName;
      },
    });
  }

  public bind(record: route53.IRecordSet, zone?: route53.IHostedZone): route53.AliasRecordTargetConfig {
    const inner = this.endpoint.aliasTarget;
    if (!inner) throw new Error('not an alias endpoint');
    this.config ??= inner.bind(record, zone);
    return { ...this.config, evaluateTargetHealth: true };
  }
}
