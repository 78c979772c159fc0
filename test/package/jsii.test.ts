// The construct library compiles with jsii (the release line of the pinned TypeScript), jsii-pacmak
// generates its Python sources, and API.md is what jsii-docgen makes of the TSDoc now.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildJsiiProject, generateApiReference, generatePython, ROOT, type JsiiProject } from '../../bin/jsii-project';

describe('the construct library for jsii', () => {
  let project: JsiiProject;

  beforeAll(async () => {
    project = await buildJsiiProject();
  }, 600_000);

  afterAll(() => project?.remove());

  test('the assembly holds the constructs, their interfaces, props and choices', () => {
    const types = Object.keys(project.assembly.types);
    expect(types).toEqual(
      expect.arrayContaining(
        ['DnsFailover', 'IDnsFailover', 'PatroniCluster', 'IPatroniCluster', 'FailoverAlarms', 'AlarmOverrides', 'NodeGauge', 'PatroniTiming', 'Runbooks'].map(
          (t) => `cdk-failover.${t}`,
        ),
      ),
    );
    expect(project.assembly.types['cdk-failover.IPatroniCluster']!.kind).toBe('interface');
    expect(project.assembly.types['cdk-failover.PatroniClusterProps']!.kind).toBe('interface');
  });

  test('the runtime (client, ops, local cluster) is not in it', () => {
    const types = Object.keys(project.assembly.types);
    expect(types.filter((t) => /FailoverPool|LocalCluster|PatroniClient|Route53Drill/.test(t))).toEqual([]);
  });

  test('jsii-pacmak generates the Python package sources', async () => {
    const python = await generatePython(project);
    const init = fs.readFileSync(path.join(python, 'src/cdk_failover/__init__.py'), 'utf8');
    expect(init).toMatch(/^class PatroniCluster\(/m);
    expect(init).toMatch(/^class IPatroniCluster\(/m);
  }, 600_000);

  test('API.md is up to date (npm run api-docs)', async () => {
    const generated = await generateApiReference(project);
    expect(generated === fs.readFileSync(path.join(ROOT, 'API.md'), 'utf8')).toBe(true);
  }, 600_000);
});
