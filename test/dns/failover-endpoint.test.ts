import { Stack } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import { FailoverEndpoint } from '../../lib';
import { isNonRoutable } from '../../lib/dns/ip-address';

describe('FailoverEndpoint.ipAddress', () => {
  test('IPv4 makes an A record, IPv6 an AAAA record', () => {
    expect(FailoverEndpoint.ipAddress('203.0.113.10').recordType).toBe(route53.RecordType.A);
    expect(FailoverEndpoint.ipAddress('2600:1f18::1').recordType).toBe(route53.RecordType.AAAA);
  });

  test.each([
    ['10.0.0.5'],
    ['172.16.3.4'],
    ['172.31.255.255'],
    ['192.168.1.1'],
    ['127.0.0.1'],
    ['169.254.169.254'],
    ['100.64.0.1'],
    ['0.0.0.0'],
    ['224.0.0.1'],
    ['::1'],
    ['fe80::1'],
    ['fd12:3456::1'],
    ['::ffff:10.1.2.3'],
  ])('refuses the non-routable address %s, saying why', (ip) => {
    expect(() => FailoverEndpoint.ipAddress(ip)).toThrow(
      new RegExp(`FailoverEndpoint.ipAddress: '${ip.replace(/\./g, '\\.')}' is a private, loopback, link-local or otherwise non-routable address; Route 53 health checkers`),
    );
  });

  test.each([['172.32.0.1'], ['8.8.8.8'], ['198.51.100.10'], ['2001:db8::1']])('accepts the routable address %s', (ip) => {
    expect(isNonRoutable(ip)).toBe(false);
    expect(FailoverEndpoint.ipAddress(ip).value).toBe(ip);
  });

  test.each([['203.0.113'], ['api.example.com'], ['256.1.1.1'], ['']])('refuses %p, which is not an IP address', (value) => {
    expect(() => FailoverEndpoint.ipAddress(value)).toThrow(/is not an IPv4 or IPv6 address/);
  });
});

describe('FailoverEndpoint.domainName', () => {
  test('makes a CNAME record', () => {
    const endpoint = FailoverEndpoint.domainName('backup.example.net');
    expect(endpoint.recordType).toBe(route53.RecordType.CNAME);
    expect(endpoint.isIpAddress).toBe(false);
  });

  test.each([['localhost'], ['-bad.example.com'], ['a..b.com'], ['has space.example.com'], [`${'a'.repeat(64)}.example.com`], [`${'a.'.repeat(127)}com`]])(
    'refuses %p',
    (name) => {
      expect(() => FailoverEndpoint.domainName(name)).toThrow(/FailoverEndpoint.domainName: .* is not a fully qualified host name/);
    },
  );
});

describe('FailoverEndpoint.alias', () => {
  const stack = new Stack();
  const distribution = cloudfront.Distribution.fromDistributionAttributes(stack, 'Cdn', {
    distributionId: 'E123EXAMPLE',
    domainName: 'd111111abcdef8.cloudfront.net',
  });

  test('CloudFront targets do not evaluate target health by default', () => {
    const endpoint = FailoverEndpoint.alias(new targets.CloudFrontTarget(distribution));
    expect(endpoint.evaluateTargetHealth).toBe(false);
    expect(endpoint.isAlias).toBe(true);
  });

  test('refuses evaluateTargetHealth: true for CloudFront', () => {
    expect(() => FailoverEndpoint.alias(new targets.CloudFrontTarget(distribution), { evaluateTargetHealth: true })).toThrow(
      /evaluateTargetHealth cannot be true for a CloudFront or API Gateway target/,
    );
  });

  test('refuses a CNAME alias', () => {
    expect(() => FailoverEndpoint.alias(new targets.CloudFrontTarget(distribution), { recordType: route53.RecordType.CNAME })).toThrow(
      /recordType must be A or AAAA, got CNAME/,
    );
  });
});
