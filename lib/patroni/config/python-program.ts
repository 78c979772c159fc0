// The rendered Python programs (metrics publisher, backup runner) share one shape: a header, the
// node's CONFIG as JSON, then a body that is the same on every node.

/**
 * `#!/usr/bin/python3`, the comment lines, `CONFIG = json.loads(r'''...''')` and `body`. One key a
 * line, in a raw triple-quoted string: with every ' escaped, no value can end it.
 */
export function renderPythonProgram(comment: readonly string[], config: Record<string, unknown>, body: string): string {
  const json = `{\n${Object.entries(config)
    .map(([key, value]) => ` ${JSON.stringify(key)}: ${JSON.stringify(value)}`)
    .join(',\n')}\n}`.replace(/'/g, '\\u0027');
  return `#!/usr/bin/python3
${comment.map((line) => `# ${line}`).join('\n')}
import json

CONFIG = json.loads(r'''${json}''')

${body}`;
}

/** `http://address:port`, bracketing an IPv6 address. */
export function httpBase(address: string, port: number): string {
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}
