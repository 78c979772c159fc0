import { CfnParameter, Duration, Stack, Token } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import { DnsFailover, DnsFailoverProps, FailoverEndpoint, HealthCheckProtocol, LatencyMetric } from '../../lib';
import { testApp } from '../app';

function setup(overrides: Partial<DnsFailoverProps> = {}, stackRegion = 'us-east-1') {
  const stack = new Stack(testApp(), 'Test', { env: { region: stackRegion } });
  const zone = new route53.PublicHostedZone(stack, 'Zone', { zoneName: 'example.com' });
  const dns = new DnsFailover(stack, 'Api', {
    zone,
    recordName: 'api',
    primary: FailoverEndpoint.ipAddress('203.0.113.10'),
    secondary: FailoverEndpoint.ipAddress('198.51.100.10'),
    ...overrides,
  });
  return { stack, zone, dns, template: Template.fromStack(stack) };
}

function albs(stack: Stack) {
  const alb = (id: string, n: number) =>
    elbv2.ApplicationLoadBalancer.fromApplicationLoadBalancerAttributes(stack, id, {
      loadBalancerArn: `arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/app/${id}/${n}`,
      securityGroupId: `sg-0000000000000000${n}`,
      loadBalancerDnsName: `${id.toLowerCase()}.us-east-1.elb.amazonaws.com`,
      loadBalancerCanonicalHostedZoneId: 'Z35SXDOTRQ7X7K',
    });
  return [alb('One', 1), alb('Two', 2)];
}

describe('DnsFailover defaults', () => {
  test('creates a PRIMARY and a SECONDARY A record with a 60 s TTL and set identifiers', () => {
    const { template } = setup();
    template.resourceCountIs('AWS::Route53::RecordSet', 2);
    template.hasResourceProperties('AWS::Route53::RecordSet', {
      Name: 'api.example.com.',
      Type: 'A',
      Failover: 'PRIMARY',
      SetIdentifier: 'primary',
      ResourceRecords: ['203.0.113.10'],
      TTL: '60',
      HealthCheckId: { Ref: Match.stringLikeRegexp('^ApiPrimaryHealthCheck') },
    });
    template.hasResourceProperties('AWS::Route53::RecordSet', {
      Failover: 'SECONDARY',
      SetIdentifier: 'secondary',
      ResourceRecords: ['198.51.100.10'],
      HealthCheckId: { Ref: Match.stringLikeRegexp('^ApiSecondaryHealthCheck') },
    });
  });

  test('health-checks both IP endpoints over HTTPS /health, every 30 s, threshold 3, from three regions, with SNI', () => {
    const { template } = setup();
    template.resourceCountIs('AWS::Route53::HealthCheck', 2);
    template.hasResourceProperties('AWS::Route53::HealthCheck', {
      HealthCheckConfig: {
        Type: 'HTTPS',
        IPAddress: '203.0.113.10',
        FullyQualifiedDomainName: 'api.example.com',
        Port: 443,
        ResourcePath: '/health',
        RequestInterval: 30,
        FailureThreshold: 3,
        Regions: ['us-east-1', 'us-west-2', 'eu-west-1'],
        MeasureLatency: false,
        EnableSNI: true,
      },
      HealthCheckTags: [{ Key: 'Name', Value: 'api.example.com primary' }],
    });
    template.hasResourceProperties('AWS::Route53::HealthCheck', {
      HealthCheckConfig: Match.objectLike({ IPAddress: '198.51.100.10' }),
      HealthCheckTags: [{ Key: 'Name', Value: 'api.example.com secondary' }],
    });
  });

  test('worst case with defaults is 3 x (30 + 6) + 30 + 60 = 198 s', () => {
    const { dns } = setup();
    expect(dns.worstCaseFailoverTime.toSeconds()).toBe(198);
    expect(dns.failoverTimeBreakdown.detection.toSeconds()).toBe(108);
    expect(dns.failoverTimeBreakdown.propagation.toSeconds()).toBe(30);
    expect(dns.failoverTimeBreakdown.ttl.toSeconds()).toBe(60);
  });

  test('outputs the health check IDs, record name and zone with machine-readable descriptions', () => {
    const { template } = setup();
    const outputs = template.toJSON().Outputs as Record<string, { Description: string; Value: unknown }>;
    const byKey = Object.fromEntries(Object.values(outputs).map((o) => [o.Description.split(':').pop(), o.Value]));
    expect(byKey.primaryHealthCheckId).toEqual({ Ref: expect.stringMatching(/^ApiPrimaryHealthCheck/) });
    expect(byKey.secondaryHealthCheckId).toEqual({ Ref: expect.stringMatching(/^ApiSecondaryHealthCheck/) });
    expect(byKey.recordName).toBe('api.example.com');
    expect(byKey.hostedZoneId).toEqual({ Ref: expect.stringMatching(/^Zone/) });
    expect(byKey.worstCaseFailoverSeconds).toBe('198');
    expect(Object.values(outputs)[0].Description).toBe('cdk-failover:DnsFailover:Test/Api:primaryHealthCheckId');
  });

  test('outputs: false removes the outputs and changes no resource (day two: only outputs come and go)', () => {
    const without = setup({ outputs: false }).template.toJSON();
    expect(without.Outputs).toBeUndefined();
    expect(without.Resources).toEqual(setup().template.toJSON().Resources);
  });
});

describe('DnsFailover props', () => {
  test('every health check option reaches the template', () => {
    const { template } = setup({
      healthCheck: {
        protocol: HealthCheckProtocol.HTTP,
        port: 8080,
        path: '/ready',
        searchString: 'OK',
        interval: Duration.seconds(10),
        failureThreshold: 2,
        regions: ['eu-west-1', 'ap-southeast-1', 'sa-east-1', 'ap-northeast-1'],
        measureLatency: true,
      },
    });
    template.hasResourceProperties('AWS::Route53::HealthCheck', {
      HealthCheckConfig: {
        Type: 'HTTP_STR_MATCH',
        IPAddress: '203.0.113.10',
        FullyQualifiedDomainName: 'api.example.com',
        Port: 8080,
        ResourcePath: '/ready',
        SearchString: 'OK',
        RequestInterval: 10,
        FailureThreshold: 2,
        Regions: ['eu-west-1', 'ap-southeast-1', 'sa-east-1', 'ap-northeast-1'],
        MeasureLatency: true,
        EnableSNI: Match.absent(),
      },
    });
  });

  test('HTTPS with searchString is HTTPS_STR_MATCH and SNI can be turned off', () => {
    const { template } = setup({ healthCheck: { searchString: 'healthy', enableSni: false } });
    template.hasResourceProperties('AWS::Route53::HealthCheck', {
      HealthCheckConfig: Match.objectLike({ Type: 'HTTPS_STR_MATCH', SearchString: 'healthy', EnableSNI: false }),
    });
  });

  test('TCP checks have no path, no SNI and need a port', () => {
    const { template, dns } = setup({ healthCheck: { protocol: HealthCheckProtocol.TCP, port: 5432 } });
    template.hasResourceProperties('AWS::Route53::HealthCheck', {
      HealthCheckConfig: Match.objectLike({ Type: 'TCP', Port: 5432, ResourcePath: Match.absent(), EnableSNI: Match.absent() }),
    });
    expect(dns.failoverTimeBreakdown.detection.toSeconds()).toBe(3 * (30 + 10));
  });

  test('ttl sets the TTL of both records and enters the model', () => {
    const { template, dns } = setup({ ttl: Duration.seconds(15) });
    template.allResourcesProperties('AWS::Route53::RecordSet', { TTL: '15' });
    expect(dns.worstCaseFailoverTime.toSeconds()).toBe(108 + 30 + 15);
  });

  test('IPv6 endpoints make AAAA records', () => {
    const { template } = setup({
      primary: FailoverEndpoint.ipAddress('2001:db8::10'),
      secondary: FailoverEndpoint.ipAddress('2001:db8::20'),
    });
    template.hasResourceProperties('AWS::Route53::RecordSet', { Type: 'AAAA', ResourceRecords: ['2001:db8::10'] });
  });

  test('domain name endpoints make CNAME records, health-checked by name', () => {
    const { template } = setup({
      primary: FailoverEndpoint.domainName('primary.example.net'),
      secondary: FailoverEndpoint.domainName('secondary.example.net'),
    });
    template.hasResourceProperties('AWS::Route53::RecordSet', { Type: 'CNAME', ResourceRecords: ['primary.example.net'] });
    template.hasResourceProperties('AWS::Route53::HealthCheck', {
      HealthCheckConfig: Match.objectLike({ FullyQualifiedDomainName: 'primary.example.net', IPAddress: Match.absent() }),
    });
  });

  test('checkSecondary: false leaves the secondary unchecked and warns', () => {
    const { template, dns, stack } = setup({ checkSecondary: false });
    template.resourceCountIs('AWS::Route53::HealthCheck', 1);
    expect(dns.secondaryHealthCheck).toBeUndefined();
    Annotations.fromStack(stack).hasWarning('/Test/Api', Match.stringLikeRegexp('checkSecondary is false'));
    expect(() => dns.metricSecondaryHealthy()).toThrow(/needs a secondary health check; set checkSecondary: true/);
  });

  test('a fully qualified record name in the zone is accepted', () => {
    const { template } = setup({ recordName: 'api.example.com' });
    template.hasResourceProperties('AWS::Route53::RecordSet', { Name: 'api.example.com.' });
  });

  test('recoveryTimeObjective that the model meets synthesizes', () => {
    const { dns } = setup({ recoveryTimeObjective: Duration.seconds(198) });
    expect(dns.worstCaseFailoverTime.toSeconds()).toBe(198);
  });
});

describe('DnsFailover alias endpoints', () => {
  test('load balancer aliases evaluate target health; the primary also gets a check on the target name', () => {
    const stack = new Stack(testApp(), 'Test', { env: { region: 'us-east-1' } });
    const zone = new route53.PublicHostedZone(stack, 'Zone', { zoneName: 'example.com' });
    const [one, two] = albs(stack);
    const dns = new DnsFailover(stack, 'Api', {
      zone,
      recordName: 'api',
      primary: FailoverEndpoint.alias(new targets.LoadBalancerTarget(one)),
      secondary: FailoverEndpoint.alias(new targets.LoadBalancerTarget(two)),
    });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Route53::HealthCheck', 1);
    expect(dns.secondaryHealthCheck).toBeUndefined();
    template.hasResourceProperties('AWS::Route53::HealthCheck', {
      HealthCheckConfig: Match.objectLike({ FullyQualifiedDomainName: 'dualstack.one.us-east-1.elb.amazonaws.com' }),
    });
    template.hasResourceProperties('AWS::Route53::RecordSet', {
      Failover: 'PRIMARY',
      TTL: Match.absent(),
      AliasTarget: { DNSName: 'dualstack.one.us-east-1.elb.amazonaws.com', EvaluateTargetHealth: true, HostedZoneId: 'Z35SXDOTRQ7X7K' },
    });
    // Alias records carry the target's 60 s TTL in the model.
    expect(dns.failoverTimeBreakdown.ttl.toSeconds()).toBe(60);
  });

  test('a CloudFront alias gets its own health check and EvaluateTargetHealth false instead of throwing', () => {
    const stack = new Stack(testApp(), 'Test', { env: { region: 'us-east-1' } });
    const zone = new route53.PublicHostedZone(stack, 'Zone', { zoneName: 'example.com' });
    const distribution = cloudfront.Distribution.fromDistributionAttributes(stack, 'Cdn', {
      distributionId: 'E123EXAMPLE',
      domainName: 'd111111abcdef8.cloudfront.net',
    });
    const [one] = albs(stack);
    const dns = new DnsFailover(stack, 'Api', {
      zone,
      recordName: 'www',
      primary: FailoverEndpoint.alias(new targets.LoadBalancerTarget(one)),
      secondary: FailoverEndpoint.alias(new targets.CloudFrontTarget(distribution)),
    });
    const template = Template.fromStack(stack);
    expect(dns.secondaryHealthCheck).toBeDefined();
    template.hasResourceProperties('AWS::Route53::HealthCheck', {
      HealthCheckConfig: Match.objectLike({ FullyQualifiedDomainName: 'd111111abcdef8.cloudfront.net' }),
    });
    template.hasResourceProperties('AWS::Route53::RecordSet', {
      Failover: 'SECONDARY',
      HealthCheckId: { Ref: Match.stringLikeRegexp('^ApiSecondaryHealthCheck') },
      AliasTarget: Match.objectLike({ DNSName: 'd111111abcdef8.cloudfront.net', EvaluateTargetHealth: false }),
    });
  });

  test('evaluateTargetHealth: false on a load balancer alias switches to an explicit health check', () => {
    const stack = new Stack(testApp(), 'Test', { env: { region: 'us-east-1' } });
    const zone = new route53.PublicHostedZone(stack, 'Zone', { zoneName: 'example.com' });
    const [one, two] = albs(stack);
    new DnsFailover(stack, 'Api', {
      zone,
      recordName: 'api',
      primary: FailoverEndpoint.alias(new targets.LoadBalancerTarget(one), { evaluateTargetHealth: false }),
      secondary: FailoverEndpoint.alias(new targets.LoadBalancerTarget(two), { evaluateTargetHealth: false }),
    });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Route53::HealthCheck', 2);
    template.allResourcesProperties('AWS::Route53::RecordSet', {
      AliasTarget: Match.objectLike({ EvaluateTargetHealth: false }),
      HealthCheckId: Match.anyValue(),
    });
  });

  test('an IP primary may fail over to an alias secondary of the same type', () => {
    const stack = new Stack(testApp(), 'Test', { env: { region: 'us-east-1' } });
    const zone = new route53.PublicHostedZone(stack, 'Zone', { zoneName: 'example.com' });
    const [one] = albs(stack);
    new DnsFailover(stack, 'Api', {
      zone,
      recordName: 'api',
      ttl: Duration.seconds(30),
      primary: FailoverEndpoint.ipAddress('203.0.113.10'),
      secondary: FailoverEndpoint.alias(new targets.LoadBalancerTarget(one)),
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Route53::RecordSet', { Failover: 'PRIMARY', TTL: '30' });
    template.hasResourceProperties('AWS::Route53::RecordSet', { Failover: 'SECONDARY', TTL: Match.absent() });
    Annotations.fromStack(stack).hasWarning('/Test/Api', Match.stringLikeRegexp('applies to the non-alias record only'));
  });
});

describe('DnsFailover metrics', () => {
  test('metricPrimaryHealthy is HealthCheckStatus, Minimum, in us-east-1', () => {
    const { dns, stack } = setup();
    const metric = dns.metricPrimaryHealthy();
    expect(metric.namespace).toBe('AWS/Route53');
    expect(metric.metricName).toBe('HealthCheckStatus');
    expect(metric.statistic).toBe('Minimum');
    expect(metric.region).toBe('us-east-1');
    expect(stack.resolve(metric.dimensions)).toEqual({ HealthCheckId: { Ref: expect.stringMatching(/^ApiPrimaryHealthCheck/) } });
    expect(stack.resolve(dns.metricSecondaryHealthy().dimensions)).toEqual({
      HealthCheckId: { Ref: expect.stringMatching(/^ApiSecondaryHealthCheck/) },
    });
  });

  test('metric options override the defaults', () => {
    const { dns } = setup();
    expect(dns.metricPrimaryHealthy({ period: Duration.seconds(10) }).period.toSeconds()).toBe(10);
  });

  test('latency metrics per checker region when measureLatency is on', () => {
    const { dns, stack } = setup({ healthCheck: { measureLatency: true } });
    const metric = dns.metricPrimaryLatency(LatencyMetric.TIME_TO_FIRST_BYTE, { checkerRegion: 'eu-west-1' });
    expect(metric.metricName).toBe('TimeToFirstByte');
    expect(metric.region).toBe('us-east-1');
    expect(stack.resolve(metric.dimensions)).toEqual({ HealthCheckId: expect.anything(), Region: 'eu-west-1' });
    expect(dns.metricSecondaryLatency(LatencyMetric.SSL_HANDSHAKE_TIME).dimensions!.Region).toBe('us-east-1');
  });

  test('latency metrics refuse when measureLatency is off, for a foreign region, and SSL for HTTP', () => {
    expect(() => setup().dns.metricPrimaryLatency(LatencyMetric.CONNECTION_TIME)).toThrow(/latency metrics need healthCheck.measureLatency: true/);
    const { dns } = setup({ healthCheck: { measureLatency: true, protocol: HealthCheckProtocol.HTTP } });
    expect(() => dns.metricPrimaryLatency(LatencyMetric.CONNECTION_TIME, { checkerRegion: 'sa-east-1' })).toThrow(
      /checkerRegion 'sa-east-1' is not one of this health check's regions \(us-east-1, us-west-2, eu-west-1\)/,
    );
    expect(() => dns.metricPrimaryLatency(LatencyMetric.SSL_HANDSHAKE_TIME)).toThrow(/SSLHandshakeTime exists only for HTTPS/);
  });
});

describe('DnsFailover refuses bad input', () => {
  const cases: Array<[string, Partial<DnsFailoverProps>, RegExp]> = [
    ['fewer than 3 regions', { healthCheck: { regions: ['us-east-1', 'eu-west-1'] } }, /healthCheck.regions must list at least 3 checker regions \(Route 53's minimum\), got 2: \[us-east-1, eu-west-1\]/],
    ['an unknown region', { healthCheck: { regions: ['us-east-1', 'eu-central-1', 'eu-west-1'] } }, /healthCheck.regions: 'eu-central-1' is not a Route 53 checker region \(allowed: us-east-1, us-west-1/],
    ['a repeated region', { healthCheck: { regions: ['us-east-1', 'us-east-1', 'eu-west-1'] } }, /healthCheck.regions: 'us-east-1' is listed twice/],
    ['a 15 s interval', { healthCheck: { interval: Duration.seconds(15) } }, /healthCheck.interval must be 10 or 30 seconds .*got 15 seconds/],
    ['a 1 minute interval', { healthCheck: { interval: Duration.minutes(1) } }, /got 60 seconds/],
    ['threshold 0', { healthCheck: { failureThreshold: 0 } }, /healthCheck.failureThreshold must be an integer between 1 and 10 \(Route 53's limit\), got 0/],
    ['threshold 20', { healthCheck: { failureThreshold: 20 } }, /failureThreshold .* got 20/],
    ['threshold 2.5', { healthCheck: { failureThreshold: 2.5 } }, /failureThreshold .* got 2.5/],
    ['a 256-character search string', { healthCheck: { searchString: 'x'.repeat(256) } }, /healthCheck.searchString must be 1 to 255 characters \(Route 53's limit\), got 256/],
    ['an empty search string', { healthCheck: { searchString: '' } }, /searchString must be 1 to 255 characters .* got 0/],
    ['a search string with TCP', { healthCheck: { protocol: HealthCheckProtocol.TCP, port: 443, searchString: 'ok' } }, /healthCheck.searchString cannot be used with protocol TCP/],
    ['a 256-character path', { healthCheck: { path: '/' + 'p'.repeat(255) } }, /healthCheck.path must be at most 255 characters \(Route 53's limit\), got 256/],
    ['a path with TCP', { healthCheck: { protocol: HealthCheckProtocol.TCP, port: 443, path: '/health' } }, /healthCheck.path cannot be used with protocol TCP \(got '\/health'\)/],
    ['a path without a leading slash', { healthCheck: { path: 'health' } }, /healthCheck.path must start with '\/', got 'health'/],
    ['port 0', { healthCheck: { port: 0 } }, /healthCheck.port must be an integer between 1 and 65535, got 0/],
    ['port 65536', { healthCheck: { port: 65536 } }, /healthCheck.port .* got 65536/],
    ['TCP without a port', { healthCheck: { protocol: HealthCheckProtocol.TCP } }, /healthCheck.port is required with protocol TCP/],
    ['enableSni with HTTP', { healthCheck: { protocol: HealthCheckProtocol.HTTP, enableSni: true } }, /healthCheck.enableSni applies to HTTPS checks only, but protocol is HTTP/],
    ['the same endpoint twice', { secondary: FailoverEndpoint.ipAddress('203.0.113.10') }, /primary and secondary are the same endpoint \(A 203.0.113.10\)/],
    ['the same host name twice, differing in case', { primary: FailoverEndpoint.domainName('a.example.net'), secondary: FailoverEndpoint.domainName('A.example.net.') }, /same endpoint/],
    ['IPv4 paired with a CNAME', { secondary: FailoverEndpoint.domainName('backup.example.net') }, /primary \(A 203.0.113.10\) and secondary \(CNAME backup.example.net\) cannot pair: .* got A and CNAME/],
    ['IPv4 paired with IPv6', { secondary: FailoverEndpoint.ipAddress('2001:db8::1') }, /got A and AAAA/],
    ['an absolute record name outside the zone', { recordName: 'api.example.org.' }, /recordName 'api.example.org.' is outside the hosted zone 'example.com'/],
    ['a dotted record name outside the zone', { recordName: 'api.example.org' }, /recordName 'api.example.org' is outside the hosted zone 'example.com'; give a name in the zone, either relative \('api'\) or fully qualified \('api.example.com'\)/],
    ['a CNAME at the apex', { recordName: 'example.com', primary: FailoverEndpoint.domainName('a.example.net'), secondary: FailoverEndpoint.domainName('b.example.net') }, /zone apex, which cannot hold a CNAME/],
    ['a fractional TTL', { ttl: Duration.millis(1500) }, /ttl must be a whole number of seconds/],
    ['an exceeded recovery-time objective', { recoveryTimeObjective: Duration.minutes(2) }, /recoveryTimeObjective 120 s is exceeded: worst-case failover is 108 s detection \+ 30 s propagation allowance \+ 60 s TTL = 198 s/],
  ];
  test.each(cases)('refuses %s', (_name, overrides, message) => {
    expect(() => setup(overrides)).toThrow(message);
  });

  test('refuses a TTL when both endpoints are aliases', () => {
    const stack = new Stack(testApp(), 'Test', { env: { region: 'us-east-1' } });
    const zone = new route53.PublicHostedZone(stack, 'Zone', { zoneName: 'example.com' });
    const [one, two] = albs(stack);
    expect(
      () =>
        new DnsFailover(stack, 'Api', {
          zone,
          recordName: 'api',
          ttl: Duration.seconds(30),
          primary: FailoverEndpoint.alias(new targets.LoadBalancerTarget(one)),
          secondary: FailoverEndpoint.alias(new targets.LoadBalancerTarget(two)),
        }),
    ).toThrow(/ttl cannot be set when both endpoints are aliases \(got 30 seconds\)/);
  });

  test('refuses the same alias target twice', () => {
    const stack = new Stack(testApp(), 'Test', { env: { region: 'us-east-1' } });
    const zone = new route53.PublicHostedZone(stack, 'Zone', { zoneName: 'example.com' });
    const target = new targets.LoadBalancerTarget(albs(stack)[0]);
    expect(
      () => new DnsFailover(stack, 'Api', { zone, recordName: 'api', primary: FailoverEndpoint.alias(target), secondary: FailoverEndpoint.alias(target) }),
    ).toThrow(/same alias target/);
  });

  test('skips value checks for tokens, and takes a hidden threshold at its worst in the model', () => {
    const stack = new Stack(testApp(), 'Test', { env: { region: 'us-east-1' } });
    const port = new CfnParameter(stack, 'PortParam', { type: 'Number' }).valueAsNumber;
    const threshold = new CfnParameter(stack, 'T', { type: 'Number' }).valueAsNumber;
    const ip = new CfnParameter(stack, 'PrimaryIp').valueAsString;
    const dns = new DnsFailover(stack, 'Api', {
      zone: new route53.PublicHostedZone(stack, 'Zone', { zoneName: 'example.com' }),
      recordName: 'api',
      primary: FailoverEndpoint.ipAddress(ip),
      secondary: FailoverEndpoint.ipAddress('198.51.100.10'),
      healthCheck: { port, failureThreshold: threshold },
    });
    expect(Token.isUnresolved(port)).toBe(true);
    Template.fromStack(stack).hasResourceProperties('AWS::Route53::HealthCheck', {
      HealthCheckConfig: Match.objectLike({ Port: { Ref: 'PortParam' }, IPAddress: { Ref: 'PrimaryIp' } }),
    });
    expect(dns.failoverTimeBreakdown.detection.toSeconds()).toBe(10 * (30 + 6));
  });
});
