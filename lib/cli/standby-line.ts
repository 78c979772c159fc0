// A standby cluster's readiness in words: `failover status` and `failover local status` print it.

/** 'standby leader pg-1, last commit of the primary replayed 3.2 s ago', or why there is nothing to promote. */
export function standbyReadiness(leader: string | null, replayAgeSeconds: number | null): string {
  if (!leader) return 'no standby leader runs (nothing to promote)';
  const age = replayAgeSeconds === null ? 'no commit of the primary replayed yet' : `last commit of the primary replayed ${replayAgeSeconds.toFixed(1)} s ago`;
  return `standby leader ${leader}, ${age}`;
}
