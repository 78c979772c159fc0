// PyYAML, the parser Patroni uses, reads the rendered patroni.yml.
import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'yaml';
import { renderPatroniConfig } from '../../../lib/patroni/config';
import { DEFAULT_TIMING, FAST_TIMING } from '../../../lib/patroni/config/timing-profiles';
import { ec2Spec, makeTmpDir, removeTmpDir, run } from './fixtures';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Yaml = any;

function parse11(text: string): Yaml {
  return parse(text, { version: '1.1' });
}

describe('renderPatroniConfig, read by PyYAML', () => {
  test('PyYAML (what Patroni reads) sees exactly what the yaml package sees', async () => {
    const dir = makeTmpDir('pyyaml');
    try {
      for (const watchdogMode of ['required', 'automatic', 'off'] as const) {
        const text = renderPatroniConfig(
          ec2Spec({ watchdogMode, postgresParameters: { jit: 'off', log_connections: 'on', track_io_timing: 'yes', work_mem: '4MB' } }),
          'pg-0',
        );
        const file = path.join(dir, `${watchdogMode}.yml`);
        fs.writeFileSync(file, text);
        const py = await run('/usr/bin/python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', file]);
        expect(py.stderr).toBe('');
        expect(JSON.parse(py.stdout)).toEqual(parse11(text));
      }
    } finally {
      removeTmpDir(dir);
    }
  });

  test('PyYAML reads back strings that YAML 1.1 would otherwise type (passwords, parameters)', async () => {
    const tricky = ['off', 'On', 'YES', 'n', 'y', '~', 'null', '1_000', '0x1F', '0o17', '012', '0b101', '1:20', '190:20:30.15', '1e3', '.5',
      '.inf', '.NaN', '2001-12-14', '2001-12-14 21:59:43.10 -5', '=', '<<', '-', '? x', '!x', '&a', '*a', '"', "'", '#x', ' lead', 'trail ',
      'a: b', '%x', '@x', '`x', '{x}', '[x]', 'a\\b', 'é', 'line\nbreak', ''];
    const dir = makeTmpDir('pyyaml-tricky');
    try {
      const spec = ec2Spec();
      const file = path.join(dir, 'tricky.yml');
      const params = Object.fromEntries(tricky.map((v, i) => [`custom.p${i}`, v]));
      const text = renderPatroniConfig(
        ec2Spec({ postgresParameters: params, credentials: { ...spec.credentials, superuser: { username: 'postgres', password: tricky.join('|') } } }),
        'pg-0',
      );
      fs.writeFileSync(file, text);
      const py = await run('/usr/bin/python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', file]);
      expect(py.stderr).toBe('');
      const read = JSON.parse(py.stdout);
      expect(read.postgresql.authentication.superuser.password).toBe(tricky.join('|'));
      for (const [name, value] of Object.entries(params)) {
        expect({ name, value: read.bootstrap.dcs.postgresql.parameters[name] }).toEqual({ name, value });
      }
    } finally {
      removeTmpDir(dir);
    }
  });

  test.each([
    ['DEFAULT', DEFAULT_TIMING, { timeout: 25, slack: 15 }],
    ['FAST', FAST_TIMING, { timeout: 5, slack: 4 }],
  ] as const)("Patroni 3.0.2's own WatchdogConfig reads the rendered %s patroni.yml: the watchdog's timeout and slack", async (_name, timing, expected) => {
    const dir = makeTmpDir('watchdog');
    try {
      const file = path.join(dir, 'patroni.yml');
      fs.writeFileSync(file, renderPatroniConfig(ec2Spec({ timing, watchdogMode: 'required' }), 'pg-0'));
      // Patroni merges bootstrap.dcs into the configuration it hands the watchdog.
      const script = [
        'import json, sys, yaml',
        'from patroni.watchdog.base import WatchdogConfig',
        'c = yaml.safe_load(open(sys.argv[1]))',
        "w = WatchdogConfig({'ttl': c['bootstrap']['dcs']['ttl'], 'loop_wait': c['bootstrap']['dcs']['loop_wait'], 'watchdog': c['watchdog']})",
        "print(json.dumps({'timeout': w.timeout, 'slack': w.timing_slack}))",
      ].join('\n');
      const py = await run('/usr/bin/python3', ['-c', script, file]);
      expect(py.stderr).toBe('');
      expect(JSON.parse(py.stdout)).toEqual(expected);
    } finally {
      removeTmpDir(dir);
    }
  });
});
