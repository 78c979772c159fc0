// Reading rendered runbooks back: sections, code blocks, command lines. Not a test file itself.

/** The text of every ```sh block, lines joined where they end with a backslash. */
export function shellLines(markdown: string): string[] {
  const lines: string[] = [];
  const blocks = markdown.matchAll(/^```sh\n([\s\S]*?)\n```$/gm);
  for (const block of blocks) {
    let pending = '';
    for (const line of block[1].split('\n')) {
      if (line.endsWith('\\')) {
        pending += `${line.slice(0, -1).trimEnd()} `;
        continue;
      }
      lines.push(pending + line.trimStart());
      pending = '';
    }
  }
  return lines;
}

/** Every inline code span. */
export function inlineCodes(markdown: string): string[] {
  const withoutBlocks = markdown.replace(/^```[\s\S]*?^```$/gm, '');
  return [...withoutBlocks.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]);
}

/** Headings as `{ level, text }`, outside code blocks. */
export function headings(markdown: string): { level: number; text: string }[] {
  const withoutBlocks = markdown.replace(/^```[\s\S]*?^```$/gm, '');
  return [...withoutBlocks.matchAll(/^(#{1,6}) (.+)$/gm)].map((m) => ({ level: m[1].length, text: m[2] }));
}

/** The parts of a document under each heading of `level` whose text starts with `prefix`. */
export function sectionsAt(markdown: string, level: number, prefix: string): string[] {
  const marker = `${'#'.repeat(level)} `;
  const parts: string[] = [];
  let current: string[] | undefined;
  let inCode = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) inCode = !inCode;
    const isHeading = !inCode && /^#{1,6} /.test(line) && line.indexOf(' ') <= level;
    if (isHeading) {
      if (current) parts.push(current.join('\n'));
      current = line.startsWith(marker) && line.slice(marker.length).startsWith(prefix) ? [line] : undefined;
      continue;
    }
    current?.push(line);
  }
  if (current) parts.push(current.join('\n'));
  return parts;
}

/**
 * Splits a shell command line into words as bash would for the simple lines of the runbooks:
 * single and double quotes, `$VAR` and `${VAR}` from `vars` (an unknown variable is an error),
 * and a trailing `# comment`.
 */
export function shellWords(line: string, vars: Record<string, string>): string[] {
  const words: string[] = [];
  let word: string | undefined;
  const expand = (name: string) => {
    if (!(name in vars)) throw new Error(`unknown variable $${name} in: ${line}`);
    return vars[name];
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === ' ' || c === '\t') {
      if (word !== undefined) words.push(word);
      word = undefined;
      continue;
    }
    if (c === '#' && word === undefined) break;
    word ??= '';
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unclosed ' in: ${line}`);
      word += line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length) {
          word += line[++j];
        } else if (line[j] === '$') {
          const m = /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/.exec(line.slice(j));
          if (!m) throw new Error(`unsupported $ in: ${line}`);
          word += expand(m[1] ?? m[2]);
          j += m[0].length - 1;
        } else {
          word += line[j];
        }
      }
      if (j >= line.length) throw new Error(`unclosed " in: ${line}`);
      i = j;
    } else if (c === '$') {
      const m = /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/.exec(line.slice(i));
      if (!m) throw new Error(`unsupported $ in: ${line}`);
      word += expand(m[1] ?? m[2]);
      i += m[0].length - 1;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
    } else {
      word += c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}
