/**
 * An operations error the CLI prints as one readable line (`failover: <message>`), exit code 1.
 */
export class OpsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OpsError';
  }
}

/** A usage error (a missing or contradictory option): exit code 2. */
export class UsageError extends OpsError {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The wait or drill was interrupted (Ctrl-C, SIGTERM). */
export class InterruptedError extends OpsError {
  constructor(what = 'interrupted') {
    super(what);
    this.name = 'InterruptedError';
  }
}

/** The message of anything thrown, on one line. */
export function oneLine(err: unknown): string {
  let text: string;
  if (err instanceof Error) {
    text = err.message || err.name;
    // AWS SDK errors: the code is in `name`, and the message may be generic.
    const fromAws = typeof (err as { $metadata?: unknown }).$metadata === 'object';
    if (fromAws && err.name && !text.includes(err.name)) text = `${err.name}: ${text}`;
  } else {
    text = String(err);
  }
  return text.replace(/\s*\n\s*/g, ' | ').trim();
}
