// systemd's own checker reads the rendered units.
import * as fs from 'fs';
import * as path from 'path';
import { renderPatroniUnit, renderSystemdUnitFiles } from '../../../lib/patroni/config';
import { ec2Spec, makeTmpDir, removeTmpDir, run } from './fixtures';

describe('systemd units, checked by systemd 252', () => {
  const spec = ec2Spec();

  test('systemd-analyze verify finds nothing to say, and does speak up about a bad unit', async () => {
    const dir = makeTmpDir('units');
    try {
      const files = renderSystemdUnitFiles(spec, 'pg-0').map((f) => {
        const file = path.join(dir, path.basename(f.path));
        fs.writeFileSync(file, f.content);
        return file;
      });
      const verify = await run('systemd-analyze', ['verify', ...files], { timeoutMs: 60_000 });
      expect({ code: verify.code, stderr: verify.stderr, stdout: verify.stdout }).toEqual({ code: 0, stderr: '', stdout: '' });

      const bad = path.join(dir, 'cdk-failover-bad.service');
      fs.writeFileSync(bad, renderPatroniUnit(spec, 'pg-0').replace('KillMode=process', 'KilMode=process'));
      const complaint = await run('systemd-analyze', ['verify', bad], { timeoutMs: 60_000 });
      expect(complaint.stderr).toContain("Unknown key 'KilMode'");
    } finally {
      removeTmpDir(dir);
    }
  }, 120_000);
});
