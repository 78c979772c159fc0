/**
 * An error the local cluster reports to its user as one readable line (the CLI prints
 * `failover: <message>` and exits non-zero, without a stack trace).
 */
export class LocalClusterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalClusterError';
  }
}

/** The message of anything thrown, on one line. */
export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s*\n\s*/g, ' | ').trim();
}
