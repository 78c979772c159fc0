process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
import { GetHealthCheckCommand, GetHealthCheckStatusCommand, UpdateHealthCheckCommand } from '@aws-sdk/client-route-53';
import { runDrills, type DrillReport } from '../../lib/ops/drill-runner';
import { dnsDrillCase, Route53Drill, classify } from '../../lib/ops/route53-drill';
import { FakeRoute53, NAME_SERVERS, PRIMARY_IP, SECONDARY_IP, TARGET } from './fake-route53';

const FAST = { pollIntervalMs: 5, answerTimeoutMs: 2000 };

async function drill(fake: FakeRoute53, options: { dryRun?: boolean; signal?: AbortSignal; answerTimeoutMs?: number } = {}): Promise<DrillReport> {
  const lines: string[] = [];
  const report = await runDrills([dnsDrillCase({ route53: fake.client, target: TARGET, dns: fake.dns, ...FAST, ...(options.answerTimeoutMs ? { answerTimeoutMs: options.answerTimeoutMs } : {}) })], {
    environment: 'test',
    dryRun: options.dryRun,
    signal: options.signal,
    log: (l) => lines.push(l),
  });
  return report;
}

describe('Route 53 drill against aws-sdk-client-mock', () => {
  test('happy path: forces the primary unhealthy, sees the secondary everywhere, restores the original switch, sees the primary again', async () => {
    const fake = new FakeRoute53();
    const report = await drill(fake);
    const t = report.tests[0]!;
    expect(t.error).toBeUndefined();
    expect(t.status).toBe('passed');
    expect(t.phases.map((p) => `${p.name}:${p.status}`)).toEqual(['setup:passed', 'execute:passed', 'verify:passed', 'cleanup:passed']);
    expect(fake.updateCalls()).toEqual([
      { HealthCheckId: 'hc-primary', HealthCheckVersion: 7, Disabled: true, Inverted: true },
      { HealthCheckId: 'hc-primary', HealthCheckVersion: 8, Disabled: false, Inverted: false },
    ]);
    expect(fake.forced).toBe(false);
    const verified = t.checks.filter((c) => c.phase === 'verify').map((c) => c.name);
    expect(verified).toEqual([
      'TestDNSAnswer answers the secondary',
      `name server ${NAME_SERVERS[0]} answers the secondary`,
      `name server ${NAME_SERVERS[1]} answers the secondary`,
      'the primary health check reads Disabled + Inverted',
    ]);
    expect(t.checks.every((c) => c.passed)).toBe(true);
    // The name servers were asked directly, at the addresses their names resolve to.
    expect(new Set(fake.dns.asked.map((a) => a.server))).toEqual(new Set(['192.0.2.101', '192.0.2.102']));
    expect(fake.dns.asked.every((a) => a.name === 'api.example.com' && a.type === 'A')).toBe(true);
    expect(t.measurements).toEqual(
      expect.objectContaining({ force_to_secondary_seconds: expect.any(Number), restore_to_primary_seconds: expect.any(Number), model_worst_case_failover_seconds: 162 }),
    );
    expect(report).toMatchObject({ total_tests: 1, passed: 1, failed: 0, skipped: 0, environment: 'test' });
  });

  test('a failure during execute (the answer never moves) still restores the check with its original values', async () => {
    const fake = new FakeRoute53();
    fake.stuck = true;
    const report = await drill(fake, { answerTimeoutMs: 100 });
    const t = report.tests[0]!;
    expect(t.status).toBe('failed');
    expect(t.phases.map((p) => `${p.name}:${p.status}`)).toEqual(['setup:passed', 'execute:failed', 'verify:skipped', 'cleanup:passed']);
    expect(t.phases[1]!.error).toMatch(/timed out after .* waiting for the secondary's answer for api\.example\.com \(last: TestDNSAnswer primary \(203\.0\.113\.10\)/);
    const calls = fake.updateCalls();
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual({ HealthCheckId: 'hc-primary', HealthCheckVersion: 8, Disabled: false, Inverted: false });
    expect(fake.forced).toBe(false);
  });

  test('Ctrl-C while waiting for the secondary stops the wait and cleanup restores the check', async () => {
    const fake = new FakeRoute53();
    fake.stuck = true;
    const controller = new AbortController();
    fake.mock.on(UpdateHealthCheckCommand).callsFake((input) => {
      // Let the real fake apply it, then interrupt the wait that follows.
      fake.disabled = input.Disabled;
      fake.inverted = input.Inverted;
      fake.version++;
      if (input.Disabled) setTimeout(() => controller.abort(), 30);
      return { HealthCheck: { Id: 'hc-primary', CallerReference: 'x', HealthCheckVersion: fake.version, HealthCheckConfig: { Type: 'HTTPS', Disabled: fake.disabled, Inverted: fake.inverted } } };
    });
    fake.stuck = false;
    fake.propagationLooks = 1_000_000; // the answer will not move before the interrupt
    const started = Date.now();
    const report = await runDrills([dnsDrillCase({ route53: fake.client, target: TARGET, dns: fake.dns, pollIntervalMs: 5, answerTimeoutMs: 60_000 })], {
      environment: 'test',
      signal: controller.signal,
    });
    const t = report.tests[0]!;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(report.interrupted).toBe(true);
    expect(t.phases[1]).toMatchObject({ name: 'execute', status: 'failed', error: expect.stringMatching(/^interrupted/) });
    expect(fake.updateCalls().map((c) => [c.Disabled, c.Inverted])).toEqual([
      [true, true],
      [false, false],
    ]);
    expect(t.phases[2]!.status).toBe('skipped');
    expect(t.phases[3]!.status).toBe('passed');
    expect(fake.forced).toBe(false);
  }, 20_000);

  test('a cleanup that cannot restore says how to restore by hand', async () => {
    const fake = new FakeRoute53();
    fake.stuck = true;
    let updates = 0;
    fake.mock.on(UpdateHealthCheckCommand).callsFake((input) => {
      updates++;
      if (updates > 1) throw Object.assign(new Error('User is not authorized to perform route53:UpdateHealthCheck'), { name: 'AccessDenied', $metadata: {} });
      fake.disabled = input.Disabled;
      fake.inverted = input.Inverted;
      fake.version++;
      return { HealthCheck: { Id: 'hc-primary', CallerReference: 'x', HealthCheckVersion: fake.version, HealthCheckConfig: { Type: 'HTTPS' } } };
    });
    const report = await drill(fake, { answerTimeoutMs: 50 });
    expect(report.tests[0]!.phases[3]!.error).toBe(
      'could not restore hc-primary (AccessDenied: User is not authorized to perform route53:UpdateHealthCheck); restore it by hand: ' +
        'aws route53 update-health-check --health-check-id hc-primary --no-disabled --no-inverted',
    );
  });

  test('HealthCheckVersion mismatch: reads the check again and retries once', async () => {
    const fake = new FakeRoute53();
    fake.mismatches = 1;
    const report = await drill(fake);
    expect(report.tests[0]!.status).toBe('passed');
    expect(fake.updateCalls().map((c) => c.HealthCheckVersion)).toEqual([7, 8, 9]);
    expect(fake.updateCalls()[1]).toEqual({ HealthCheckId: 'hc-primary', HealthCheckVersion: 8, Disabled: true, Inverted: true });
    // Re-read between the mismatch and the retry.
    const reads = fake.mock.commandCalls(GetHealthCheckCommand).length;
    expect(reads).toBeGreaterThanOrEqual(3);
  });

  test('a second mismatch in a row fails the execute phase with the error, and cleanup finds nothing to restore', async () => {
    const fake = new FakeRoute53();
    fake.mismatches = 2;
    const report = await drill(fake);
    const t = report.tests[0]!;
    expect(t.status).toBe('failed');
    expect(t.phases[1]!.error).toMatch(/^HealthCheckVersionMismatch: /);
    expect(fake.updateCalls()).toHaveLength(2);
    expect(t.phases[3]!.status).toBe('passed');
    expect(fake.forced).toBe(false);
  });

  test('--dry-run prints the plan and makes no mutating call', async () => {
    const fake = new FakeRoute53();
    const report = await drill(fake, { dryRun: true });
    const t = report.tests[0]!;
    expect(t.status).toBe('skipped');
    expect(report.dry_run).toBe(true);
    expect(fake.mock.commandCalls(UpdateHealthCheckCommand)).toHaveLength(0);
    const called = fake.mock.calls().map((c) => (c.args[0] as object).constructor.name);
    expect(called.every((n) => /^(Get|List|Test)/.test(n))).toBe(true);
    expect(t.plan!.join('\n')).toContain('UpdateHealthCheck hc-primary Disabled=true Inverted=true HealthCheckVersion=7');
    expect(t.plan!.join('\n')).toContain('Disabled=false Inverted=false with the version then current');
  });

  test('refuses to drill a check that is already forced, and does not "restore" it to forced', async () => {
    const fake = new FakeRoute53();
    fake.disabled = true;
    fake.inverted = true;
    fake.propagationLooks = 0;
    const report = await drill(fake);
    const t = report.tests[0]!;
    expect(t.status).toBe('failed');
    expect(t.phases[0]!.error).toMatch(/the primary health check is not already forced/);
    expect(fake.updateCalls()).toHaveLength(0);
  });

  test('setup fails when the secondary is unhealthy in Route 53\'s eyes', async () => {
    const fake = new FakeRoute53();
    fake.mock.on(GetHealthCheckStatusCommand, { HealthCheckId: 'hc-secondary' }).callsFake(() => ({
      HealthCheckObservations: ['us-east-1', 'eu-west-1', 'us-west-2'].map((Region) => ({ Region, StatusReport: { Status: 'Failure: Connection timed out' } })),
    }));
    const report = await drill(fake);
    expect(report.tests[0]!.phases[0]!.error).toMatch(/secondary health check hc-secondary is healthy \(0% of checkers healthy/);
    expect(fake.updateCalls()).toHaveLength(0);
  });

  test('classifies answers by the records of each side', () => {
    const expected = { primary: new Set([PRIMARY_IP]), secondary: new Set([SECONDARY_IP]) };
    expect(classify([PRIMARY_IP], expected)).toBe('primary');
    expect(classify([SECONDARY_IP], expected)).toBe('secondary');
    expect(classify([PRIMARY_IP, SECONDARY_IP], expected)).toBe('unknown');
    expect(classify([], expected)).toBe('none');
  });

  test('reports each checker region and Route 53\'s 18% rule', async () => {
    const fake = new FakeRoute53();
    const d = new Route53Drill({ route53: fake.client, target: TARGET, dns: fake.dns });
    const s = await d.checkerStatus('hc-primary');
    expect(s.observations.map((o) => o.region)).toEqual(['eu-west-1', 'us-east-1', 'us-west-2']);
    expect(s).toMatchObject({ healthy: true, healthyFraction: 1 });
  });
});

