// Which primary a local promotion checks and fences: a lost one (nothing left) is undefined; one
// that cannot be read is refused, never taken for lost.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openPrimary } from '../../lib/cli/promote';
import { LocalClusterError } from '../../lib/local/errors';
import { stateFile } from '../../lib/local/layout';

describe("a promotion's primary", () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'cdkf-promote-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  test('nothing of it on this machine: gone (the lost region), nothing to check or fence', async () => {
    await expect(openPrimary('gonea', root)).resolves.toBeUndefined();
  });

  test.each([
    ['not JSON', '{', /^state file .*state\.json is not valid JSON/],
    ['of an unknown version', '{"version": 7}', /^state file .*state\.json has unknown version 7$/],
  ])('a state file %s: refused, not taken for a lost primary', async (_what, content, message) => {
    fs.mkdirSync(path.dirname(stateFile(root, 'brokena')), { recursive: true });
    fs.writeFileSync(stateFile(root, 'brokena'), content);
    const opened = openPrimary('brokena', root);
    await expect(opened).rejects.toThrow(LocalClusterError);
    await expect(opened).rejects.toThrow(message);
  });
});
