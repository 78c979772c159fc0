import { Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import { Construct } from 'constructs';
import { DnsFailover, FailoverEndpoint, HealthCheckProtocol } from '../lib';

/**
 * api.example.com fails over from 203.0.113.10 to 198.51.100.10 (documentation addresses:
 * Route 53 refuses private ones), HTTPS checks on /health from three regions.
 */
export class DnsFailoverExampleStack extends Stack {
  public readonly failover: DnsFailover;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const zone = new route53.PublicHostedZone(this, 'Zone', { zoneName: 'example.com' });
    this.failover = new DnsFailover(this, 'Api', {
      zone,
      recordName: 'api',
      primary: FailoverEndpoint.ipAddress('203.0.113.10'),
      secondary: FailoverEndpoint.ipAddress('198.51.100.10'),
      healthCheck: {
        protocol: HealthCheckProtocol.HTTPS,
        path: '/health',
        interval: Duration.seconds(10),
        failureThreshold: 3,
        regions: ['us-east-1', 'us-west-2', 'eu-west-1'],
        measureLatency: true,
      },
      ttl: Duration.seconds(60),
      recoveryTimeObjective: Duration.minutes(3),
    });
  }
}

/**
 * The same service behind two regions' existing Application Load Balancers, as alias records
 * that also evaluate the load balancers' target health.
 */
export class DnsFailoverAliasExampleStack extends Stack {
  public readonly failover: DnsFailover;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const zone = new route53.PublicHostedZone(this, 'Zone', { zoneName: 'example.com' });
    // Existing load balancers, imported by attribute so that synth needs no lookup.
    const primaryAlb = elbv2.ApplicationLoadBalancer.fromApplicationLoadBalancerAttributes(this, 'PrimaryAlb', {
      loadBalancerArn: 'arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/app/api-use1/0123456789abcdef',
      securityGroupId: 'sg-0123456789abcdef0',
      loadBalancerDnsName: 'api-use1-123456789.us-east-1.elb.amazonaws.com',
      loadBalancerCanonicalHostedZoneId: 'Z35SXDOTRQ7X7K',
    });
    const secondaryAlb = elbv2.ApplicationLoadBalancer.fromApplicationLoadBalancerAttributes(this, 'SecondaryAlb', {
      loadBalancerArn: 'arn:aws:elasticloadbalancing:us-west-2:111111111111:loadbalancer/app/api-usw2/fedcba9876543210',
      securityGroupId: 'sg-0fedcba9876543210',
      loadBalancerDnsName: 'api-usw2-987654321.us-west-2.elb.amazonaws.com',
      loadBalancerCanonicalHostedZoneId: 'Z1H1FL5HABSF5',
    });
    this.failover = new DnsFailover(this, 'Api', {
      zone,
      recordName: 'api.example.com',
      primary: FailoverEndpoint.alias(new targets.LoadBalancerTarget(primaryAlb)),
      secondary: FailoverEndpoint.alias(new targets.LoadBalancerTarget(secondaryAlb)),
      healthCheck: { path: '/health', searchString: 'ok' },
    });
  }
}
