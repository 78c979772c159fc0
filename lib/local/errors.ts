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

export { oneLine } from '../util/one-line';
