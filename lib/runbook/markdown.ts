// Small Markdown and shell helpers for the runbooks: same input, same bytes.

/** `text` as inline code, with a fence long enough for any backticks inside. */
export function inlineCode(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** A fenced code block. */
export function codeBlock(language: string, lines: readonly string[]): string {
  const body = lines.join('\n');
  const longest = Math.max(2, ...(body.match(/`{3,}/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}${language}\n${body}\n${fence}`;
}

/** A shell code block. */
export function shell(lines: readonly string[]): string {
  return codeBlock('sh', lines);
}

/** A pipe table; `|` in cells is escaped and newlines become spaces. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const cell = (text: string) => text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
  const line = (cells: readonly string[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** A heading of `level` (1-6). */
export function heading(level: number, text: string): string {
  return `${'#'.repeat(level)} ${text}`;
}

/** A bullet list. */
export function bullets(items: readonly string[]): string {
  return items.map((item) => `- ${item}`).join('\n');
}

/** A numbered list. */
export function numbered(items: readonly string[]): string {
  return items.map((item, i) => `${i + 1}. ${item}`).join('\n');
}

/** A checklist. */
export function checklist(items: readonly string[]): string {
  return items.map((item) => `- [ ] ${item}`).join('\n');
}

/** Blocks separated by one blank line; empty and `undefined` blocks are left out. */
export function blocks(...parts: readonly (string | undefined | false)[]): string {
  return parts.filter((p): p is string => typeof p === 'string' && p.length > 0).join('\n\n');
}

const SHELL_SAFE = /^[A-Za-z0-9_./:,@%+=-]+$/;

/** `value` as one shell word: as is when it needs no quoting, else single-quoted. */
export function shellWord(value: string): string {
  if (SHELL_SAFE.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** "a, b and c". */
export function listOf(items: readonly string[], conjunction = 'and'): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} ${conjunction} ${items[items.length - 1]}`;
}

/** Seconds as "8 s" or "0.5 s", never with floating-point noise. */
export function seconds(value: number): string {
  return `${Number(value.toFixed(3))} s`;
}

/** Bytes as "1 MiB (1048576 bytes)" when a whole number of KiB, MiB or GiB, else "N bytes". */
export function bytes(value: number): string {
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (value >= size && value % size === 0) return `${value / size} ${unit} (${value} bytes)`;
  }
  return `${value} bytes`;
}
