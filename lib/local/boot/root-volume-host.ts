// The host's side of EC2's replace-root-volume tasks in the booted rehearsal: what EC2 does to an
// instance whose node agent asked for a new root volume from another image. The instance reboots
// (its shutdown runs), its root volume is replaced by a new one made from the image, and it boots
// from that with the same instance ID, network interface, address and data volume; the fresh
// root runs the user data again (cloud-init's first boot). LocalCluster performs the tasks while
// it waits for a deploy.
import { LocalClusterError } from '../errors';
import { found, notYet, poll } from '../../ops/poll';
import { IMAGE_ID_PATTERN, IMAGE_ID_SHAPE, instanceImage, isUnfinished, performRootVolumeTasks, readRootVolumeTasks, type RunningPerformer } from './root-volume-tasks';

/** What LocalCluster lends the tasks: its nodes, their containers and the stand-in's launch images. */
export interface RootVolumeHost {
  /** The tasks file (root-volume-tasks.ts). */
  readonly file: string;
  readonly log: (line: string) => void;
  /** The node that runs an instance, if any. */
  readonly nodeOf: (instanceId: string) => string | undefined;
  /** The node's container shut down cleanly, as a reboot does (its shutdown runs). */
  readonly shutDown: (name: string) => Promise<'clean' | 'killed' | 'not running'>;
  /** A fresh root from the rehearsal image for the node, its instance ID kept; booted, until its systemd answers. */
  readonly bootFreshRoot: (name: string) => Promise<void>;
  /** Instance ID -> the image it was launched from (the stand-in's). */
  readonly launchImages: () => ReadonlyMap<string, string>;
}

/** The readable refusal of an image ID of no AMI shape (`what`: the option or property that held it). */
export function checkImageId(value: string, what: string): void {
  if (!IMAGE_ID_PATTERN.test(value)) throw new LocalClusterError(`${what} must be ${IMAGE_ID_SHAPE}, got '${value}'`);
}

/** Past this EC2 forces a reboot whose guest does not shut down (about four minutes). */
export const REBOOT_GRACE_MS = 240_000;

export class RootVolumeTasks {
  constructor(private readonly host: RootVolumeHost) {}

  /** Performs the tasks the nodes create until stopped (see performRootVolumeTasks). */
  public perform(): RunningPerformer {
    return performRootVolumeTasks({
      file: this.host.file,
      log: this.host.log,
      replaceRoot: async (task, attached) => {
        const name = this.host.nodeOf(task.instanceId);
        if (name === undefined) throw new LocalClusterError(`no node runs instance ${task.instanceId} (replaced meanwhile?)`);
        const started = Date.now();
        const how = await this.host.shutDown(name);
        this.host.log(`${name} (${task.instanceId}) rebooted for its root volume: shut down (${how}); a new root volume from ${task.imageId}, the instance ID, address and data volume kept`);
        attached();
        await this.host.bootFreshRoot(name);
        this.host.log(`${name} boots from its new root volume (${((Date.now() - started) / 1000).toFixed(1)} s after the task started); its user data runs again`);
      },
    });
  }

  /**
   * After a failed image change's rollback is published: performs the tasks that put every
   * instance back on `imageId` (the agents create them one node at a time), until no instance
   * runs another image and no task is unfinished, for at most `timeoutMs`. Returns what became of
   * it, as a clause for the apply's error line.
   */
  public async rollBack(imageId: string, timeoutMs = 1_800_000): Promise<string> {
    const performer = this.perform();
    try {
      await poll(
        `every instance back on ${imageId}`,
        async () => {
          const tasks = readRootVolumeTasks(this.host.file);
          const other = [...this.host.launchImages()].filter(([id, launched]) => instanceImage(tasks, id, launched) !== imageId).map(([id]) => id);
          const unfinished = tasks.filter(isUnfinished).length;
          return other.length || unfinished ? notYet(`${other.length} instance(s) on another image, ${unfinished} task(s) unfinished`) : found(true);
        },
        { timeoutMs, intervalMs: 2000 },
      );
      return `; every root volume is back on ${imageId}`;
    } catch (err) {
      return `; NOT every root volume is back on ${imageId}: ${(err as { message?: string }).message ?? String(err)}`;
    } finally {
      await performer.stop();
    }
  }
}
