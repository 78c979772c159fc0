// systemd's own checker reads the rendered units.
import * as fs from 'fs';
import * as path from 'path';
import { renderPatroniUnit, renderSystemdUnitFiles } from '../../../lib/patroni/config';
import { BACKUP_SPEC, ec2Spec, makeTmpDir, removeTmpDir, run } from './fixtures';

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

  test('the backup timers and their service template pass systemd-analyze verify and calendar', async () => {
    const dir = makeTmpDir('backup-units');
    try {
      const files = renderSystemdUnitFiles(ec2Spec({ backup: BACKUP_SPEC }), 'pg-0')
        .filter((f) => f.path.includes('backup'))
        .map((f) => {
          const file = path.join(dir, path.basename(f.path));
          fs.writeFileSync(file, f.content);
          return file;
        });
      expect(files.map((f) => path.basename(f)).sort()).toEqual(['cdk-failover-backup-diff.timer', 'cdk-failover-backup-full.timer', 'cdk-failover-backup@.service']);
      // A template is verified through an instance name.
      fs.copyFileSync(path.join(dir, 'cdk-failover-backup@.service'), path.join(dir, 'cdk-failover-backup@full.service'));
      const verify = await run('systemd-analyze', ['verify', ...files.filter((f) => f.endsWith('.timer')), path.join(dir, 'cdk-failover-backup@full.service')], { timeoutMs: 60_000 });
      expect({ code: verify.code, stderr: verify.stderr }).toEqual({ code: 0, stderr: '' });
      for (const expression of Object.values(BACKUP_SPEC.schedules)) {
        const calendar = await run('systemd-analyze', ['calendar', expression], { timeoutMs: 30_000 });
        expect({ expression, code: calendar.code }).toEqual({ expression, code: 0 });
      }
      const badCalendar = await run('systemd-analyze', ['calendar', 'Sun *-*-* 25:00:00 UTC'], { timeoutMs: 30_000 });
      expect(badCalendar.code).not.toBe(0);
    } finally {
      removeTmpDir(dir);
    }
  }, 120_000);
});
