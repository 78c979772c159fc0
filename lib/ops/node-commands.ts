// A shell command on a deployed cluster's nodes, through Systems Manager Run Command (the nodes run
// the SSM agent; there is no SSH): SendCommand with AWS-RunShellScript, then GetCommandInvocation
// for each node until it ends, bounded in time.
import { GetCommandInvocationCommand, SendCommandCommand, SSMClient, type GetCommandInvocationCommandOutput } from '@aws-sdk/client-ssm';
import { OpsError, oneLine } from './errors';
import { found, giveUp, notYet, poll, type Look } from './poll';

export interface NodeCommandResult {
  readonly instanceId: string;
  /** Run Command's status: Success, Failed, TimedOut, Cancelled. */
  readonly status: string;
  /** Its detail: Undeliverable, DeliveryTimedOut, ExecutionTimedOut... */
  readonly statusDetails: string;
  readonly exitCode: number;
  /** What the command printed (Run Command keeps the first 24,000 characters of stdout, 8,000 of stderr). */
  readonly stdout: string;
  readonly stderr: string;
}

export interface NodeCommandOptions {
  /** Shown in the Run Command console and CloudTrail. */
  readonly comment: string;
  /** How long the command may run on a node; the wait for it is this plus two minutes. */
  readonly executionTimeoutSeconds: number;
  /** @default 5000 */
  readonly pollIntervalMs?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (line: string) => void;
}

const ENDED = new Set(['Success', 'Failed', 'TimedOut', 'Cancelled']);
/** Time for every node's agent to take the command before the execution timeout starts. */
const DELIVERY_SECONDS = 120;

/**
 * Runs `commands` (bash lines, as root) on every node of `instanceIds` at once; returns each node's
 * result once all have ended. A node Systems Manager cannot reach is an OpsError naming it.
 */
export async function runOnNodes(ssm: SSMClient, instanceIds: readonly string[], commands: readonly string[], options: NodeCommandOptions): Promise<NodeCommandResult[]> {
  if (!instanceIds.length) throw new OpsError('no node to run the command on');
  let commandId: string;
  try {
    const sent = await ssm.send(
      new SendCommandCommand({
        DocumentName: 'AWS-RunShellScript',
        InstanceIds: [...instanceIds],
        Comment: options.comment.slice(0, 100),
        TimeoutSeconds: DELIVERY_SECONDS,
        Parameters: { commands: [...commands], executionTimeout: [String(options.executionTimeoutSeconds)] },
      }),
      { abortSignal: options.signal },
    );
    if (!sent.Command?.CommandId) throw new OpsError('Systems Manager accepted the command but returned no command ID');
    commandId = sent.Command.CommandId;
  } catch (err) {
    if ((err as Error).name === 'InvalidInstanceId') {
      throw new OpsError(
        `Systems Manager cannot run commands on ${instanceIds.join(', ')}: a node is not online in Systems Manager (its SSM agent, or its route to Systems Manager; runbook: Prerequisites)`,
      );
    }
    throw err;
  }
  const timeoutMs = (options.executionTimeoutSeconds + DELIVERY_SECONDS) * 1000;
  return Promise.all(
    instanceIds.map((instanceId) =>
      poll(
        `the command on ${instanceId} (${commandId})`,
        () => invocation(ssm, commandId, instanceId, options.signal),
        { timeoutMs, intervalMs: options.pollIntervalMs ?? 5000, signal: options.signal, onProgress: options.onProgress && ((reason) => options.onProgress!(`${instanceId}: ${reason}`)) },
      ),
    ),
  );
}

async function invocation(ssm: SSMClient, commandId: string, instanceId: string, signal?: AbortSignal): Promise<Look<NodeCommandResult>> {
  let answer: GetCommandInvocationCommandOutput;
  try {
    answer = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }), { abortSignal: signal });
  } catch (err) {
    // Right after SendCommand the invocation may not be visible yet.
    if ((err as Error).name === 'InvocationDoesNotExist') return notYet('not delivered yet');
    if ((err as Error).name === 'AccessDeniedException') return giveUp(oneLine(err));
    throw err;
  }
  const status = answer.Status ?? 'Pending';
  if (!ENDED.has(status)) return notYet(status === 'InProgress' ? 'running' : status.toLowerCase());
  return found({
    instanceId,
    status,
    statusDetails: answer.StatusDetails ?? status,
    exitCode: answer.ResponseCode ?? -1,
    stdout: answer.StandardOutputContent ?? '',
    stderr: answer.StandardErrorContent ?? '',
  });
}

/** What Run Command appends to the error output of a script that exits non-zero. */
const RUN_COMMAND_EXIT_LINE = /^failed to run commands: exit status \d+$/;

/** The last non-empty line the command itself printed in `text` (not Run Command's exit line), or undefined. */
export function lastLine(text: string): string | undefined {
  return text.split('\n').map((l) => l.trim()).filter((l) => l && !RUN_COMMAND_EXIT_LINE.test(l)).pop();
}
