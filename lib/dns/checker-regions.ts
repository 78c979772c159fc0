/** The regions Route 53 health checkers run in (Route 53 API reference, HealthCheckConfig.Regions). */
export const ROUTE53_CHECKER_REGIONS: readonly string[] = [
  'us-east-1',
  'us-west-1',
  'us-west-2',
  'eu-west-1',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-northeast-1',
  'sa-east-1',
];

/** Route 53 refuses fewer checker regions than this. */
export const MIN_CHECKER_REGIONS = 3;

/** Three regions on three continents: one regional outage cannot mark a healthy endpoint down. */
export const DEFAULT_CHECKER_REGIONS: readonly string[] = ['us-east-1', 'us-west-2', 'eu-west-1'];
