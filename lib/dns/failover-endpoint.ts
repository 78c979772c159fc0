import { Token } from 'aws-cdk-lib';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import { ipVersion, isNonRoutable } from './ip-address';

/** Options for an alias endpoint. */
export interface AliasEndpointOptions {
  /**
   * Let Route 53 judge the alias target's health itself (load balancers: their target groups).
   *
   * Targets that cannot report health (CloudFront, API Gateway) must leave this off: the endpoint
   * then gets a Route 53 health check of its own on the target's DNS name.
   *
   * @default - true, except for CloudFront and API Gateway targets
   */
  readonly evaluateTargetHealth?: boolean;

  /**
   * Record type of the alias: A or AAAA.
   * @default route53.RecordType.A
   */
  readonly recordType?: route53.RecordType;
}

/** What a PRIMARY or SECONDARY failover record points at. */
export class FailoverEndpoint {
  /**
   * An IPv4 (A record) or IPv6 (AAAA record) address, health-checked by IP.
   *
   * Route 53 refuses IP health checks on private, loopback and link-local addresses, so those are
   * refused here at synth.
   */
  public static ipAddress(address: string): FailoverEndpoint {
    if (Token.isUnresolved(address)) {
      return new FailoverEndpoint(route53.RecordType.A, address, undefined, undefined);
    }
    const version = ipVersion(address);
    if (version === 0) {
      throw new Error(`FailoverEndpoint.ipAddress: '${address}' is not an IPv4 or IPv6 address`);
    }
    if (isNonRoutable(address)) {
      throw new Error(
        `FailoverEndpoint.ipAddress: '${address}' is a private, loopback, link-local or otherwise non-routable address; ` +
          'Route 53 health checkers probe from the internet and refuse such addresses. Use a public address, or an alias to a load balancer',
      );
    }
    return new FailoverEndpoint(version === 6 ? route53.RecordType.AAAA : route53.RecordType.A, address, undefined, undefined);
  }

  /** A host name (CNAME record), health-checked by that name. */
  public static domainName(fqdn: string): FailoverEndpoint {
    if (!Token.isUnresolved(fqdn)) {
      const name = fqdn.replace(/\.$/, '');
      const labels = name.split('.');
      const validLabel = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
      if (name.length > 253 || labels.length < 2 || !labels.every((l) => validLabel.test(l))) {
        throw new Error(
          `FailoverEndpoint.domainName: '${fqdn}' is not a fully qualified host name ` +
            '(at least two dot-separated labels of letters, digits and inner hyphens, each at most 63 characters, 253 in all)',
        );
      }
    }
    return new FailoverEndpoint(route53.RecordType.CNAME, fqdn, undefined, undefined);
  }

  /** An alias to an AWS resource: load balancer, CloudFront distribution, API Gateway domain... */
  public static alias(target: route53.IAliasRecordTarget, options: AliasEndpointOptions = {}): FailoverEndpoint {
    const recordType = options.recordType ?? route53.RecordType.A;
    if (recordType !== route53.RecordType.A && recordType !== route53.RecordType.AAAA) {
      throw new Error(`FailoverEndpoint.alias: recordType must be A or AAAA, got ${recordType}`);
    }
    const cannotReportHealth = FailoverEndpoint.targetCannotReportHealth(target);
    if (cannotReportHealth && options.evaluateTargetHealth === true) {
      throw new Error(
        'FailoverEndpoint.alias: evaluateTargetHealth cannot be true for a CloudFront or API Gateway target (Route 53 cannot ' +
          'evaluate their health); leave it unset and the endpoint gets a health check of its own',
      );
    }
    const evaluateTargetHealth = options.evaluateTargetHealth ?? !cannotReportHealth;
    return new FailoverEndpoint(recordType, undefined, target, evaluateTargetHealth);
  }

  private static targetCannotReportHealth(target: route53.IAliasRecordTarget): boolean {
    return (
      target instanceof targets.CloudFrontTarget ||
      target instanceof targets.ApiGatewayDomain ||
      target instanceof targets.ApiGatewayv2DomainProperties
    );
  }

  private constructor(
    /** The record type this endpoint produces (A, AAAA or CNAME). */
    public readonly recordType: route53.RecordType,
    /** The IP address or host name; undefined for an alias. */
    public readonly value: string | undefined,
    /** The alias target; undefined unless this is an alias. */
    public readonly aliasTarget: route53.IAliasRecordTarget | undefined,
    /** For an alias: whether Route 53 evaluates the target's health. */
    public readonly evaluateTargetHealth: boolean | undefined,
  ) {}

  /** True for an alias endpoint. */
  public get isAlias(): boolean {
    return this.aliasTarget !== undefined;
  }

  /** True when the endpoint is an IP address (health-checked by IP). */
  public get isIpAddress(): boolean {
    return !this.isAlias && this.recordType !== route53.RecordType.CNAME;
  }

  /** A short description for error messages. */
  public describe(): string {
    if (this.aliasTarget) return `alias (${this.recordType})`;
    return `${this.recordType} ${this.value}`;
  }
}
