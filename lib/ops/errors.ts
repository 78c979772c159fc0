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

export { oneLine } from '../util/one-line';
