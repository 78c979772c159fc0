// The ops CLI's command lines as the runbooks print them (flags as lib/cli/ops.ts defines them).
import { shellWord } from './markdown';
import { RunbookContext } from './stack-context';

/** Patroni REST API ports on this machine, one per node, when forwarded through Session Manager. */
export const FORWARDED_REST_API_PORT_BASE = 18008;
/** The local port forwarded to a node's HAProxy primary listener (the leader's PostgreSQL). */
export const FORWARDED_WRITER_PORT = 15432;

/**
 * `npx failover <command...> --stack S --region R --construct PATH [extra...]`. `--construct`
 * always names the construct, so that a stack with several (or with both kinds) is unambiguous.
 */
export function failoverCli(context: RunbookContext, constructPath: string, command: readonly string[], extra: readonly string[] = []): string {
  return [
    'npx failover',
    ...command,
    '--stack',
    context.stackName,
    '--region',
    context.regionArg,
    '--construct',
    shellWord(constructPath),
    ...extra,
  ].join(' ');
}

/** The operator TLS secret as the runbooks save it, for `--tls-secret-file`. */
export const OPERATOR_TLS_FILE = 'operator-tls.json';

/**
 * `--patroni-url http://127.0.0.1:18008,...` for `nodeCount` forwarded nodes; with TLS, https and
 * `--tls-secret-file` (the CLI checks the certificates against the stack's node addresses).
 */
export function forwardedPatroniUrls(nodeCount: number, tls: boolean): string[] {
  const urls = Array.from({ length: nodeCount }, (_, i) => `${tls ? 'https' : 'http'}://127.0.0.1:${FORWARDED_REST_API_PORT_BASE + i}`);
  return ['--patroni-url', urls.join(','), ...(tls ? ['--tls-secret-file', OPERATOR_TLS_FILE] : [])];
}

/** `--writer-uri postgresql://postgres@127.0.0.1:15432/postgres` (the password comes from PGPASSWORD). */
export function forwardedWriterUri(superuser: string): string[] {
  return ['--writer-uri', `postgresql://${superuser}@127.0.0.1:${FORWARDED_WRITER_PORT}/postgres`];
}
