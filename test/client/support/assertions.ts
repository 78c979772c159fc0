import { FailoverPoolError } from '../../../lib/client';

let keySeq = 0;

/** A write key unique to this process and call, so that a repeated write shows as a duplicate. */
export const newKey = (label: string): string => `${label}-${process.pid}-${++keySeq}`;

/** Rejection of a promise that must reject (fails the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<FailoverPoolError> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  return outcome.error as FailoverPoolError;
}
