import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { LocalCluster } from '../local/cluster';
import { OpsError, UsageError } from './errors';
import type { OperatorTlsSecret } from '../tls/secret-format';
import { identityAmong, NodeHttpTransport, type TlsPems } from './http-transport';
import { readOperatorTls, saveSecretCommand, TLS_SECRET_FILE_OPTION } from './operator-tls';
import { PatroniClient } from './patroni-client';
import { LocalSqlRunner, PgSqlRunner, type SqlRunner } from './sql';
import { filterByPath, readStackOutputsIn, selectConstruct, stackRegion, type DnsFailoverOutputs, type PatroniClusterOutputs } from './stack-outputs';

/** Where the ops commands act: the CLI's target options. */
export interface TargetOptions {
  /** The local rehearsal cluster. */
  readonly local?: boolean;
  /** Its name. @default 'local' */
  readonly cluster?: string;
  readonly stateRoot?: string;
  /** A deployed stack (outputs read with CloudFormation DescribeStacks). */
  readonly stack?: string;
  /** The stack's region. @default - AWS_REGION / the SDK's default */
  readonly region?: string;
  /** Which DnsFailover / PatroniCluster of the stack, by construct path (or its tail). */
  readonly construct?: string;
  /** Patroni REST API base URLs, overriding the stack's node addresses (SSM port forwarding, VPN). */
  readonly patroniUrl?: readonly string[];
  /** The writer endpoint as a postgres:// URI, overriding the stack's. */
  readonly writerUri?: string;
  /** DNS drill by IDs, without a stack. */
  readonly healthCheckId?: string;
  readonly secondaryHealthCheckId?: string;
  readonly hostedZoneId?: string;
  readonly recordName?: string;
  /**
   * The operator TLS secret (`operatorTlsSecretArn`) saved as a file: the CA Patroni's REST API
   * and PostgreSQL are checked against, and the client certificate. Required for a stack whose
   * cluster runs TLS. @default - FAILOVER_TLS_SECRET_FILE
   */
  readonly tlsSecretFile?: string;
}

export interface ResolvedTarget {
  readonly kind: 'local' | 'aws' | 'direct';
  /** For the report: 'local:<cluster>', 'aws:<stack>@<region>', 'direct'. */
  readonly environment: string;
  /** DnsFailovers to drill (none for the local cluster). */
  readonly dnsFailovers: readonly DnsFailoverOutputs[];
  /** Why there is no Patroni cluster here, or undefined when there is one. */
  readonly noDatabase?: string;
  /** Why there is no DnsFailover here, or undefined when there is one. */
  readonly noDns?: string;
  patroni(): PatroniClient;
  sql(): SqlRunner;
  /** The Patroni cluster acted on, for what is written about it; throws when the target does not say (Patroni URLs alone). */
  clusterFacts(): TargetCluster;
}

/** What a target knows of its Patroni cluster beyond Patroni itself. */
export interface TargetCluster {
  /** Patroni's scope: the cluster name. */
  readonly name: string;
  /** Nodes, each an etcd member. */
  readonly members: number;
  /** The lag limit of a healthy replica (the construct's `replicaMaxLag`), in bytes. */
  readonly replicaMaxLagBytes: number;
  /** Where its runbook is, in words: 'Shop.runbook.md, database Shop/Db'. */
  readonly runbook: string;
}

export interface TargetDependencies {
  readonly env?: NodeJS.ProcessEnv;
  readonly cloudFormation?: (region: string | undefined) => CloudFormationClient;
  readonly signal?: AbortSignal;
}

/**
 * The target named by the options. Credentials outside the local cluster come from the
 * environment, never from a command line: PATRONI_REST_USERNAME (default 'patroni') and
 * PATRONI_REST_PASSWORD for Patroni's REST API; PGUSER (default 'postgres'), PGPASSWORD,
 * PGDATABASE (default 'postgres') for the writer endpoint.
 */
export async function resolveTarget(options: TargetOptions, deps: TargetDependencies = {}): Promise<ResolvedTarget> {
  const env = deps.env ?? process.env;
  const dnsIds = !!(options.healthCheckId || options.hostedZoneId || options.recordName || options.secondaryHealthCheckId);
  if (options.local && options.stack) throw new UsageError('give either --local or --stack, not both');
  if (options.local && (options.patroniUrl?.length || options.writerUri || dnsIds)) {
    throw new UsageError('--local takes no --patroni-url, --writer-uri or health check options: the local cluster knows its own');
  }
  const byIds = dnsIds ? dnsFromIds(options) : undefined;
  const restAuth = env.PATRONI_REST_PASSWORD ? { username: env.PATRONI_REST_USERNAME || 'patroni', password: env.PATRONI_REST_PASSWORD } : undefined;
  // The environment's file is for deployed clusters: the local cluster knows its own CA.
  const tlsFile = options.tlsSecretFile ?? (options.local ? undefined : env.FAILOVER_TLS_SECRET_FILE || undefined);
  if (options.local && tlsFile) throw new UsageError(`--local takes no ${TLS_SECRET_FILE_OPTION}: the local cluster knows its own CA`);
  // Read (and checked) before anything is asked of the cluster: a bad file is a usage error.
  const tls = tlsFile ? readOperatorTls(tlsFile) : undefined;

  if (options.local) {
    const cluster = LocalCluster.open({ clusterName: options.cluster ?? 'local', stateRoot: options.stateRoot });
    return {
      kind: 'local',
      environment: `local:${cluster.clusterName}`,
      dnsFailovers: [],
      noDns: 'the local cluster has no Route 53: the DNS drill runs against a deployed stack (--stack) or health check IDs',
      patroni: () => cluster.patroni(),
      sql: () => new LocalSqlRunner(cluster),
      clusterFacts: () => ({ name: cluster.clusterName, members: cluster.nodeNames.length, replicaMaxLagBytes: cluster.spec.replicaMaxLagBytes, runbook: `the local cluster ${cluster.clusterName} (docs/local-cluster.md)` }),
    };
  }

  if (options.stack) {
    const region = stackRegion(options.region, env);
    const outputs = await readStackOutputsIn(region, options.stack, deps.cloudFormation, deps.signal);
    const dns = byIds ? [byIds] : filterByPath(outputs.dnsFailovers, options.construct);
    const clusters = filterByPath(outputs.clusters, options.construct);
    const cluster = clusters.length ? () => selectConstruct(clusters, undefined, 'PatroniCluster', options.stack!) : undefined;
    return {
      kind: 'aws',
      environment: `aws:${options.stack}@${region ?? 'default-region'}`,
      dnsFailovers: dns,
      noDns: dns.length ? undefined : `stack ${options.stack} has no DnsFailover${options.construct ? ` at '${options.construct}'` : ''}`,
      noDatabase: cluster || options.patroniUrl?.length ? undefined : `stack ${options.stack} has no PatroniCluster${options.construct ? ` at '${options.construct}'` : ''}`,
      patroni: () => {
        if (options.patroniUrl?.length) {
          // Forwarded ports (https://127.0.0.1:18008,...): a certificate naming any node of the
          // cluster will do. Which cluster matters only with TLS; without, the URLs are enough.
          const forwarded = tls && cluster ? requireCluster(cluster, options.stack!) : clusters.length === 1 ? clusters[0] : undefined;
          checkTlsFile(options.stack!, forwarded, tls);
          return new PatroniClient({ urls: [...options.patroniUrl], auth: restAuth, transport: new NodeHttpTransport(restTls(tls, forwarded?.nodeAddresses)) });
        }
        const deployed = requireCluster(cluster, options.stack!);
        checkTlsFile(options.stack!, deployed, tls);
        const scheme = deployed.operatorTlsSecretArn ? 'https' : 'http';
        return new PatroniClient({ urls: deployed.nodeAddresses.map((a) => `${scheme}://${a}:8008`), auth: restAuth, transport: new NodeHttpTransport(restTls(tls)) });
      },
      sql: () => {
        const c = cluster ? requireCluster(cluster, options.stack!) : undefined;
        checkTlsFile(options.stack!, c, tls);
        return awsSql(options, env, c, tls?.databaseCaCert);
      },
      clusterFacts: () => {
        const c = requireCluster(cluster, options.stack!);
        if (c.replicaMaxLagBytes === undefined) {
          throw new OpsError(`stack ${options.stack}: PatroniCluster ${c.path} has no replicaMaxLagBytes output (deployed with an older cdk-failover): redeploy it, or take the rules from cdk synth`);
        }
        return { name: c.clusterName, members: c.nodeAddresses.length, replicaMaxLagBytes: c.replicaMaxLagBytes, runbook: `${options.stack}.runbook.md, database ${c.path}` };
      },
    };
  }

  if (options.patroniUrl?.length || byIds) {
    return {
      kind: 'direct',
      environment: 'direct',
      dnsFailovers: byIds ? [byIds] : [],
      noDns: byIds ? undefined : 'no --health-check-id, --hosted-zone-id and --record-name given',
      noDatabase: options.patroniUrl?.length ? undefined : 'no --patroni-url given',
      patroni: () => {
        if (!options.patroniUrl?.length) throw new UsageError('no Patroni cluster: give --patroni-url, --stack or --local');
        return new PatroniClient({ urls: [...options.patroniUrl], auth: restAuth, transport: new NodeHttpTransport(restTls(tls)) });
      },
      sql: () => awsSql(options, env, undefined, tls?.databaseCaCert),
      clusterFacts: () => {
        throw new UsageError('Patroni URLs do not name the cluster: give --stack or --local');
      },
    };
  }
  throw new UsageError('no target: give --local (the local cluster), --stack NAME [--region R] (a deployed stack), or --patroni-url / --health-check-id');
}

function dnsFromIds(options: TargetOptions): DnsFailoverOutputs {
  const missing = [
    !options.healthCheckId && '--health-check-id',
    !options.hostedZoneId && '--hosted-zone-id',
    !options.recordName && '--record-name',
  ].filter(Boolean);
  if (missing.length) throw new UsageError(`a DNS drill by IDs needs ${missing.join(', ')}`);
  return {
    path: '',
    primaryHealthCheckId: options.healthCheckId!,
    secondaryHealthCheckId: options.secondaryHealthCheckId,
    hostedZoneId: options.hostedZoneId!.replace(/^\/hostedzone\//, ''),
    recordName: options.recordName!,
  };
}

/** The REST API's trust: the cluster CA, and the operator certificate (etcd and Patroni ask for one). */
function restTls(tls: OperatorTlsSecret | undefined, serverNames?: readonly string[]): TlsPems | undefined {
  return tls ? { ca: tls.caCert, cert: tls.cert, key: tls.key, serverNames } : undefined;
}

/** A TLS cluster needs the operator secret's file; a cluster without TLS has nothing to check it against. */
function checkTlsFile(stack: string, cluster: PatroniClusterOutputs | undefined, tls: OperatorTlsSecret | undefined): void {
  if (!cluster) return;
  if (cluster.operatorTlsSecretArn && !tls) {
    throw new UsageError(
      `stack ${stack}'s cluster runs TLS: save its operator secret (${saveSecretCommand(cluster.operatorTlsSecretArn)}) and give ${TLS_SECRET_FILE_OPTION} operator-tls.json`,
    );
  }
  if (!cluster.operatorTlsSecretArn && tls) {
    throw new UsageError(`stack ${stack}'s cluster ${cluster.path} runs without TLS: drop ${TLS_SECRET_FILE_OPTION} (or FAILOVER_TLS_SECRET_FILE)`);
  }
}

function requireCluster(select: (() => PatroniClusterOutputs) | undefined, stack: string): PatroniClusterOutputs {
  if (!select) throw new UsageError(`stack ${stack} has no PatroniCluster outputs`);
  return select();
}

/**
 * node-postgres to the writer. `databaseCa`: the database CA; with it the connection is TLS and
 * verify-full (node's TLS checks the chain and the host name against the certificate).
 */
function awsSql(options: TargetOptions, env: NodeJS.ProcessEnv, cluster: PatroniClusterOutputs | undefined, databaseCa?: string): SqlRunner {
  const uri = options.writerUri ?? env.FAILOVER_WRITER_URI;
  if (uri) {
    // A forwarded port (127.0.0.1) reaches one of the stack's nodes or its load balancer: the
    // database certificate must name one of them. The URI's own sslmode, if any, wins.
    if (!databaseCa) return new PgSqlRunner(uri);
    const names = cluster ? [...cluster.nodeAddresses, cluster.writerEndpoint.replace(/:\d+$/, '')] : undefined;
    return new PgSqlRunner(uri, { ca: databaseCa, rejectUnauthorized: true, ...(names ? { checkServerIdentity: identityAmong(names) } : {}) });
  }
  if (!cluster) throw new UsageError('no writer endpoint: give --writer-uri (or FAILOVER_WRITER_URI), or --stack');
  if (!env.PGPASSWORD) {
    throw new UsageError(`set PGPASSWORD to the superuser password (secret ${cluster.superuserSecretArn}) or give --writer-uri`);
  }
  const cut = cluster.writerEndpoint.lastIndexOf(':');
  return new PgSqlRunner({
    host: cut > 0 ? cluster.writerEndpoint.slice(0, cut) : cluster.writerEndpoint,
    port: cut > 0 ? Number(cluster.writerEndpoint.slice(cut + 1)) : 5432,
    user: env.PGUSER || 'postgres',
    password: env.PGPASSWORD,
    database: env.PGDATABASE || 'postgres',
    ...(databaseCa ? { ssl: { ca: databaseCa, rejectUnauthorized: true } } : {}),
  });
}
