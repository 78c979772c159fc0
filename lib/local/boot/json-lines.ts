// Files of one JSON value a line, appended by one process and read by another (the stand-in's
// records, the replace-root-volume tasks): one small append is never torn by another.
import * as fs from 'node:fs';

/** One JSON value a line. A last line without its newline may be an append under way: left out unless it parses. */
export function readJsonLines<T>(file: string): T[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const lines = text.split('\n');
  const last = lines.pop() ?? ''; // '' when the file ends with its newline
  const values = lines.filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as T);
  try {
    if (last.trim() !== '') values.push(JSON.parse(last) as T);
  } catch {
    // torn: the rest of the line is still being written
  }
  return values;
}

/** Appended before answering: whoever reads the file after the response sees the records. */
export function appendJsonLines(file: string, records: readonly object[]): void {
  fs.appendFileSync(file, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
}
