// A local cluster's fence in the S3 stand-in's store, and the refusals of `failover local rejoin`
// that come before anything is touched (no cluster runs for these).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fenceKey, readFence, writeFence } from '../../lib/local/backup/fence';
import { LOCAL_S3, localBackupSpec, repositoryDir } from '../../lib/local/backup/repository';
import { stateFile } from '../../lib/local/layout';
import { buildLocalSpec } from '../../lib/local/local-spec';
import { TIMING_PROFILES } from '../../lib/local/profiles';
import { rejoinAsStandby } from '../../lib/local/rejoin';

describe('the fence of a local cluster', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cdkf-fence-unit-'));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test("its key is FENCE_FILE in the fenced cluster's repository path", () => {
    expect(fenceKey('orders')).toBe('orders/fence.json');
  });

  test('written through the stand-in\'s store, read back; another cluster has none', async () => {
    const fence = await writeFence(root, 'prim', 'sec');
    expect(fence).toEqual({ fenced: 'prim', promoted: 'sec', at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) });
    expect(await readFence(root, 'prim')).toEqual(fence);
    expect(await readFence(root, 'sec')).toBeUndefined();
    // Where s3rver keeps the object, so the stand-in serves it to pgBackRest's repo-get.
    const stored = path.join(repositoryDir(root), 's3', LOCAL_S3.bucket, 'prim', 'fence.json._S3rver_object');
    expect(JSON.parse(fs.readFileSync(stored, 'utf8'))).toEqual(fence);
  });

  test('a second promotion overwrites it: the newest names who leads now', async () => {
    await writeFence(root, 'twice', 'first');
    const second = await writeFence(root, 'twice', 'second');
    expect(await readFence(root, 'twice')).toEqual(second);
  });
});

describe('failover local rejoin: refused before anything is changed', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cdkf-rejoin-unit-'));
  const save = (name: string) => {
    const built = buildLocalSpec({ clusterName: name, nodeCount: 3, timing: TIMING_PROFILES.fast, clusterDir: path.join(root, name) });
    fs.mkdirSync(path.dirname(stateFile(root, name)), { recursive: true });
    fs.writeFileSync(stateFile(root, name), JSON.stringify({ version: 1, clusterName: name, timingProfile: 'fast', nodes: [], spec: { ...built, backup: localBackupSpec(root, name) } }));
  };
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test.each([
    ['unfenced', 'b', "cluster 'unfenced' is not fenced by a promotion of 'b' (it has no fence): rejoin discards its data, and only a cluster that a promotion replaced may be rebuilt this way"],
    ['other', 'b', "cluster 'other' is not fenced by a promotion of 'b' (its fence names 'c'): rejoin discards its data, and only a cluster that a promotion replaced may be rebuilt this way"],
  ])('%s as a standby of %s', async (name, of, message) => {
    save(name);
    if (name === 'other') await writeFence(root, 'other', 'c');
    const before = fs.readFileSync(stateFile(root, name), 'utf8');
    await expect(rejoinAsStandby({ clusterName: name, stateRoot: root, standbyOf: of })).rejects.toThrow(message);
    expect(fs.readFileSync(stateFile(root, name), 'utf8')).toBe(before);
  });

  test('a cluster with no state is refused by name', async () => {
    await expect(rejoinAsStandby({ clusterName: 'gone', stateRoot: root, standbyOf: 'b' })).rejects.toThrow("no local cluster 'gone'");
  });
});
