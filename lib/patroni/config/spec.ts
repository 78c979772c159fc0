// The one input every renderer takes. Pure data: no CDK import, no tokens resolved here.
// PatroniCluster fills it with CDK tokens and secret placeholders; the local cluster fills it
// with namespace addresses, per-node directories and generated passwords.

/** How Patroni keeps a synchronous standby. Rendered into `bootstrap.dcs`. */
export type SyncMode = 'on' | 'strict' | 'off';

/** Patroni's `watchdog.mode`. Always rendered quoted: PyYAML reads a bare `off` as false. */
export type WatchdogModeName = 'required' | 'automatic' | 'off';

export interface ClusterNode {
  /** Patroni member name and etcd member name, e.g. `pg-0`. */
  readonly name: string;
  /** The address the other nodes and clients reach this node on (never 127.0.0.1). */
  readonly address: string;
  /**
   * This node's directories, when they differ from the other nodes' (the local cluster gives each
   * node its own tree on one filesystem).
   * @default - `ClusterSpec.paths`
   */
  readonly paths?: NodePaths;
}

export interface ClusterPorts {
  readonly postgres: number; // 5432
  readonly restApi: number; // 8008
  readonly etcdClient: number; // 2379
  readonly etcdPeer: number; // 2380
  /** etcd's /health and /metrics without a client certificate (plain HTTP, on the node address; nothing else is served there). */
  readonly etcdMetrics: number; // 2381
  readonly haproxyPrimary: number; // 5000
  readonly haproxyReplica: number; // 5001
  /** HAProxy's own health endpoint, for the NLB target group's health check. */
  readonly haproxyHealth: number; // 8404
}

export interface ClusterTiming {
  /** Leader key lifetime. */
  readonly ttlSeconds: number;
  readonly loopWaitSeconds: number;
  readonly retryTimeoutSeconds: number;
  /** HAProxy check cadence against Patroni's REST API. */
  readonly haproxyCheckIntervalMs: number;
  readonly haproxyFall: number;
  readonly haproxyRise: number;
  /**
   * The writer listener's switchover options: down and changing servers checked every 200 ms, a
   * refused connection retried on another server and made a reason to decide at the next check.
   * Off only for the benchmark's stock baseline. @default true
   */
  readonly haproxyWriterFastChecks?: boolean;
  /** etcd Raft timings, chosen for the profile. */
  readonly etcdHeartbeatMs: number;
  readonly etcdElectionTimeoutMs: number;
}

/** Where things live on a node. EC2 uses the Debian defaults; the local cluster one tree per node. */
export interface NodePaths {
  /** Directory holding patroni.yml, etcd.conf.yml, haproxy.cfg and the callback script. */
  readonly configDir: string;
  /** PostgreSQL data directory (PGDATA). */
  readonly dataDir: string;
  /** PostgreSQL binaries, e.g. /usr/lib/postgresql/15/bin. */
  readonly binDir: string;
  /** Unix socket directory (must differ per node when nodes share a filesystem). */
  readonly socketDir: string;
  /** Patroni's pgpass file. */
  readonly pgpass: string;
  readonly etcdDataDir: string;
  /** Patroni and PostgreSQL log directory. */
  readonly logDir: string;
  /** Runtime directory for pid files and the HAProxy stats socket. */
  readonly runDir: string;
}

export interface ClusterCredentials {
  readonly superuser: { readonly username: string; readonly password: string };
  readonly replication: { readonly username: string; readonly password: string };
  readonly rewind: { readonly username: string; readonly password: string };
  /** Basic auth on the REST API's unsafe methods (POST, PUT, PATCH, DELETE). */
  readonly restApi: { readonly username: string; readonly password: string };
}

/** One pgBackRest repository in S3 (or an S3-compatible server: the local cluster's stand-in). */
export interface BackupRepositorySpec {
  readonly bucket: string;
  readonly region: string;
  /** S3 endpoint host name: the TLS name checked and the Host header, e.g. `s3.eu-west-1.amazonaws.com`. */
  readonly endpoint: string;
  /** The repository's path in the bucket (`/<clusterName>`): the node role may touch nothing else. */
  readonly path: string;
  /** `host` (AWS: bucket.endpoint) or `path` (S3-compatible servers). */
  readonly uriStyle: 'host' | 'path';
  /** Shared keys (the local stand-in only); absent: the instance role's credentials (`repo-s3-key-type=auto`). */
  readonly sharedKey?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Connect to this address instead of the endpoint's (the local stand-in). */
  readonly storageHost?: string;
  /** @default 443 */
  readonly storagePort?: number;
  /** A CA bundle other than the system's (the local stand-in's own CA). */
  readonly caFile?: string;
  /** Full backups kept (pgBackRest expires older ones and the WAL only they need). */
  readonly retentionFull: number;
}

/** Where a new cluster's first leader comes from, instead of initdb. */
export interface RestoreSourceSpec {
  /** The pgBackRest stanza (the source cluster's name). */
  readonly stanza: string;
  /** The source cluster's repository path in `BackupSpec.repositories[0]`'s bucket. */
  readonly path: string;
  /** `latest`: all WAL there is; `time`: an ISO-8601 instant; `name`: a restore point's name. */
  readonly target: { readonly type: 'latest' } | { readonly type: 'time'; readonly time: string } | { readonly type: 'name'; readonly name: string };
}

/** Continuous WAL archiving and scheduled backups with pgBackRest. */
export interface BackupSpec {
  /** One or two repositories; WAL goes to each, every scheduled backup to each in turn. */
  readonly repositories: readonly BackupRepositorySpec[];
  /** PostgreSQL `archive_timeout`: the most WAL (in time) a lost cluster can lose. */
  readonly archiveTimeoutSeconds: number;
  /** systemd `OnCalendar` expressions of the scheduled backups. */
  readonly schedules: { readonly full: string; readonly diff: string };
  /** Bootstrap the cluster from a repository instead of initdb (first boot only). */
  readonly restoreFrom?: RestoreSourceSpec;
  /**
   * Follow another cluster as a Patroni standby cluster (first boot only): its standby leader is
   * made from the primary's repository and replays the primary's archived WAL until promoted.
   */
  readonly standbyOf?: StandbySourceSpec;
}

/** The primary cluster a standby cluster follows, through its pgBackRest repository. */
export interface StandbySourceSpec {
  /** The primary's pgBackRest stanza (its cluster name). */
  readonly stanza: string;
  /** The primary's repository path in `BackupSpec.repositories[0]`'s bucket. */
  readonly path: string;
  /**
   * The primary's writer endpoint, to stream from as well (Patroni's `standby_cluster.host`/`port`):
   * the standby leader streams while it can reach it and replays the repository when it cannot.
   * Replication checks it with the nodes' replication settings (with TLS, `verify-full` against the
   * database CA file, which must then hold the primary's database CA too). @default - the repository only
   */
  readonly host?: string;
  /** @default - the primary's writer port is required with `host` */
  readonly port?: number;
  /**
   * The primary's database CA certificate (PEM, or a placeholder filled at deploy), with `host`:
   * the node agent appends it to the nodes' database CA file, so that replication's `verify-full`
   * accepts the primary's server certificate. @default - the database CA file as issued (a local
   * cluster's link adds it itself)
   */
  readonly primaryDatabaseCa?: string;
}

export interface ClusterSpec {
  /** Patroni `scope`; etcd key prefix. Lowercase letters, digits and hyphens. */
  readonly clusterName: string;
  readonly nodes: readonly ClusterNode[];
  readonly ports: ClusterPorts;
  readonly timing: ClusterTiming;
  readonly synchronousMode: SyncMode;
  /** Patroni `maximum_lag_on_failover`, bytes. */
  readonly maximumLagOnFailoverBytes: number;
  /** Lag, bytes, above which HAProxy's replica listener drops a replica (`/replica?lag=`). */
  readonly replicaMaxLagBytes: number;
  readonly watchdogMode: WatchdogModeName;
  /** PostgreSQL major version, e.g. 15. */
  readonly postgresVersion: number;
  /** Extra PostgreSQL parameters (those Patroni manages are refused before this point). */
  readonly postgresParameters: Readonly<Record<string, string | number | boolean>>;
  /** CIDRs of the cluster's own nodes (replication and member traffic). */
  readonly clusterCidrs: readonly string[];
  /** CIDRs clients connect from (through HAProxy, so usually the nodes' own CIDRs plus the NLB's). */
  readonly clientCidrs: readonly string[];
  readonly credentials: ClusterCredentials;
  /** CloudWatch namespace the node metrics go to (used by the callback and metrics publisher). */
  readonly metricsNamespace: string;
  /**
   * Where things live on every node (a node's own `paths` wins).
   * @default - `debianNodePaths(postgresVersion)`: the layout the EC2 bootstrap script prepares
   */
  readonly paths?: NodePaths;
  /**
   * Region the role-change callback publishes its metric to. The AWS CLI on a node has no region
   * configured, so EC2 nodes need it.
   * @default - the AWS CLI's own resolution (`AWS_REGION`, `~/.aws/config`)
   */
  readonly awsRegion?: string;
  /**
   * The role postgres's programs get from the node's credential broker (EC2 nodes: a placeholder
   * for the process role's ARN): the cluster's metrics and its backup repository, never the secrets.
   * @default - none: the local cluster, which has no IMDS
   */
  readonly processRoleArn?: string;
  /**
   * WAL archiving, scheduled backups and replicas from the repository.
   * @default - none: no archive, replicas by pg_basebackup from a member
   */
  readonly backup?: BackupSpec;
  /**
   * TLS on every link: etcd (clients and peers show certificates), Patroni's REST API (HTTPS, writes
   * from an allowlist), PostgreSQL (hostssl only; replication and pg_rewind with verify-full). The
   * files are at `tlsFilePath(paths, ...)` before the services start: whoever issues the
   * certificates writes them (they are never rendered).
   * @default false - plain HTTP
   */
  readonly tls?: boolean;
  /**
   * CIDRs operators' tools (the CLI, curl) send Patroni REST API writes from, besides the nodes
   * themselves: with `tls`, the REST API's allowlist.
   * @default - the nodes only
   */
  readonly operatorCidrs?: readonly string[];
  /**
   * An HTTP proxy apt reaches Debian's archive through (`http://host[:port]`).
   * @default - none: the archive directly
   */
  readonly aptProxy?: string;
  /**
   * AWS's SSM agent, installed from the region's distribution when its signature verifies against
   * this key (see ssm-agent.ts).
   * @default - not installed
   */
  readonly ssmAgent?: SsmAgentSpec;
}

/** The keys the SSM agent's package must be signed by, and what a failure to install it does. */
export interface SsmAgentSpec {
  /** The binary OpenPGP public keys (gpgv's keyring), base64. */
  readonly keyring: string;
  /** Their primary keys' fingerprints, 40 upper-case hex digits: the signature must come from one (or its subkey). */
  readonly fingerprints: readonly string[];
  /** A first boot that cannot install it fails; otherwise the node's agent installs it once the node is ready. */
  readonly required: boolean;
}
