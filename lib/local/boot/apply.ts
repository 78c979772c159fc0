// `failover local apply`: a changed specification reaches a booted cluster the way a deploy does.
// The stack is synthesized again, each instance's metadata is published to the stand-in's
// CloudFormation, and the nodes' agents apply it one at a time; this waits for the generation's
// wait condition (every node's signal) and shows what each agent does.
import { LocalClusterError } from '../errors';
import { found, notYet, poll } from '../../ops/poll';
import { readRecordedSignals, type RecordedSignal } from './aws-standin';

export interface GenerationWait {
  /** The wait condition handle's logical ID (the generation's). */
  readonly handle: string;
  readonly signalsFile: string;
  readonly nodeNames: readonly string[];
  readonly timeoutMs: number;
  /** The agent's journal lines of a node since the change was published (all of them, every call). */
  readonly agentLines: (name: string) => Promise<readonly string[]>;
  readonly log: (line: string) => void;
}

/** The wait condition's signals so far, one per node (CloudFormation counts a UniqueId once). */
export function handleSignals(signals: readonly RecordedSignal[], handle: string): Map<string, RecordedSignal & { kind: 'waitcondition' }> {
  const byNode = new Map<string, RecordedSignal & { kind: 'waitcondition' }>();
  for (const s of signals) {
    if (s.kind === 'waitcondition' && s.handle === handle && !byNode.has(s.uniqueId)) byNode.set(s.uniqueId, s);
  }
  return byNode;
}

/**
 * Until every node has signalled SUCCESS to the handle; the first FAILURE ends the wait with the
 * node's reason, as it fails a deploy. Every new agent line is logged as `  NODE: line`.
 */
export async function waitForGeneration(w: GenerationWait): Promise<void> {
  const shown = new Map<string, number>();
  const showAgents = async () => {
    for (const name of w.nodeNames) {
      const lines = await w.agentLines(name).catch(() => [] as readonly string[]);
      // Fewer lines than shown: a new root volume (an image change) started a new journal.
      if (lines.length < (shown.get(name) ?? 0)) shown.set(name, 0);
      for (const line of lines.slice(shown.get(name) ?? 0)) w.log(`  ${name}: ${line}`);
      shown.set(name, Math.max(shown.get(name) ?? 0, lines.length));
    }
  };
  const failed = await poll(
    `every node to apply the change (wait condition ${w.handle})`,
    async () => {
      await showAgents();
      const signals = handleSignals(readRecordedSignals(w.signalsFile), w.handle);
      const failure = [...signals.values()].find((s) => s.status === 'FAILURE');
      if (failure) return found(failure);
      const waiting = w.nodeNames.filter((n) => !signals.has(n));
      return waiting.length ? notYet(`waiting for ${waiting.join(', ')}`) : found(undefined);
    },
    { timeoutMs: w.timeoutMs, intervalMs: 1000 },
  );
  await showAgents();
  if (failed) throw new LocalClusterError(`${failed.uniqueId} could not apply the change: ${failed.reason}`);
}
