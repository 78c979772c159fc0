// EC2's replace-root-volume tasks in the booted rehearsal. The stand-in's EC2 records a node's
// CreateReplaceRootVolumeTask here; the host (LocalCluster, while it waits for a deploy) performs
// it as EC2 does: the instance shut down, a fresh root from the image, the same instance ID,
// address and data volume, booted again. The file is JSON lines of events, appended by both sides
// (one small append each: neither can lose the other's), and a task is the fold of its events.
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { appendJsonLines, readJsonLines } from './json-lines';

/** The tasks' events (JSON lines), relative to the cluster's directory. */
export const ROOT_VOLUME_TASKS_FILE = path.join('aws', 'ec2-replace-root-volume-tasks.jsonl');

/** EC2's ReplaceRootVolumeTaskState values. */
export type RootVolumeTaskState = 'pending' | 'in-progress' | 'failing' | 'succeeded' | 'failed' | 'failed-detached';

/** A task as DescribeReplaceRootVolumeTasks gives it (and what the rehearsal keeps besides). */
export interface RootVolumeTask {
  /** `replacevol-` and 17 hex digits. */
  readonly replaceRootVolumeTaskId: string;
  readonly instanceId: string;
  readonly taskState: RootVolumeTaskState;
  /** ISO 8601, as EC2 writes it. */
  readonly startTime: string;
  readonly completeTime?: string;
  readonly imageId: string;
  readonly deleteReplacedRootVolume: boolean;
  /** The request's ClientToken (botocore sends one): a retried create returns the same task. */
  readonly clientToken?: string;
  /** The new root is in place (the instance boots from it): IMDS answers the task's image from here on, unless the task fails. */
  readonly rootAttached?: boolean;
}

type TaskEvent =
  | { readonly kind: 'created'; readonly task: RootVolumeTask }
  | { readonly kind: 'state'; readonly id: string; readonly taskState: RootVolumeTaskState; readonly time: string }
  | { readonly kind: 'root-attached'; readonly id: string; readonly time: string };

const FINISHED: readonly RootVolumeTaskState[] = ['succeeded', 'failed', 'failed-detached'];

export function newRootVolumeTaskId(): string {
  return `replacevol-0${randomBytes(8).toString('hex')}`;
}

/** EC2 writes these times with milliseconds. */
function now(): string {
  return new Date().toISOString();
}

/** Every task so far, in the order they were created (none when the file is not there yet). */
export function readRootVolumeTasks(file: string): RootVolumeTask[] {
  const tasks = new Map<string, RootVolumeTask>();
  for (const event of readJsonLines<TaskEvent>(file)) {
    if (event.kind === 'created') {
      tasks.set(event.task.replaceRootVolumeTaskId, event.task);
      continue;
    }
    const task = tasks.get(event.id);
    if (!task) continue;
    if (event.kind === 'root-attached') tasks.set(event.id, { ...task, rootAttached: true });
    else tasks.set(event.id, { ...task, taskState: event.taskState, ...(FINISHED.includes(event.taskState) ? { completeTime: event.time } : {}) });
  }
  return [...tasks.values()];
}

function append(file: string, event: TaskEvent): void {
  appendJsonLines(file, [event]);
}

/** Records a new task, pending. */
export function createRootVolumeTask(file: string, request: { readonly instanceId: string; readonly imageId: string; readonly deleteReplacedRootVolume: boolean; readonly clientToken?: string }): RootVolumeTask {
  const task: RootVolumeTask = {
    replaceRootVolumeTaskId: newRootVolumeTaskId(),
    instanceId: request.instanceId,
    taskState: 'pending',
    startTime: now(),
    imageId: request.imageId,
    deleteReplacedRootVolume: request.deleteReplacedRootVolume,
    ...(request.clientToken !== undefined ? { clientToken: request.clientToken } : {}),
  };
  append(file, { kind: 'created', task });
  return task;
}

export function setRootVolumeTaskState(file: string, id: string, taskState: RootVolumeTaskState): void {
  append(file, { kind: 'state', id, taskState, time: now() });
}

export function markRootAttached(file: string, id: string): void {
  append(file, { kind: 'root-attached', id, time: now() });
}

export function isUnfinished(task: RootVolumeTask): boolean {
  return !FINISHED.includes(task.taskState);
}

/**
 * The image an instance runs (IMDS's ami-id): the one it was launched from until a task replaced
 * its root, then that task's (the last such). A failed task leaves the root it had, as on EC2.
 */
export function instanceImage(tasks: readonly RootVolumeTask[], instanceId: string, launchImageId: string): string {
  const replaced = tasks.filter((t) => t.instanceId === instanceId && (t.taskState === 'succeeded' || (t.rootAttached === true && isUnfinished(t))));
  return replaced.length ? replaced[replaced.length - 1].imageId : launchImageId;
}

/** EC2's image IDs: `ami-` and 8 (older) or 17 hex digits. */
export const IMAGE_ID_PATTERN = /^ami-([0-9a-f]{8}|[0-9a-f]{17})$/;
/** What IMAGE_ID_PATTERN takes, in words (for the refusals). */
export const IMAGE_ID_SHAPE = "an AMI ID ('ami-' and 8 or 17 lowercase hex digits)";

export interface RootVolumeTaskPerformer {
  readonly file: string;
  /**
   * Does what EC2 does between in-progress and succeeded: the instance shut down, its new root
   * attached (call `attached` then: IMDS answers the task's image from there on), booted. Throws
   * when the node did not boot again (the task fails).
   */
  readonly replaceRoot: (task: RootVolumeTask, attached: () => void) => Promise<void>;
  readonly log: (line: string) => void;
  /** @default 1000 */
  readonly intervalMs?: number;
}

export interface RunningPerformer {
  /** Stops looking for tasks once the one under way (if any) is done. */
  stop(): Promise<void>;
}

/**
 * Performs the pending tasks of the tasks file, one at a time in the order they were created,
 * until stopped: each goes in-progress, then succeeded, or failed when `replaceRoot` throws.
 * Looks once per interval; a look or a task that throws unexpectedly is logged, never thrown.
 */
export function performRootVolumeTasks(p: RootVolumeTaskPerformer): RunningPerformer {
  let stopped = false;
  let wake: (() => void) | undefined;
  const perform = async (task: RootVolumeTask) => {
    const id = task.replaceRootVolumeTaskId;
    setRootVolumeTaskState(p.file, id, 'in-progress');
    p.log(`root volume task ${id}: ${task.instanceId} to ${task.imageId}, in-progress`);
    try {
      await p.replaceRoot(task, () => markRootAttached(p.file, id));
      setRootVolumeTaskState(p.file, id, 'succeeded');
      p.log(`root volume task ${id}: succeeded (${task.instanceId} boots from ${task.imageId})`);
    } catch (err) {
      setRootVolumeTaskState(p.file, id, 'failed');
      p.log(`root volume task ${id}: failed: ${(err as { message?: string } | null)?.message ?? String(err)}`);
    }
  };
  const loop = (async () => {
    while (!stopped) {
      try {
        for (const task of readRootVolumeTasks(p.file).filter((t) => t.taskState === 'pending')) await perform(task);
      } catch (err) {
        p.log(`root volume tasks: cannot read ${p.file}: ${(err as { message?: string } | null)?.message ?? String(err)}`);
      }
      if (stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, p.intervalMs ?? 1000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
