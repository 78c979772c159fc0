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

/** `http://address:port` (or https), bracketing an IPv6 address. */
export function httpBase(address: string, port: number, scheme: 'http' | 'https' = 'http'): string {
  return `${scheme}://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/**
 * Python: `opener(cafile, certfile=None, keyfile=None)`, a urllib opener that ignores proxy
 * variables and, given the cluster CA's file, checks HTTPS servers against it alone (their address
 * included), showing the client certificate when given one (Patroni's REST API wants one for writes).
 */
export const URL_OPENER_PY = `def opener(cafile, certfile=None, keyfile=None):
    import ssl
    handlers = [urllib.request.ProxyHandler({})]
    if cafile:
        context = ssl.create_default_context(cafile=cafile)
        if certfile:
            context.load_cert_chain(certfile, keyfile)
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers)`;
