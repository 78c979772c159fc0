// Building blocks for the rendered bash scripts: values are single-quoted, files are embedded in
// quoted heredocs, so nothing in them is ever expanded by the shell.

/** `value` as one bash word that expands to exactly `value`. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * `command <<'DELIMITER'` followed by `content` and the delimiter: the content reaches the command
 * byte for byte. Throws if a line of the content equals the delimiter (it would end the heredoc early).
 */
export function quotedHeredoc(command: string, delimiter: string, content: string): string {
  if (content.split('\n').includes(delimiter)) {
    throw new Error(`content for '${command}' contains a line equal to its heredoc delimiter '${delimiter}'`);
  }
  const body = content.endsWith('\n') ? content : `${content}\n`;
  return `${command} <<'${delimiter}'\n${body}${delimiter}`;
}
