// The host's side of EC2's replace-root-volume tasks (what LocalCluster does while it waits for a
// deploy), against a fake cluster: the order of EC2's steps, the task's states, a failed boot.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkImageId, RootVolumeTasks, type RootVolumeHost } from '../../lib/local/boot/root-volume-host';
import { createRootVolumeTask, instanceImage, readRootVolumeTasks, setRootVolumeTaskState } from '../../lib/local/boot/root-volume-tasks';
import { LocalClusterError } from '../../lib/local/errors';

const NEW_IMAGE = 'ami-0fedcba9876543210';
const OLD_IMAGE = 'ami-0ca7f00dca7f00d00';
const NODES: Record<string, string> = { 'i-0aaaaaaaaaaaaaaa1': 'bt-0', 'i-0bbbbbbbbbbbbbbb2': 'bt-1' };

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'root-volume-tasks-'));
  file = path.join(dir, 'tasks.jsonl');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A fake cluster that records what was done, in order, with the image IMDS would answer at each step. */
function fakeHost(options: { failBoot?: string } = {}): { host: RootVolumeHost; steps: string[]; lines: string[] } {
  const steps: string[] = [];
  const lines: string[] = [];
  const image = (name: string) => {
    const id = Object.keys(NODES).find((i) => NODES[i] === name)!;
    return instanceImage(readRootVolumeTasks(file), id, OLD_IMAGE);
  };
  const host: RootVolumeHost = {
    file,
    log: (line) => lines.push(line),
    nodeOf: (instanceId) => NODES[instanceId],
    shutDown: async (name) => {
      steps.push(`shutdown ${name} (${readRootVolumeTasks(file).map((t) => t.taskState).join()}) ami ${image(name)}`);
      return 'clean';
    },
    bootFreshRoot: async (name) => {
      steps.push(`boot ${name} ami ${image(name)}`);
      if (options.failBoot === name) throw new LocalClusterError(`${name} did not boot`);
    },
    launchImages: () => new Map(Object.keys(NODES).map((id) => [id, OLD_IMAGE])),
  };
  return { host, steps, lines };
}

const until = async (what: () => boolean) => {
  for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('performing replace-root-volume tasks', () => {
  test('a pending task: in-progress, the node shut down, its new root attached (IMDS answers the new image), booted, then succeeded; each step logged', async () => {
    const { host, steps, lines } = fakeHost();
    const performer = new RootVolumeTasks(host).perform();
    const task = createRootVolumeTask(file, { instanceId: 'i-0aaaaaaaaaaaaaaa1', imageId: NEW_IMAGE, deleteReplacedRootVolume: true });
    await until(() => readRootVolumeTasks(file)[0]!.taskState === 'succeeded');
    await performer.stop();
    expect(steps).toEqual([`shutdown bt-0 (in-progress) ami ${OLD_IMAGE}`, `boot bt-0 ami ${NEW_IMAGE}`]);
    expect(readRootVolumeTasks(file)).toEqual([{ ...task, taskState: 'succeeded', completeTime: expect.any(String), rootAttached: true }]);
    expect(instanceImage(readRootVolumeTasks(file), 'i-0aaaaaaaaaaaaaaa1', OLD_IMAGE)).toBe(NEW_IMAGE);
    expect(lines.map((l) => l.replace(/\d+\.\d s/, 'N s'))).toEqual([
      `root volume task ${task.replaceRootVolumeTaskId}: i-0aaaaaaaaaaaaaaa1 to ${NEW_IMAGE}, in-progress`,
      `bt-0 (i-0aaaaaaaaaaaaaaa1) rebooted for its root volume: shut down (clean); a new root volume from ${NEW_IMAGE}, the instance ID, address and data volume kept`,
      'bt-0 boots from its new root volume (N s after the task started); its user data runs again',
      `root volume task ${task.replaceRootVolumeTaskId}: succeeded (i-0aaaaaaaaaaaaaaa1 boots from ${NEW_IMAGE})`,
    ]);
  });

  test('a node that does not boot: the task failed, IMDS answers the image it had; the next task is still performed', async () => {
    const { host, lines } = fakeHost({ failBoot: 'bt-0' });
    const performer = new RootVolumeTasks(host).perform();
    createRootVolumeTask(file, { instanceId: 'i-0aaaaaaaaaaaaaaa1', imageId: NEW_IMAGE, deleteReplacedRootVolume: true });
    createRootVolumeTask(file, { instanceId: 'i-0bbbbbbbbbbbbbbb2', imageId: NEW_IMAGE, deleteReplacedRootVolume: true });
    await until(() => readRootVolumeTasks(file).every((t) => t.completeTime !== undefined));
    await performer.stop();
    expect(readRootVolumeTasks(file).map((t) => t.taskState)).toEqual(['failed', 'succeeded']);
    expect(instanceImage(readRootVolumeTasks(file), 'i-0aaaaaaaaaaaaaaa1', OLD_IMAGE)).toBe(OLD_IMAGE);
    expect(lines).toContainEqual(expect.stringMatching(/: failed: bt-0 did not boot$/));
  });

  test('a task of an instance no node runs fails; stop() ends the looking and leaves later tasks pending', async () => {
    const { host } = fakeHost();
    const performer = new RootVolumeTasks(host).perform();
    createRootVolumeTask(file, { instanceId: 'i-0ccccccccccccccc3', imageId: NEW_IMAGE, deleteReplacedRootVolume: true });
    await until(() => readRootVolumeTasks(file)[0]!.taskState === 'failed');
    await performer.stop();
    createRootVolumeTask(file, { instanceId: 'i-0aaaaaaaaaaaaaaa1', imageId: NEW_IMAGE, deleteReplacedRootVolume: true });
    await new Promise((r) => setTimeout(r, 1200));
    expect(readRootVolumeTasks(file).map((t) => t.taskState)).toEqual(['failed', 'pending']);
  });

  test("a rollback performs the tasks that put every instance back on the previous image, and says whether they did", async () => {
    const { host } = fakeHost();
    const done = createRootVolumeTask(file, { instanceId: 'i-0aaaaaaaaaaaaaaa1', imageId: NEW_IMAGE, deleteReplacedRootVolume: true });
    setRootVolumeTaskState(file, done.replaceRootVolumeTaskId, 'succeeded');
    const tasks = new RootVolumeTasks(host);
    const back = tasks.rollBack(OLD_IMAGE, 10_000);
    // The agent's task of the rollback, a moment later.
    setTimeout(() => createRootVolumeTask(file, { instanceId: 'i-0aaaaaaaaaaaaaaa1', imageId: OLD_IMAGE, deleteReplacedRootVolume: true }), 300);
    await expect(back).resolves.toBe(`; every root volume is back on ${OLD_IMAGE}`);
    const stuck = createRootVolumeTask(file, { instanceId: 'i-0bbbbbbbbbbbbbbb2', imageId: NEW_IMAGE, deleteReplacedRootVolume: true });
    setRootVolumeTaskState(file, stuck.replaceRootVolumeTaskId, 'succeeded');
    await expect(tasks.rollBack(OLD_IMAGE, 1500)).resolves.toMatch(/^; NOT every root volume is back on ami-0ca7f00dca7f00d00: .*1 instance\(s\) on another image, 0 task\(s\) unfinished/);
  });
});

describe('checkImageId', () => {
  test.each(['ami-12345678', 'ami-0123456789abcdef0'])('takes %s', (id) => expect(() => checkImageId(id, 'imageId')).not.toThrow());
  test.each(['ami-1234567', 'ami-0123456789ABCDEF0', 'ami-', 'vol-0123456789abcdef0'])('refuses %j in one line naming the property, the value and the shape', (id) => {
    expect(() => checkImageId(id, 'imageId')).toThrow(new LocalClusterError(`imageId must be an AMI ID ('ami-' and 8 or 17 lowercase hex digits), got '${id}'`));
  });
});
