// Every `npx failover ...` line of every example runbook parses with the CLI's own option
// definitions (lib/cli/ops.ts, lib/cli/backup.ts, lib/cli/promote.ts), and targets the stack, region and construct the runbook is about.
import { Stack } from 'aws-cdk-lib';
import { addExampleStacks } from '../../examples/all';
import { findFailoverConstructs, renderStackRunbook } from '../../lib/runbook';
import { DnsFailover, PatroniCluster } from '../../lib';
import { testApp } from '../app';
import { failoverLines, parse, Parsed } from './cli-parse';
import { shellWords } from './markdown-support';

jest.setTimeout(60_000);

/** Values for the shell variables the runbooks' CLI lines use. */
const VARS = { OLD_LEADER: 'some-member', AWS_REGION: 'eu-central-1', PRIMARY_STACK: 'ThePrimaryStack', PRIMARY_REGION: 'us-east-1' };

const app = testApp();
addExampleStacks(app);
const stacks = app.node.children.filter((c): c is Stack => c instanceof Stack);
const cases = stacks.map((s) => [s.stackName, s, renderStackRunbook(s)] as const);

describe.each(cases)('CLI lines of the %s runbook', (_name, stack, markdown) => {
  const found = findFailoverConstructs(stack);
  const dnsFailovers = found.dnsFailovers.filter((d): d is DnsFailover => d instanceof DnsFailover);
  const clusters = found.clusters.filter((c): c is PatroniCluster => c instanceof PatroniCluster);
  const lines = failoverLines(markdown);

  test('are there for every construct', () => {
    if (dnsFailovers.length + clusters.length === 0) {
      expect(lines).toEqual([]);
      return;
    }
    for (const c of [...dnsFailovers, ...clusters]) {
      expect(lines.some((l) => l.includes(`--construct ${c.node.path}`))).toBe(true);
    }
  });

  test('parse with the CLI\'s options and name this stack, its region and one of its constructs', () => {
    const paths = [...dnsFailovers, ...clusters].map((c) => c.node.path);
    for (const line of lines) {
      const words = shellWords(line, VARS);
      expect(words.slice(0, 2)).toEqual(['npx', 'failover']);
      let parsed: Parsed;
      try {
        parsed = parse(words.slice(2));
      } catch (err) {
        throw new Error(`${line}\n  does not parse: ${(err as Error).message}`, { cause: err });
      }
      expect(['status', 'switchover', 'drill', 'backup', 'backup list', 'promote']).toContain(parsed.command);
      expect(parsed.opts).toMatchObject({ stack: stack.stackName, region: stack.region });
      expect(paths).toContain(parsed.opts.construct);
      const cluster = clusters.find((c) => c.node.path === parsed.opts.construct);
      if (parsed.command === 'promote') {
        // Run Command too, and only a standby's runbook has it, naming its primary's stack.
        expect(cluster?.primaryClusterName).toBeDefined();
        expect(parsed.opts).toMatchObject({ primaryStack: VARS.PRIMARY_STACK, primaryRegion: VARS.PRIMARY_REGION });
      } else if (parsed.command.startsWith('backup')) {
        // Run Command on the nodes: no forwarded REST API, and only a cluster with backups has the commands.
        expect(cluster?.backupBucket).toBeDefined();
        expect(parsed.opts.patroniUrl).toBeUndefined();
      } else if (cluster) {
        // The examples run TLS (the default): https, and the operator secret's file.
        expect(parsed.opts.patroniUrl).toEqual(cluster.nodes.map((_, i) => `https://127.0.0.1:${18008 + i}`));
        expect(parsed.opts.tlsSecretFile).toBe('operator-tls.json');
      } else {
        expect(parsed.opts.patroniUrl).toBeUndefined();
      }
    }
  });
});

test('the parser used here refuses what the CLI refuses', () => {
  expect(() => parse(['status', '--stack', 'S', '--no-such-flag'])).toThrow(/unknown option/);
  expect(() => parse(['drill', 'everything', '--stack', 'S'])).toThrow(/'everything' is invalid for argument 'kind'/);
  expect(() => parse(['status', '--patroni-url', 'not-a-url'])).toThrow(/not a base URL/);
  expect(parse(['drill', 'db', '--stack', 'S', '--dry-run'])).toMatchObject({ command: 'drill', args: ['db'], opts: { stack: 'S', dryRun: true } });
});
