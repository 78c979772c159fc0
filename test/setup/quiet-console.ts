// Keeps a passing run quiet and honest: what a test prints is captured; a test that expects output
// takes it with `takeConsoleOutput()` and asserts on it; anything left over fails the test.
import { format } from 'node:util';

const METHODS = ['log', 'info', 'warn', 'error', 'debug'] as const;
let captured: string[] = [];
const originals = new Map<(typeof METHODS)[number], (...args: unknown[]) => void>();

/** The lines printed through `console` since the test began (or since the last take), cleared. */
export function takeConsoleOutput(): string[] {
  const out = captured;
  captured = [];
  return out;
}

beforeEach(() => {
  captured = [];
  for (const method of METHODS) {
    originals.set(method, console[method]);
    console[method] = (...args: unknown[]) => {
      captured.push(`${method}: ${format(...args)}`);
    };
  }
});

afterEach(() => {
  for (const [method, original] of originals) console[method] = original;
  const left = takeConsoleOutput();
  if (left.length > 0) {
    throw new Error(`the test printed output it did not assert (take it with takeConsoleOutput()):\n${left.join('\n').slice(0, 4000)}`);
  }
});
