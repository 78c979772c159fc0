import { InterruptedError, OpsError, oneLine } from './errors';

/** What one look found: done with a value, not yet and why, or never (`final`: stop waiting now). */
export type Look<T> = { readonly done: true; readonly value: T } | { readonly done: false; readonly reason: string; readonly final?: boolean };

export const found = <T>(value: T): Look<T> => ({ done: true, value });
export const notYet = <T = never>(reason: string): Look<T> => ({ done: false, reason });
/** What was awaited will not come: the wait ends at once with `reason` as its error. */
export const giveUp = <T = never>(reason: string): Look<T> => ({ done: false, reason, final: true });

export interface PollOptions {
  /** Give up after this long. */
  readonly timeoutMs: number;
  /** Pause between looks. @default 1000 */
  readonly intervalMs?: number;
  /** Stops the wait early (Ctrl-C): the promise rejects with InterruptedError. */
  readonly signal?: AbortSignal;
  /** Called with each new reason, and every `progressEveryMs` while the reason stays the same. */
  readonly onProgress?: (reason: string, elapsedMs: number) => void;
  /** @default 15000 */
  readonly progressEveryMs?: number;
}

/**
 * Looks until `look` is done, bounded in time and in count; the error names what was awaited,
 * for how long, and the last reason it was not there yet. A look that throws counts as not yet;
 * one that gives up (`giveUp`) ends the wait with its reason.
 */
export async function poll<T>(what: string, look: () => Promise<Look<T>>, options: PollOptions): Promise<T> {
  const intervalMs = Math.max(options.intervalMs ?? 1000, 1);
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const maxLooks = Math.ceil(options.timeoutMs / intervalMs) + 2;
  const progressEveryMs = options.progressEveryMs ?? 15_000;
  let last = 'not looked yet';
  let lastShown = 0;
  for (let n = 0; n < maxLooks; n++) {
    throwIfAborted(options.signal, what);
    let result: Look<T>;
    try {
      result = await look();
    } catch (err) {
      if (err instanceof InterruptedError) throw err;
      throwIfAborted(options.signal, what);
      result = notYet(oneLine(err));
    }
    if (result.done) return result.value;
    if (result.final) throw new OpsError(result.reason);
    const now = Date.now();
    if (result.reason !== last || now - lastShown >= progressEveryMs) {
      options.onProgress?.(result.reason, now - started);
      lastShown = now;
    }
    last = result.reason;
    const left = deadline - now;
    if (left <= 0) break;
    await sleep(Math.min(intervalMs, left), options.signal);
  }
  throwIfAborted(options.signal, what);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  throw new OpsError(`timed out after ${seconds} s waiting for ${what} (last: ${last})`);
}

/** Sleeps, or rejects with InterruptedError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new InterruptedError());
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new InterruptedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw new InterruptedError(what ? `interrupted while waiting for ${what}` : 'interrupted');
}

export function seconds(ms: number): number {
  return Math.round(ms) / 1000;
}
