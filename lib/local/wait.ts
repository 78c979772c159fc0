import { LocalClusterError } from './errors';
import { sleep } from './exec';

/** What one look found: done with a value, or not yet and why. */
export type Probe<T> = { readonly done: true; readonly value: T } | { readonly done: false; readonly reason: string };

export const done = <T>(value: T): Probe<T> => ({ done: true, value });
export const notYet = <T = never>(reason: string): Probe<T> => ({ done: false, reason });

export interface WaitOptions {
  /** Give up after this long. */
  readonly timeoutMs: number;
  /** Pause between looks. @default 500 */
  readonly intervalMs?: number;
  /** Called with each new reason (progress output). */
  readonly onProgress?: (reason: string) => void;
}

/**
 * Looks until `probe` is done or the deadline passes, bounded in time and in count; the error
 * names what was awaited, for how long, and the last reason it was not there yet.
 */
export async function waitFor<T>(what: string, probe: () => Promise<Probe<T>>, options: WaitOptions): Promise<T> {
  const intervalMs = options.intervalMs ?? 500;
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const maxLooks = Math.ceil(options.timeoutMs / Math.max(intervalMs, 1)) + 2;
  let last = 'not looked yet';
  for (let look = 0; look < maxLooks; look++) {
    let result: Probe<T>;
    try {
      result = await probe();
    } catch (err) {
      result = notYet(err instanceof Error ? err.message : String(err));
    }
    if (result.done) return result.value;
    if (result.reason !== last) options.onProgress?.(result.reason);
    last = result.reason;
    const left = deadline - Date.now();
    if (left <= 0) break;
    await sleep(Math.min(intervalMs, left));
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  throw new LocalClusterError(`timed out after ${seconds} s waiting for ${what} (last: ${last})`);
}
