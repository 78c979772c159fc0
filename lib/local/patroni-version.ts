// The local cluster runs this machine's Patroni: refuse a timing that Patroni would silently raise
// (3.2+), with the same check the node agent runs at a node's first boot.
import { PATRONI_TIMING_CHECK_PY } from '../patroni/config/patroni-version-py';
import type { ClusterTiming } from '../patroni/config';
import { run } from '../util/command';
import { LocalClusterError } from './errors';

const PROGRAM = `import json, re, subprocess, sys
${PATRONI_TIMING_CHECK_PY}
try:
    answer = subprocess.run(['patroni', '--version'], capture_output=True, text=True, timeout=60)
    version = answer.stdout if answer.returncode == 0 else answer.stderr
except OSError as e:
    version = str(e)
print(timing_adjustment(version, json.loads(sys.argv[1])) or '')
`;

/** Throws, in one line, when this machine's Patroni would not run `timing` as declared. */
export async function checkPatroniTiming(timing: ClusterTiming, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const declared = { ttl: timing.ttlSeconds, loop_wait: timing.loopWaitSeconds, retry_timeout: timing.retryTimeoutSeconds };
  const r = await run('/usr/bin/python3', ['-I', '-c', PROGRAM, JSON.stringify(declared)], { env, timeoutMs: 90_000 });
  const problem = r.stdout.trim();
  if (problem) throw new LocalClusterError(problem);
}
