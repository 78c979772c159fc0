// The local cluster refuses a Patroni that would not run the declared timing: this machine's
// (Debian 12's 3.0.2) runs FAST as declared; a stand-in printing a later version is refused.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkPatroniTiming } from '../../lib/local/patroni-version';
import { DEFAULT_TIMING, FAST_TIMING } from '../../lib/patroni/config/timing-profiles';

describe('checkPatroniTiming', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdkf-patroni-version-'));
    fs.writeFileSync(path.join(dir, 'patroni'), '#!/bin/sh\necho patroni 4.0.0\n', { mode: 0o755 });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const withStandIn = () => ({ ...process.env, PATH: `${dir}:${process.env.PATH}` });

  test("Debian 12's Patroni 3.0.2 runs FAST and DEFAULT as declared", async () => {
    await expect(checkPatroniTiming(FAST_TIMING)).resolves.toBeUndefined();
    await expect(checkPatroniTiming(DEFAULT_TIMING)).resolves.toBeUndefined();
  });

  test('Patroni 4.0.0 would raise FAST: refused with the values; DEFAULT is at its minimums', async () => {
    await expect(checkPatroniTiming(FAST_TIMING, withStandIn())).rejects.toThrow(
      /^Patroni 4\.0\.0 raises timing values to its minimums \(since 3\.2\.0: ttl 7 < 20\), so the declared ttl 7 \/ loop_wait 1 \/ retry_timeout 3 would not be what runs/,
    );
    await expect(checkPatroniTiming(DEFAULT_TIMING, withStandIn())).resolves.toBeUndefined();
  });

  test('a patroni that fails (its error names versions) is refused, not read as a version', async () => {
    const broken = path.join(dir, 'broken');
    fs.mkdirSync(broken);
    fs.writeFileSync(path.join(broken, 'patroni'), "#!/bin/sh\necho \"The 'python-etcd<0.5,>=0.4.3' distribution was not found\" >&2\nexit 1\n", { mode: 0o755 });
    await expect(checkPatroniTiming(FAST_TIMING, { ...process.env, PATH: `${broken}:${process.env.PATH}` })).rejects.toThrow(/^cannot read the version of Patroni from /);
  });

  test('no patroni at all is refused, not passed', async () => {
    await expect(checkPatroniTiming(FAST_TIMING, { PATH: dir.replace(/$/, '/nosuch') })).rejects.toThrow(/^cannot read the version of Patroni from .*No such file or directory/);
  });
});
