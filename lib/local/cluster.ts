import type { StdioOptions } from 'node:child_process';
import { randomUUID, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { configFilePath, SYSTEMD_UNIT_NAMES, type ClusterSpec, type ClusterTiming } from '../patroni/config';
import { tlsFilePath } from '../patroni/config/tls';
import { LocalClusterError, oneLine } from './errors';
import { NamespaceHttpTransport } from '../ops/http-transport';
import { PatroniClient } from '../ops/patroni-client';
import type { RunningCommand } from '../util/command';
import { run, runInNamespace, sleep, spawnInNamespace, type RunOptions, type RunResult } from './exec';
import { nodeServiceArgv, renderNodeFiles, frontFiles, FRONT_CONFIG } from './files';
import { assessHealth, patroniTimeMs, type HealthVerdict } from './health';
import { checkClusterName, clusterDir, createNodeTree, DEFAULT_STATE_ROOT, etcdUser, postgresUser, stateFile, writeFiles } from './layout';
import { localTlsFiles, reissueLocalCertificates, writeLocalCertificates, writeNodeCertificates } from './certificates';
import { etcdScheme } from '../patroni/config/etcd';
import { restApiUrl } from '../patroni/config/rest-api';
import { withClusterLock } from './lock';
import { buildLocalSpec, CLIENT_ADDRESS, PREFIX_LENGTH, SUBNET, SUBNET_BASE } from './local-spec';
import { BRIDGE, createNetwork, interfaceIsUp, namespacePids, namespacePrefix, POD_INTERFACE, setInterfaceUp } from './network';
import { BOOTED_PACKAGES, ensurePackages, LOCAL_CLUSTER_PACKAGES } from './packages';
import {
  isRunning,
  isStopped,
  recordedPidInNamespace,
  signal,
  startDetached,
  waitForExitOf,
  type ProcessRecord,
} from './processes';
import { checkTiming, isTimingProfileName, TIMING_PROFILES, type TimingProfileName } from './profiles';
import {
  httpInNamespace,
  isRunningState,
  parseJson,
  type HttpAnswer,
  type HttpRequest,
  type HttpsOptions,
  type PatroniClusterView,
  type PatroniMember,
  type PatroniNodeStatus,
} from './rest';
import { nodeServices, readState, writeState, type ClusterMode, type LocalClusterState, type LocalNodeState, type StandbyPeeringState, type NodeFaults, type NodeService } from './state';
import { PEERING_PORT, startPeering } from './peering';
import * as booted from './boot/booted-nodes';
import { containerInit, runInContainer, spawnInContainer, stopContainer, waitForInit } from './boot/container';
import { standInSsmAgentKey } from './boot/ssm-agent-standin';
import { readRecordedMetrics, readRecordedSignals, type RecordedDatum } from './boot/aws-standin';
import { handleSignals, waitForGeneration } from './boot/apply';
import type { RehearsalStack } from './boot/rehearsal-stack';
import { REHEARSAL_IMAGE_ID } from './boot/rehearsal-names';
import { checkImageId, REBOOT_GRACE_MS, RootVolumeTasks } from './boot/root-volume-host';
import { ROOT_VOLUME_TASKS_FILE } from './boot/root-volume-tasks';
import { AGENT_UNIT_NAMES, NODE_AGENT_PATH } from '../patroni/config/agent-units';
import { leftoversExist, teardown, type TeardownReport } from './teardown';
import { checkRepositoryPathFree, localBackupSpec, startS3StandIn, writeNamespaceHosts } from './backup/repository';
import { checkPatroniTiming } from './patroni-version';
import { checkRestoreInto, checkRestoreSource, restoreSourceSpec, unreachableTarget, type LocalRestoreSource } from './backup/operations';
import { standbyPrimary, standbySource, standbySpec } from './standby';
import { found as done, giveUp, notYet, poll as waitFor } from '../ops/poll';

export interface LocalClusterOptions {
  /** Names the namespaces (`cdkfo-<cluster>-...`) and the state directory. @default 'local' */
  readonly clusterName?: string;
  /** @default '/var/tmp/cdk-failover-local' */
  readonly stateRoot?: string;
  /** Progress lines. @default - silent */
  readonly log?: (line: string) => void;
}

export interface UpOptions extends LocalClusterOptions {
  /** 3 or 5. @default 3 */
  readonly nodes?: number;
  /** A profile name or explicit numbers. @default 'default' */
  readonly timing?: TimingProfileName | ClusterTiming;
  /** How long to wait for a leader and streaming replicas. @default - 120 s fast, 240 s otherwise */
  readonly timeoutMs?: number;
  /** Install missing Debian packages. @default true */
  readonly installPackages?: boolean;
  /**
   * Boot each node as a Debian 12 system container that runs the synthesized template's user data
   * (see docs/local-cluster.md, "Booted nodes"). @default false
   */
  readonly boot?: boolean;
  /**
   * WAL archiving and backups with pgBackRest into the S3 stand-in (see docs/local-cluster.md,
   * "Backups"). @default false
   */
  readonly backup?: boolean;
  /** Make the cluster from another local cluster's backups (implies `backup`; the name must be new). */
  readonly restoreFrom?: LocalRestoreSource;
  /**
   * Make a standby cluster of this local cluster (implies `backup`; the name must be new): it
   * follows that cluster through the repository until `failover promote`.
   */
  readonly standbyOf?: string;
  /**
   * With `standbyOf`: stream from the primary's writer endpoint as well, through a relay that
   * stands in for the link between two regions (lib/local/peering.ts). @default false
   */
  readonly streaming?: boolean;
}

export type FaultKind = 'kill' | 'freeze' | 'partition' | 'kill-etcd' | 'heal' | 'reboot' | 'replace';
export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'freeze', 'partition', 'kill-etcd', 'heal', 'reboot', 'replace'];

/** One node in `status` (the first seven fields are the stable JSON interface). */
export interface LocalNodeStatus {
  readonly name: string;
  readonly address: string;
  /** `http://<address>:8008`, `https://` with TLS */
  readonly restApi: string;
  /** Patroni's role ('leader', 'sync_standby', 'replica'), or 'unknown' when no member says. */
  readonly role: string;
  /** Patroni's state ('running', 'starting', 'stopped', ...), or 'unknown'. */
  readonly state: string;
  readonly timeline: number | null;
  /** Bytes behind the leader (0 on the leader); null when Patroni does not know. */
  readonly lagBytes: number | null;
  readonly namespace: string;
  /** Faults this tool has in force on the node: 'killed', 'frozen', 'partitioned', 'etcd-killed'. */
  readonly faults: string[];
  /** The node's own HAProxy endpoints, host:port. */
  readonly writer: string;
  readonly reader: string;
}

/** `failover local status --json`. */
export interface LocalClusterStatus {
  readonly nodes: LocalNodeStatus[];
  /** The client namespace's front (NLB stand-in) for the leader, host:port. */
  readonly writer: string;
  readonly reader: string;
  /** Single-host URIs on the front: node-postgres and libpq both take them. */
  readonly writerUri: string;
  readonly readerUri: string;
  readonly clientNamespace: string;
  readonly cluster: string;
  readonly timingProfile: string;
  readonly timing: ClusterTiming;
  readonly leader: string | null;
  /** libpq only (node-postgres cannot parse it): every node's HAProxy, read-write target. */
  readonly writerMultiHostUri: string;
  /** Which node's REST API answered GET /cluster, or null when none did. */
  readonly source: string | null;
  /** 'processes' (services in namespaces) or 'booted' (each node a booted container). */
  readonly mode: ClusterMode;
  /** The cluster CA's certificate (PEM file): etcd's and Patroni's certificates chain to it. Null without TLS. */
  readonly caFile: string | null;
  /** The database CA's certificate (PEM file): PostgreSQL's certificate chains to it (the URIs' sslrootcert). Null without TLS. */
  readonly databaseCaFile: string | null;
  /** A standby cluster's readiness, or null for a primary (a promoted standby included). */
  readonly standby: LocalStandbyStatus | null;
}

/** How ready a standby cluster is to be promoted. */
export interface LocalStandbyStatus {
  /** The primary it follows. */
  readonly of: string;
  /** Its running standby leader, or null (nothing to promote). */
  readonly leader: string | null;
  /**
   * Seconds since the primary committed the last transaction the standby leader replayed (grows
   * while the primary commits nothing, too), or null when unknown.
   */
  readonly replayAgeSeconds: number | null;
}

/** What `rotateCertificates` rolled out: per node, in order, the serials it then served. */
export interface CertificateRotation {
  readonly nodes: readonly { readonly name: string; readonly etcd: string; readonly restApi: string; readonly postgres: string }[];
}

export interface SqlOptions {
  /** @default - the writer endpoint */
  readonly uri?: string;
  /** @default 15_000 */
  readonly timeoutMs?: number;
  /** Run psql on this node (its network namespace) instead of the client namespace. */
  readonly from?: string;
}

export interface WaitTimeout {
  readonly timeoutMs: number;
  /** @default 500 */
  readonly intervalMs?: number;
}

export interface WaitForHealthyOptions extends WaitTimeout {
  /** Members that must be running and streaming. @default every node without a fault in force */
  readonly members?: readonly string[];
  /** Why the cluster will never become healthy (ends the wait with that error), or undefined. */
  readonly giveUpIf?: () => string | undefined;
}

/** A booted node's reboot or replacement. */
export interface StopOptions {
  /**
   * Planned: `cdk-failover-agent drain` runs on the node first (under the cluster's lock, once the
   * cluster is healthy; the leader switches over, then Patroni stops), and its failure line is
   * thrown with nothing stopped. Not the default: a fault is an instance lost as it runs, and a
   * node whose boot failed cannot drain. @default false
   */
  readonly drain?: boolean;
}

export interface ReplaceOptions extends StopOptions {
  /** Attach the node's data volume to the new instance. @default true */
  readonly attachVolume?: boolean;
  /** Wait until the new instance's user data has run (and throw if it failed). @default true */
  readonly wait?: boolean;
}

/** How long the rehearsal waits for a node's drain (the agent bounds each of its own waits). */
const DRAIN_TIMEOUT_MS = 15 * 60_000;

export interface RestartAllOptions {
  /**
   * How long each node's shutdown may take before its container is killed. The shutdown drains
   * the node (the drain unit's ExecStop), and the drains take turns: the last node's waits until
   * the other two have gone down and come back. The default is past the 30 minutes after which the
   * node's own systemd forces the power-off (poweroff.target's JobTimeoutSec), so the node decides.
   * @default 2_100_000 (35 minutes)
   */
  readonly shutdownGraceMs?: number;
  /** How long each node may take, once booted again, until its user data says it is ready. @default 600_000 */
  readonly readyTimeoutMs?: number;
}

/** One node of `restartAll`: times in ms since the epoch. */
export interface NodeRestart {
  readonly name: string;
  /** Its container's shutdown asked for (the same instant for every node). */
  readonly stopAt: number;
  /** Its container exited. */
  readonly downAt: number;
  /** 'clean': systemd powered off within the grace; 'killed': it did not. */
  readonly shutdown: 'clean' | 'killed' | 'not running';
  /** Its container's systemd answers again. */
  readonly bootedAt: number;
  /** Its user data says it is ready (on a restart: it ran on the first boot). */
  readonly readyAt: number;
}

/** What `restartAll` did, the nodes in the order their containers exited. */
export interface RestartAllReport {
  readonly nodes: readonly NodeRestart[];
  readonly seconds: number;
}

/** See RestartAllOptions. */
const RESTART_ALL_GRACE_MS = 35 * 60_000;

/** How long a booted node's user data may take (package installs on a busy 2-core machine). */
const USER_DATA_TIMEOUT_MS = 600_000;

/** A changed specification for `apply`; what is left out stays as it is. */
export interface ApplyChange {
  readonly timing?: TimingProfileName | ClusterTiming;
  /** PostgreSQL parameters to set (added to those set before). */
  readonly parameters?: Readonly<Record<string, string>>;
  /**
   * A new machine image for every instance (`ami-` and 8 or 17 hex digits): each node's agent
   * replaces its own root volume (an EC2 replace-root-volume task, which the rehearsal performs),
   * one node at a time, the leader last after a switchover. @default - the image the cluster runs
   */
  readonly imageId?: string;
  /** @default 1_800_000 per node */
  readonly timeoutMs?: number;
}

export interface ExecOptions {
  /** @default 'inherit' */
  readonly stdio?: StdioOptions;
  /** Added to the environment (which also gets FAILOVER_WRITER_URI, FAILOVER_READER_URI, ...). */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/**
 * A local rehearsal cluster: 3 or 5 nodes, each in its own network namespace running etcd,
 * Patroni and HAProxy with the files lib/patroni/config renders, plus a client namespace holding
 * the NLB stand-in. Linux and root only.
 *
 * `LocalCluster.up()` boots one; `LocalCluster.open()` attaches to a running one from its state
 * file (another process may have booted it); `LocalCluster.down()` removes every trace of one.
 */
export class LocalCluster {
  /** Creates a cluster (first clearing stale state of the same name) and waits until it is healthy. */
  public static async up(options: UpOptions = {}): Promise<LocalCluster> {
    assertHost();
    const clusterName = options.clusterName ?? 'local';
    checkClusterName(clusterName);
    const stateRoot = path.resolve(options.stateRoot ?? DEFAULT_STATE_ROOT);
    const log = options.log ?? (() => undefined);
    const nodeCount = options.nodes ?? 3;
    if (nodeCount !== 3 && nodeCount !== 5) throw new LocalClusterError(`nodes must be 3 or 5, got ${nodeCount}`);
    if (options.streaming && options.standbyOf === undefined) throw new LocalClusterError('--streaming goes with --standby-of: it is how a standby follows its primary');
    const { timing, profile } = resolveTiming(options.timing ?? 'default');
    return withClusterLock(stateRoot, clusterName, 'up', () => LocalCluster.create(clusterName, stateRoot, nodeCount, timing, profile, options, log));
  }

  private static async create(
    clusterName: string,
    stateRoot: string,
    nodeCount: number,
    timing: ClusterTiming,
    profile: string,
    options: UpOptions,
    log: (line: string) => void,
  ): Promise<LocalCluster> {
    const started = Date.now();
    const withBackup = options.backup || options.restoreFrom !== undefined || options.standbyOf !== undefined;
    if (withBackup && options.boot) throw new LocalClusterError('backups are not rehearsed on booted nodes yet: leave out --boot');
    if (options.restoreFrom && options.standbyOf) throw new LocalClusterError('a cluster is either restored (--into) or a standby (--standby-of), not both');
    if (options.restoreFrom) await checkRestoreInto(clusterName, stateRoot, options.restoreFrom);
    const primary = options.standbyOf === undefined ? undefined : await standbyPrimary(clusterName, stateRoot, options.standbyOf, async (name) => {
            const config = await LocalCluster.open({ clusterName: name, stateRoot })
              .patroni()
              .dynamicConfig()
              .catch((err: unknown) => {
                throw new LocalClusterError(`cluster '${name}' was made as a standby and does not answer (${oneLine(err)}): whether it was promoted is unknown`);
              });
            return !config.standby_cluster;
          });
    if (withBackup) checkRepositoryPathFree(stateRoot, clusterName);

    if (options.installPackages ?? true) {
      const installed = await ensurePackages(options.boot ? [...LOCAL_CLUSTER_PACKAGES, ...BOOTED_PACKAGES] : LOCAL_CLUSTER_PACKAGES, log);
      if (installed.length) log(`installed ${installed.join(' ')}`);
    }
    // Booted nodes run the same check in their own boot (the node agent's check-patroni).
    if (!options.boot) await checkPatroniTiming(timing);
    if (await leftoversExist(clusterName, stateRoot)) {
      log(`clearing stale state of cluster '${clusterName}'`);
      await teardown(clusterName, stateRoot, log);
    }

    const dir = clusterDir(stateRoot, clusterName);
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    const plan = options.boot ? await booted.planBootedCluster({ clusterName, nodeCount, timing, dir, subnet: SUBNET, subnetBase: SUBNET_BASE, endpointAddress: CLIENT_ADDRESS }) : undefined;
    const built = plan?.spec ?? buildLocalSpec({ clusterName, nodeCount, timing, clusterDir: dir });
    const withRepository: ClusterSpec = withBackup ? { ...built, backup: localBackupSpec(stateRoot, clusterName, restoreSourceSpec(options.restoreFrom)) } : built;
    const spec = primary ? standbySpec(withRepository, primary, options.streaming ? { clientAddress: CLIENT_ADDRESS } : undefined) : withRepository;
    const prefix = namespacePrefix(clusterName);
    const state: LocalClusterState = {
      mode: plan ? 'booted' : 'processes',
      boot: plan?.cluster,
      version: 1,
      clusterName,
      stateRoot,
      dir,
      phase: 'creating',
      createdAt: new Date().toISOString(),
      timingProfile: profile,
      subnet: SUBNET,
      prefixLength: PREFIX_LENGTH,
      switchNamespace: `${prefix}sw`,
      client: { namespace: `${prefix}client`, address: CLIENT_ADDRESS, switchPort: 'vc', dir: path.join(dir, 'client'), processes: {} },
      ...(primary && options.streaming ? { peering: primary.peering } : {}),
      nodes: spec.nodes.map((n, i) => ({
        name: n.name,
        address: n.address,
        namespace: `${prefix}${n.name}`,
        switchPort: `v${i}`,
        dir: path.join(dir, n.name),
        paths: n.paths ?? spec.paths!,
        processes: {},
        faults: {},
        boot: plan?.nodes[i].boot,
      })),
      spec,
    };
    writeState(stateFile(stateRoot, clusterName), state);
    const cluster = new LocalCluster(state, log);
    try {
      await (plan ? cluster.bootContainers(plan, options.timeoutMs) : cluster.boot(options.timeoutMs));
    } catch (err) {
      if (options.restoreFrom || primary) {
        // A restore's or a standby's cluster is new: nothing in it is worth keeping, and its name is free again.
        await teardown(clusterName, stateRoot, log);
        throw new LocalClusterError(`${primary ? `standby '${clusterName}' of '${primary.clusterName}'` : `restore into '${clusterName}'`} failed and was removed: ${oneLine(err)}`);
      }
      cluster.update((s) => {
        s.phase = 'failed';
      });
      throw new LocalClusterError(`up failed: ${oneLine(err)} (logs under ${dir}; 'failover local down' removes everything)`);
    }
    log(`cluster '${clusterName}' is up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return cluster;
  }

  /** Attaches to the cluster a state file describes (booted by this or another process). */
  public static open(options: LocalClusterOptions = {}): LocalCluster {
    assertHost();
    const clusterName = options.clusterName ?? 'local';
    checkClusterName(clusterName);
    const stateRoot = path.resolve(options.stateRoot ?? DEFAULT_STATE_ROOT);
    const state = readState(stateFile(stateRoot, clusterName));
    if (!state) throw new LocalClusterError(`no local cluster '${clusterName}' (no ${stateFile(stateRoot, clusterName)}); run 'failover local up'`);
    return new LocalCluster(state, options.log ?? (() => undefined));
  }

  /** Removes every namespace, process and file of the cluster, whatever state it is in. Idempotent. */
  public static async down(options: LocalClusterOptions = {}): Promise<TeardownReport> {
    assertHost();
    const clusterName = options.clusterName ?? 'local';
    checkClusterName(clusterName);
    const stateRoot = path.resolve(options.stateRoot ?? DEFAULT_STATE_ROOT);
    return withClusterLock(stateRoot, clusterName, 'down', () => teardown(clusterName, stateRoot, options.log));
  }

  private constructor(
    private state: LocalClusterState,
    private readonly log: (line: string) => void,
  ) {}

  // ---- description -------------------------------------------------------------------------

  public get clusterName(): string {
    return this.state.clusterName;
  }

  /** The directory of every local cluster's state and of their shared repository. */
  public get stateRoot(): string {
    return this.state.stateRoot;
  }

  /** The renderers' input this cluster booted with (passwords included). */
  public get spec(): ClusterSpec {
    return this.state.spec;
  }

  public get timing(): ClusterTiming {
    return this.state.spec.timing;
  }

  /** 'processes' or 'booted'. */
  public get mode(): ClusterMode {
    return this.state.mode ?? 'processes';
  }

  public get timingProfile(): string {
    return this.state.timingProfile;
  }

  /** The instances' machine image (booted clusters): the rehearsal's until `apply({ imageId })`. */
  public get imageId(): string {
    return this.state.boot?.imageId ?? REHEARSAL_IMAGE_ID;
  }

  public get nodeNames(): string[] {
    return this.state.nodes.map((n) => n.name);
  }

  public get clientNamespace(): string {
    return this.state.client.namespace;
  }

  public get clientAddress(): string {
    return this.state.client.address;
  }

  /** The directory holding the state file and every node's tree. */
  public get dir(): string {
    return this.state.dir;
  }

  /** Every namespace of the cluster: switch, client, nodes. */
  public get namespaces(): string[] {
    return [this.state.switchNamespace, this.state.client.namespace, ...this.state.nodes.map((n) => n.namespace)];
  }

  public nodeNamespace(name: string): string {
    return this.node(name).namespace;
  }

  public nodeAddress(name: string): string {
    return this.node(name).address;
  }

  /** The node's directories (config, data, log, ...). */
  public nodePaths(name: string): LocalNodeState['paths'] {
    return this.node(name).paths;
  }

  public nodeFaults(name: string): NodeFaults {
    return { ...this.reload().node(name).faults };
  }

  /** The writer endpoint, host:port: the front in the client namespace, which follows the leader. */
  public get writer(): string {
    return `${this.state.client.address}:${this.spec.ports.haproxyPrimary}`;
  }

  public get reader(): string {
    return `${this.state.client.address}:${this.spec.ports.haproxyReplica}`;
  }

  public get writerUri(): string {
    return this.uri(this.writer);
  }

  public get readerUri(): string {
    return this.uri(this.reader);
  }

  /** A node's own HAProxy writer endpoint as a URI (e.g. to write through an isolated node). */
  public nodeWriterUri(name: string): string {
    return this.uri(`${this.node(name).address}:${this.spec.ports.haproxyPrimary}`);
  }

  public nodeReaderUri(name: string): string {
    return this.uri(`${this.node(name).address}:${this.spec.ports.haproxyReplica}`);
  }

  /**
   * A node's PostgreSQL itself, bypassing HAProxy. The superuser may log in over the network only
   * from the nodes: run it with `sql(..., { from: <node> })`.
   */
  public nodePostgresUri(name: string): string {
    return this.uri(`${this.node(name).address}:${this.spec.ports.postgres}`);
  }

  /** libpq only: every node's HAProxy writer port, `target_session_attrs=read-write`. */
  public get writerMultiHostUri(): string {
    const { username, password } = this.spec.credentials.superuser;
    const hosts = this.state.nodes.map((n) => `${n.address}:${this.spec.ports.haproxyPrimary}`).join(',');
    return `postgresql://${username}:${password}@${hosts}/postgres?${this.uriParameters()}&target_session_attrs=read-write`;
  }

  /** A node's REST API base URL (https with TLS, checked against the cluster CA: `restApiTls`). */
  public restApi(name: string): string {
    return restApiUrl(this.spec, this.node(name));
  }

  /** The CA a node's REST API certificate is checked against and the operator's certificate (writes need one), or undefined without TLS. */
  public get restApiTls(): HttpsOptions | undefined {
    return this.clientTls;
  }

  /** The environment `exec` gives a command in the client namespace. */
  public clientEnv(): NodeJS.ProcessEnv {
    const { username, password } = this.spec.credentials.superuser;
    return {
      FAILOVER_CLUSTER: this.clusterName,
      FAILOVER_WRITER: this.writer,
      FAILOVER_READER: this.reader,
      FAILOVER_WRITER_URI: this.writerUri,
      FAILOVER_READER_URI: this.readerUri,
      FAILOVER_NODES: this.state.nodes.map((n) => `${n.name}=${n.address}`).join(','),
      // Plain `psql` or `pgbench` reaches the writer.
      PGHOST: this.state.client.address,
      PGPORT: String(this.spec.ports.haproxyPrimary),
      PGUSER: username,
      PGPASSWORD: password,
      PGDATABASE: 'postgres',
      PGCONNECT_TIMEOUT: '2',
      ...(this.spec.tls ? { PGSSLMODE: 'verify-full', PGSSLROOTCERT: localTlsFiles(this.state.dir).databaseCaCert } : {}),
    };
  }

  // ---- observing ---------------------------------------------------------------------------

  /** HTTP to a node's REST API from the client namespace; unsafe methods get the REST API's basic auth. */
  public async rest(name: string, request: Omit<HttpRequest, 'url'> & { readonly path: string }): Promise<HttpAnswer> {
    const method = request.method ?? 'GET';
    return httpInNamespace(this.clientNamespace, {
      tls: this.restApiTls,
      ...request,
      method,
      url: `${this.restApi(name)}${request.path}`,
      auth: request.auth ?? (method === 'GET' ? undefined : this.spec.credentials.restApi),
    });
  }

  /**
   * The operations CLI's Patroni client, over this cluster's client namespace: the one Patroni
   * runtime. Nodes without a fault in force are asked first.
   */
  public patroni(timeoutMs = 2000): PatroniClient {
    const nodes = [...this.reload().state.nodes].sort((a, b) => faultCount(a.faults) - faultCount(b.faults));
    return new PatroniClient({
      urls: nodes.map((n) => this.restApi(n.name)),
      transport: new NamespaceHttpTransport(this.clientNamespace, this.restApiTls),
      auth: this.spec.credentials.restApi,
      timeoutMs,
    });
  }

  /** Patroni's GET /cluster, asked of the nodes in turn; undefined when none answers. */
  public async clusterView(timeoutMs = 2000): Promise<{ view: PatroniClusterView; source: string } | undefined> {
    const status = await this.patroni(timeoutMs).clusterStatus().catch(() => undefined);
    if (!status) return undefined;
    const source = this.state.nodes.find((n) => this.restApi(n.name) === status.source)?.name ?? status.source;
    return { view: { members: status.members, pause: status.paused }, source };
  }

  /** Patroni's GET /patroni of one node; undefined when it does not answer. */
  public async nodeStatus(name: string, timeoutMs = 2000): Promise<PatroniNodeStatus | undefined> {
    return this.patroni(timeoutMs).nodeStatus(this.restApi(name)).catch(() => undefined);
  }

  /** The leader's name as the DCS says (GET /cluster), or undefined. */
  public async leader(): Promise<string | undefined> {
    return (await this.patroni().leader().catch(() => undefined))?.name;
  }

  public async members(): Promise<PatroniMember[]> {
    return [...((await this.clusterView())?.view.members ?? [])];
  }

  /** Whether the node's PostgreSQL answers as a primary (GET /primary is 200). */
  public async isPrimary(name: string, timeoutMs = 1000): Promise<boolean> {
    return (await this.rest(name, { path: '/primary', timeoutMs })).status === 200;
  }

  /** One health verdict now (see `assessHealth`). */
  public async health(members?: readonly string[]): Promise<HealthVerdict> {
    const found = await this.clusterView();
    const leader = found?.view.members.find((m) => m.role === 'leader' || m.role === 'standby_leader');
    const replication = leader ? (await this.nodeStatus(leader.name))?.replication : undefined;
    const expected = members ?? this.state.nodes.filter((n) => faultCount(n.faults) === 0).map((n) => n.name);
    return assessHealth(found?.view, replication, {
      members: expected,
      // Patroni keeps no synchronous standby in a standby cluster: its leader is not a primary.
      requireSyncStandby: this.spec.synchronousMode !== 'off' && expected.length > 1 && leader?.role !== 'standby_leader',
    });
  }

  /** The operator's certificate for etcd's client port (TLS clusters). */
  public get etcdClientTls(): Required<HttpsOptions> | undefined {
    return this.clientTls;
  }

  /** The cluster CA and the operator's client certificate, or undefined without TLS. */
  private get clientTls(): Required<HttpsOptions> | undefined {
    if (!this.spec.tls) return undefined;
    const files = localTlsFiles(this.state.dir);
    return { caFile: files.caCert, certFile: files.operatorCert, keyFile: files.operatorKey };
  }

  /** Everything `failover local status` shows. */
  public async status(): Promise<LocalClusterStatus> {
    this.reload();
    const found = await this.clusterView();
    const members = found?.view.members ?? [];
    const ports = this.spec.ports;
    const nodes = this.state.nodes.map((n): LocalNodeStatus => {
      const m = members.find((x) => x.name === n.name);
      const lag = m ? (m.role === 'leader' ? 0 : typeof m.lag === 'number' ? m.lag : null) : null;
      return {
        name: n.name,
        address: n.address,
        restApi: this.restApi(n.name),
        role: m?.role ?? 'unknown',
        state: m?.state ?? (found ? 'absent' : 'unknown'),
        timeline: m?.timeline ?? null,
        lagBytes: lag,
        namespace: n.namespace,
        faults: faultNames(n.faults),
        writer: `${n.address}:${ports.haproxyPrimary}`,
        reader: `${n.address}:${ports.haproxyReplica}`,
      };
    });
    return {
      nodes,
      writer: this.writer,
      reader: this.reader,
      writerUri: this.writerUri,
      readerUri: this.readerUri,
      clientNamespace: this.clientNamespace,
      cluster: this.clusterName,
      timingProfile: this.timingProfile,
      timing: this.timing,
      leader: members.find((m) => m.role === 'leader')?.name ?? null,
      writerMultiHostUri: this.writerMultiHostUri,
      source: found?.source ?? null,
      mode: this.mode,
      caFile: this.spec.tls ? localTlsFiles(this.state.dir).caCert : null,
      databaseCaFile: this.spec.tls ? localTlsFiles(this.state.dir).databaseCaCert : null,
      standby: await this.standbyStatus(members),
    };
  }

  private async standbyStatus(members: readonly PatroniMember[]): Promise<LocalStandbyStatus | null> {
    const of = this.spec.backup?.standbyOf?.stanza;
    if (!of || members.some((m) => m.role === 'leader')) return null;
    const leader = members.find((m) => m.role === 'standby_leader' && isRunningState(m.state))?.name ?? null;
    const replayed = leader ? patroniTimeMs((await this.nodeStatus(leader))?.xlog?.replayed_timestamp) : undefined;
    return { of, leader, replayAgeSeconds: replayed === undefined ? null : Math.max(0, (Date.now() - replayed) / 1000) };
  }

  // ---- waiting -----------------------------------------------------------------------------

  /** Until one leader runs and the members stream from it (and a sync standby exists). */
  public async waitForHealthy(options: WaitForHealthyOptions): Promise<HealthVerdict> {
    return waitFor(
      'a healthy cluster',
      async () => {
        const hopeless = options.giveUpIf?.();
        if (hopeless) return giveUp(hopeless);
        const verdict = await this.health(options.members);
        if (!verdict.healthy) return notYet(verdict.reason);
        const endpoints = await this.checkEndpoints(verdict.standby === true);
        return endpoints ? notYet(endpoints) : done(verdict);
      },
      { timeoutMs: options.timeoutMs, intervalMs: options.intervalMs ?? 500, onProgress: (r) => this.log(`  ${r}`) },
    );
  }

  /** Until a leader exists (other than `notNode`, when given); returns its name. */
  public async waitForLeader(options: WaitTimeout & { readonly notNode?: string }): Promise<string> {
    return waitFor(
      options.notNode ? `a leader other than ${options.notNode}` : 'a leader',
      async () => {
        const leader = await this.leader();
        if (!leader) return notYet('no leader');
        if (leader === options.notNode) return notYet(`${leader} still leads`);
        return done(leader);
      },
      { timeoutMs: options.timeoutMs, intervalMs: options.intervalMs ?? 250 },
    );
  }

  /** Until the node's role (GET /cluster) is one of `roles`, running. */
  public async waitForRole(name: string, roles: readonly string[], options: WaitTimeout): Promise<PatroniMember> {
    return waitFor(
      `${name} to be ${roles.join(' or ')}`,
      async () => {
        const m = (await this.members()).find((x) => x.name === name);
        if (!m) return notYet(`${name} not listed`);
        if (!roles.includes(m.role) || !isRunningState(m.state)) return notYet(`${name} is ${m.role}, ${m.state}`);
        return done(m);
      },
      { timeoutMs: options.timeoutMs, intervalMs: options.intervalMs ?? 250 },
    );
  }

  /** Until a SQL statement succeeds through `uri` (the writer, by default); returns its output. */
  public async waitForSql(query: string, options: WaitTimeout & Omit<SqlOptions, 'timeoutMs'>): Promise<string> {
    return waitFor(
      `'${query}' to succeed`,
      async () => {
        const r = await this.trySql(query, { uri: options.uri, from: options.from });
        return r.code === 0 ? done(r.stdout.trim()) : notYet(r.stderr.trim().split('\n')[0] ?? `psql exited with ${r.code}`);
      },
      { timeoutMs: options.timeoutMs, intervalMs: options.intervalMs ?? 250 },
    );
  }

  // ---- running things in the namespaces ----------------------------------------------------

  /** Runs SQL with psql in the client namespace; returns psql's unaligned, tuples-only output. */
  public async sql(query: string, options: SqlOptions = {}): Promise<string> {
    const r = await this.trySql(query, options);
    if (r.code !== 0) throw new LocalClusterError(`psql failed: ${r.stderr.trim().split('\n')[0] ?? `exit ${r.code}`}`);
    return r.stdout.trim();
  }

  /** Like `sql`, but returns psql's exit code and output instead of throwing. */
  public async trySql(query: string, options: SqlOptions = {}): Promise<RunResult> {
    const namespace = options.from === undefined ? this.clientNamespace : this.node(options.from).namespace;
    return runInNamespace(namespace, ['psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', options.uri ?? this.writerUri, '-c', query], {
      allowFailure: true,
      timeoutMs: options.timeoutMs ?? 15_000,
      env: { PATH: process.env.PATH, HOME: '/root', LANG: 'C.UTF-8' },
    });
  }

  /** Runs a command in the client namespace with its output captured. */
  public async runInClient(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return runInNamespace(this.clientNamespace, argv, { ...options, env: { ...process.env, ...this.clientEnv(), ...options.env } });
  }

  /** Starts a command in the client namespace (e.g. `node writer.js`); the caller owns the child. */
  public spawnInClient(argv: readonly string[], options: ExecOptions = {}): RunningCommand {
    return spawnInNamespace(this.clientNamespace, argv, { ...options, env: { ...process.env, ...this.clientEnv(), ...options.env } });
  }

  /** Runs a command in the client namespace to its end; resolves to its exit code. */
  public async execInClient(argv: readonly string[], options: ExecOptions = {}): Promise<number> {
    return this.spawnInClient(argv, options).exitCode();
  }

  /** Starts a command inside a node's namespace (a client on the node's side of a partition). */
  public spawnInNode(name: string, argv: readonly string[], options: ExecOptions = {}): RunningCommand {
    return spawnInNamespace(this.nodeNamespace(name), argv, { ...options, env: { ...process.env, ...this.clientEnv(), ...options.env } });
  }

  /**
   * Starts a command on the node itself: inside its container when booted (as root, the node's
   * own programs and files), else in its namespace (this machine's programs).
   */
  public spawnOnNode(name: string, argv: readonly string[], options: ExecOptions = {}): RunningCommand {
    if (!this.booted()) return this.spawnInNode(name, argv, options);
    return spawnInContainer(this.containerInit(name), argv, { stdio: options.stdio, cwd: options.cwd });
  }

  /** Runs a command on the node itself (see `spawnOnNode`) with its output captured. */
  public async runOnNode(name: string, argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    if (!this.booted()) return runInNamespace(this.nodeNamespace(name), argv, options);
    return runInContainer(this.containerInit(name), argv, options);
  }

  public async execInNode(name: string, argv: readonly string[], options: ExecOptions = {}): Promise<number> {
    return this.spawnInNode(name, argv, options).exitCode();
  }

  // ---- faults ------------------------------------------------------------------------------

  /** `drain` (reboot and replace only): see `StopOptions`. */
  public async fault(kind: FaultKind, name: string, options: StopOptions = {}): Promise<void> {
    if (options.drain && kind !== 'reboot' && kind !== 'replace') throw new LocalClusterError(`fault ${kind} cannot drain first (only reboot and replace stop a node as planned)`);
    switch (kind) {
      case 'kill':
        return this.kill(name);
      case 'freeze':
        return this.freeze(name);
      case 'partition':
        return this.partition(name);
      case 'kill-etcd':
        return this.killEtcd(name);
      case 'heal':
        return this.heal(name);
      case 'reboot':
        return this.reboot(name, options);
      case 'replace':
        return this.replace(name, options);
    }
  }

  /** The nodes that have a process left in their namespace (running or stopped). */
  public async nodesWithProcesses(): Promise<string[]> {
    const names: string[] = [];
    for (const name of this.nodeNames) {
      if ((await namespacePids(this.node(name).namespace)).some(isRunning)) names.push(name);
    }
    return names;
  }

  /** SIGKILL every process in the node's namespace (node loss). */
  public async kill(name: string): Promise<void> {
    const node = this.node(name);
    const deadline = Date.now() + 10_000;
    for (let round = 0; round < 50 && Date.now() < deadline; round++) {
      const pids = (await namespacePids(node.namespace)).filter(isRunning);
      if (pids.length === 0) break;
      for (const pid of pids) signal(pid, 'SIGKILL');
      await waitForExitOf(pids, 2000);
    }
    const left = (await namespacePids(node.namespace)).filter(isRunning);
    if (left.length) throw new LocalClusterError(`processes ${left.join(', ')} of ${name} survived SIGKILL`);
    this.setFaults(name, (f) => ({ ...f, killed: true, frozen: false }));
    this.log(`killed every process of ${name}`);
  }

  /** SIGSTOP every process in the node's namespace (a hung node that still holds its sockets). */
  public async freeze(name: string): Promise<void> {
    const node = this.node(name);
    for (let round = 0; round < 5; round++) {
      const pids = (await namespacePids(node.namespace)).filter((p) => isRunning(p) && !isStopped(p));
      if (pids.length === 0) break;
      for (const pid of pids) signal(pid, 'SIGSTOP');
      await sleep(50);
    }
    this.setFaults(name, (f) => ({ ...f, frozen: true }));
    this.log(`froze every process of ${name}`);
  }

  /** Sets the node's interface down: it keeps running but reaches and is reached by no one. */
  public async partition(name: string): Promise<void> {
    await setInterfaceUp(this.node(name).namespace, false);
    this.setFaults(name, (f) => ({ ...f, partitioned: true }));
    this.log(`partitioned ${name}`);
  }

  /** SIGKILL the node's etcd member alone (loss of one etcd member: no failover may follow). */
  public async killEtcd(name: string): Promise<void> {
    const node = this.node(name);
    let done: string;
    if (this.booted()) {
      // Its main PID alone (`systemctl kill` fails here on cgroup v1); systemd restarts it
      // (Restart=on-failure), as it would on an instance.
      await runInContainer(this.containerInit(name), ['sh', '-c', `kill -KILL "$(systemctl show --property=MainPID --value ${SYSTEMD_UNIT_NAMES.etcd})"`], {
        timeoutMs: 15_000,
      });
      done = `killed etcd of ${name} (systemd restarts it)`;
    } else {
      const pid = await recordedPidInNamespace(node.processes.etcd, node.namespace);
      if (pid) {
        signal(pid, 'SIGKILL');
        if ((await waitForExitOf([pid], 5000)).length) throw new LocalClusterError(`etcd of ${name} (pid ${pid}) survived SIGKILL`);
      }
      done = pid ? `killed etcd of ${name} (pid ${pid})` : `etcd of ${name} was not running`;
    }
    this.setFaults(name, (f) => ({ ...f, etcdKilled: true }));
    this.log(done);
  }

  /**
   * Stops the node's etcd member (SIGSTOP) for `ms`, then resumes it, in every case: a stall such
   * as a long fsync or a paused VM, not a loss. Processes mode only. Returns whether it ran.
   */
  public async pauseEtcd(name: string, ms: number): Promise<boolean> {
    if (this.booted()) throw new LocalClusterError('pauseEtcd: a booted cluster runs etcd under systemd; pause it with a freeze');
    const node = this.node(name);
    const pid = await recordedPidInNamespace(node.processes.etcd, node.namespace);
    if (!pid) return false;
    signal(pid, 'SIGSTOP');
    try {
      await sleep(ms);
    } finally {
      signal(pid, 'SIGCONT');
    }
    return true;
  }

  /**
   * Undoes every fault on the node: its interface up, SIGCONT to its processes, and whichever of
   * etcd, Patroni and HAProxy is not running started again with the same files (booted: the
   * container booted again when it is down).
   */
  public async heal(name: string): Promise<void> {
    const node = this.node(name);
    if (!(await interfaceIsUp(node.namespace))) {
      await setInterfaceUp(node.namespace, true);
      // Found by the day-two drills: after a partition the node had no way to IMDS (no credentials).
      if (this.booted()) await booted.addImdsRoute(node.namespace, POD_INTERFACE);
    }
    for (const pid of await namespacePids(node.namespace)) signal(pid, 'SIGCONT');
    const detail = this.booted() ? await this.healContainer(name) : await this.restartServices(name);
    this.setFaults(name, () => ({}));
    this.log(`healed ${name}${detail}`);
  }

  /** A booted node: its container booted again if it is down, else its services started. */
  private async healContainer(name: string): Promise<string> {
    const nspawn = this.node(name).boot?.nspawn;
    if (nspawn && containerInit(nspawn.pid)) {
      await runInContainer(this.containerInit(name), ['systemctl', 'start', SYSTEMD_UNIT_NAMES.etcd, SYSTEMD_UNIT_NAMES.patroni, SYSTEMD_UNIT_NAMES.haproxy], {
        timeoutMs: 60_000,
      });
      return '';
    }
    // Right after a kill, nspawn may still be exiting: never two on one root.
    if (nspawn) await stopContainer(nspawn.pid);
    await this.bootNode(name, false);
    return ' (booted its container again)';
  }

  /** A processes node: whichever of its services is not running, started again with the same files. */
  private async restartServices(name: string): Promise<string> {
    const node = this.node(name);
    const restarted: string[] = [];
    for (const service of nodeServices(this.spec)) {
      if (!(await recordedPidInNamespace(node.processes[service], node.namespace))) {
        await this.startService(node.name, service);
        restarted.push(service);
      }
    }
    return restarted.length ? ` (restarted ${restarted.join(', ')})` : '';
  }

  /**
   * The CAs renewed (same keys, a new validity) and new node, database and operator certificates
   * from them, rolled out one node at a time (replicas first, the leader last) with no restart of
   * Patroni or PostgreSQL: etcd reads its certificate at every handshake, Patroni re-reads its REST
   * API certificate on a reload when the file's serial changed, PostgreSQL on `pg_reload_conf()`;
   * etcd is restarted and HAProxy reloaded for the renewed CA, which they load at start. Returns
   * once every node serves the new ones.
   * Booted clusters rotate as a deploy with a new `ClusterTls.issued({ rotation })` does (see
   * rotateBootedCertificates), in the order the agents applied it.
   */
  public async rotateCertificates(): Promise<CertificateRotation> {
    this.reload();
    if (!this.spec.tls) throw new LocalClusterError(`cluster '${this.clusterName}' runs without TLS: there is nothing to rotate`);
    if (this.booted()) return this.rotateBootedCertificates();
    const leader = await this.leader();
    const order = [...this.nodeNames.filter((n) => n !== leader), ...(leader ? [leader] : [])];
    const issued = reissueLocalCertificates(this.state.dir, this.spec, [this.state.client.address]);
    const owners = { postgres: postgresUser(), etcd: etcdUser() };
    const nodes: CertificateRotation['nodes'][number][] = [];
    for (const name of order) {
      const node = this.node(name);
      writeNodeCertificates(node.paths, issued, name, owners);
      const reload = await this.rest(name, { method: 'POST', path: '/reload' });
      if (reload.status !== 202) throw new LocalClusterError(`POST /reload on ${name} answered ${reload.status || reload.error}: ${reload.body.trim()}`);
      await this.sql('SELECT pg_reload_conf()', { uri: this.nodePostgresUri(name), from: name });
      await this.restartProcess(name, 'pgbackrest');
      await this.loadRenewedCa(name);
      const want = { node: serialOf(issued.nodes[name]!.certificatePem), database: serialOf(issued.database.certificatePem) };
      const served = await waitFor(
        `${name} to serve its new certificates`,
        async () => {
          const now = await this.servedSerials(name);
          const stale = (Object.keys(now) as (keyof typeof now)[]).filter((k) => now[k] !== (k === 'postgres' ? want.database : want.node));
          return stale.length ? notYet(`${name} still serves the old certificate on ${stale.join(', ')}`) : done(now);
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      this.log(`${name}: etcd, Patroni and PostgreSQL serve the new certificates`);
      nodes.push({ name, ...served });
    }
    return { nodes };
  }

  /** The serial numbers of the certificates a node serves on etcd's client port, Patroni's REST API and PostgreSQL. */
  public async servedSerials(name: string): Promise<{ etcd: string; restApi: string; postgres: string }> {
    const node = this.node(name);
    const tls = this.clientTls;
    if (!tls) throw new LocalClusterError(`cluster '${this.clusterName}' runs without TLS: its services serve no certificates`);
    const ports = this.spec.ports;
    const serial = async (port: number, starttls?: string) => {
      const argv = ['openssl', 's_client', '-connect', `${node.address}:${port}`, '-CAfile', tls.caFile, '-cert', tls.certFile, '-key', tls.keyFile];
      const r = await runInNamespace(this.clientNamespace, [...argv, ...(starttls ? ['-starttls', starttls] : [])], { allowFailure: true, timeoutMs: 10_000 });
      const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.stdout)?.[0];
      return pem ? serialOf(pem) : `none (${r.stderr.trim().split('\n')[0] ?? `exit ${r.code}`})`;
    };
    return { etcd: await serial(ports.etcdClient), restApi: await serial(ports.restApi), postgres: await serial(ports.postgres, 'postgres') };
  }

  /** Heals every node with a fault in force. */
  public async healAll(): Promise<void> {
    for (const node of this.reload().state.nodes) {
      if (faultCount(node.faults) > 0) await this.heal(node.name);
    }
  }

  /** Removes the cluster (see `LocalCluster.down`). */
  public async down(): Promise<TeardownReport> {
    return LocalCluster.down({ clusterName: this.state.clusterName, stateRoot: this.state.stateRoot, log: this.log });
  }

  // ---- internals ---------------------------------------------------------------------------

  private async boot(healthyWithinMs?: number): Promise<void> {
    const s = this.state;
    const postgres = postgresUser();
    await this.createNetwork();
    if (s.spec.backup) await this.startRepository();
    this.log('rendering node files');
    for (const node of s.nodes) {
      createNodeTree(node.dir, node.paths, postgres, etcdUser());
      writeFiles(renderNodeFiles(s.spec, node.name));
    }
    if (s.spec.tls) {
      this.log('issuing the cluster CA and node certificates');
      writeLocalCertificates(s.dir, s.spec, [s.client.address], { postgres, etcd: etcdUser() });
      // A streaming standby's replication checks its primary too: both database CAs in the file it trusts.
      const primaryCa = s.peering?.primaryDatabaseCaPem;
      if (primaryCa) for (const node of s.nodes) fs.appendFileSync(tlsFilePath(node.paths, 'databaseCaCert'), primaryCa);
    }
    if (s.peering) await this.startPeering(s.peering);
    for (const node of s.nodes) await checkHaproxyConfig(configFilePath(node.paths, 'haproxy'));
    const source = s.spec.backup?.restoreFrom ?? standbySource(s.spec);
    if (source) {
      this.log(`checking the backups of '${source.stanza}' in the repository`);
      await checkRestoreSource(this, s.nodes[0]!.name, source);
    }

    this.log('starting etcd');
    for (const node of s.nodes) await this.startService(node.name, 'etcd');
    await waitFor('etcd quorum', () => this.etcdHealthy(), { timeoutMs: 60_000, intervalMs: 500, onProgress: (r) => this.log(`  ${r}`) });

    this.log('starting Patroni and HAProxy');
    for (const node of s.nodes) await this.startService(node.name, 'patroni');
    for (const node of s.nodes) await this.startService(node.name, 'haproxy');
    if (nodeServices(s.spec).includes('pgbackrest')) {
      this.log("starting pgBackRest's TLS servers (backups from a replica)");
      for (const node of s.nodes) await this.startService(node.name, 'pgbackrest');
    }
    await this.startFront();
    this.update((st) => {
      st.phase = 'starting';
    });

    this.log('waiting for a leader and streaming replicas');
    const timeoutMs = healthyWithinMs ?? (this.timing.ttlSeconds <= 10 ? 120_000 : 240_000);
    const restoreFrom = s.spec.backup?.restoreFrom;
    const giveUpIf = restoreFrom && (() => unreachableTarget(restoreFrom, s.nodes.map((n) => n.paths.logDir)));
    const verdict = await this.waitForHealthy({ timeoutMs, giveUpIf });
    this.update((st) => {
      st.phase = 'ready';
    });
    this.log(`healthy: ${verdict.reason}`);
  }

  /** Booted mode: image, stand-ins, then every node's container booting the template's user data. */
  private async bootContainers(plan: booted.BootedPlan, healthyWithinMs?: number): Promise<void> {
    const { image, caCertFile, standIn } = await booted.prepareBootedCluster(plan, this.state.dir, this.log);
    this.update((st) => {
      Object.assign(st.boot!, { imageRoot: image.root, repo: image.repo, caCertFile });
    });
    const s = this.state;
    await this.createNetwork();
    await booted.addStandInNetwork(s.switchNamespace, BRIDGE, s.boot!.apiAddress, s.prefixLength, s.nodes.map((n) => n.namespace), POD_INTERFACE);
    this.log('starting the EC2 stand-ins (IMDS, Secrets Manager, CloudWatch)');
    await this.restartStandIn(standIn);
    this.log(`booting ${s.nodes.length} nodes from ${image.root}`);
    for (const node of s.nodes) await this.bootNode(node.name, true);
    await this.startFront();
    this.update((st) => {
      st.phase = 'starting';
    });
    this.log('waiting for every node\'s user data (journalctl -u cdk-failover-rehearsal-user-data on a node)');
    const deadline = Date.now() + (healthyWithinMs ?? 900_000);
    await this.waitForUserData(Math.max(1, deadline - Date.now()));
    this.log('waiting for a leader and streaming replicas');
    const verdict = await this.waitForHealthy({ timeoutMs: Math.max(60_000, deadline - Date.now()) });
    this.update((st) => {
      st.phase = 'ready';
    });
    this.log(`healthy: ${verdict.reason}`);
  }

  /** Until every node's user data has run; a node whose user data failed ends the wait with its reason. */
  public async waitForUserData(timeoutMs: number, names: readonly string[] = this.nodeNames): Promise<void> {
    await waitFor(
      'the user data on every node',
      async () => {
        const running: string[] = [];
        for (const name of names) {
          const { state, line } = await booted.userDataState(this.containerInit(name));
          if (state === 'failed') throw new LocalClusterError(`the user data failed on ${name}: ${line}`);
          if (state === 'running') running.push(name);
        }
        return running.length ? notYet(`running on ${running.join(', ')}`) : done(true);
      },
      { timeoutMs, intervalMs: 1000, onProgress: (r) => this.log(`  ${r}`) },
    );
  }

  private async restartStandIn(config: ReturnType<typeof booted.readStandInConfig>): Promise<void> {
    const record = await booted.startStandIn(config, this.state.boot!, this.state.switchNamespace, this.state.dir);
    this.update((st) => {
      st.boot!.standIn = record;
    });
  }

  /** Boots a node's container (a fresh instance layer when `fresh`) and waits for its systemd. */
  private async bootNode(name: string, fresh: boolean, attachVolume = true): Promise<void> {
    const node = this.node(name);
    const nspawn = await booted.bootNode(
      { name, address: node.address, namespace: node.namespace, boot: node.boot! },
      { clusterName: this.clusterName, cluster: this.state.boot!, attachVolume },
      fresh,
    );
    this.update((st) => {
      st.nodes.find((n) => n.name === name)!.boot!.nspawn = nspawn;
    });
    await waitForInit(nspawn.pid, 60_000);
  }

  private booted(): boolean {
    return this.state.mode === 'booted';
  }

  private requireBooted(what: string): void {
    if (!this.booted()) throw new LocalClusterError(`${what} needs a booted cluster ('failover local up --boot'); '${this.clusterName}' runs its services as processes`);
  }

  /** The container's PID 1 of a booted node, or a clear error. */
  private containerInit(name: string): number {
    const nspawn = this.node(name).boot?.nspawn;
    const init = nspawn ? containerInit(nspawn.pid) : undefined;
    if (!init) throw new LocalClusterError(`node ${name} is not running (its container is down); 'failover local fault heal ${name}' boots it`);
    return init;
  }

  /** A clean reboot: the node's systemd powers off and the same instance boots again (user data does not run again). */
  public async reboot(name: string, options: StopOptions = {}): Promise<void> {
    this.requireBooted('fault reboot');
    if (options.drain) await this.drain(name);
    const nspawn = this.node(name).boot?.nspawn;
    const how = nspawn ? await stopContainer(nspawn.pid) : 'not running';
    this.log(`${name} shut down (${how}); booting it again`);
    await this.bootNode(name, false);
    this.setFaults(name, () => ({}));
    await this.waitForUserData(USER_DATA_TIMEOUT_MS, [name]);
  }

  /**
   * What CloudFormation's instance-type change does to a cluster's nodes: every node's instance
   * resource goes UPDATE_IN_PROGRESS in the stand-in's CloudFormation, every container is asked
   * to shut down at the same moment (a clean stop: the node's systemd runs its units' ExecStops,
   * the drain unit's among them), and each one boots again as soon as its own container has
   * exited; its resource goes UPDATE_COMPLETE once it is ready again. The node agents' drains
   * decide the order (one node down at a time, the leader last). Returns once every node is
   * ready again (not necessarily streaming: wait for a healthy cluster after it); a node whose
   * shutdown outlasts the grace is killed and reported 'killed'.
   */
  public async restartAll(options: RestartAllOptions = {}): Promise<RestartAllReport> {
    this.requireBooted('restart-all');
    const graceMs = options.shutdownGraceMs ?? RESTART_ALL_GRACE_MS;
    const readyMs = options.readyTimeoutMs ?? USER_DATA_TIMEOUT_MS;
    const stackFile = path.join(this.state.dir, booted.CLOUDFORMATION_STACK_FILE);
    const instanceOf = (name: string) => this.node(name).boot!.instanceId;
    const seconds = (from: number, to = Date.now()) => `${((to - from) / 1000).toFixed(1)} s`;
    const names = this.nodeNames;
    const marked = booted.setInstanceStatus(stackFile, 'UPDATE_IN_PROGRESS', names.map(instanceOf));
    const missed = names.filter((n) => !marked.includes(instanceOf(n)));
    if (missed.length) {
      booted.setInstanceStatus(stackFile, undefined, names.map(instanceOf));
      throw new LocalClusterError(`restart-all: the stand-in's stack names no instance of ${missed.join(', ')} (${missed.map(instanceOf).join(', ')}): their shutdowns would not know CloudFormation stops them`);
    }
    const stopAt = Date.now();
    this.log(`restart-all: ${names.join(', ')} UPDATE_IN_PROGRESS; stopping every node at once (each shutdown drains it, at most ${seconds(0, graceMs)})`);
    const restarted: NodeRestart[] = [];
    try {
      // Every node's own course run to its end before anything is reset, a failed one's included.
      const settled = await Promise.allSettled(
        names.map(async (name) => {
          const nspawn = this.node(name).boot?.nspawn;
          const shutdown = nspawn ? await stopContainer(nspawn.pid, graceMs) : 'not running';
          const downAt = Date.now();
          this.log(`restart-all: ${name} is down after ${seconds(stopAt, downAt)} (${shutdown}); booting it again`);
          await this.bootNode(name, false);
          const bootedAt = Date.now();
          this.setFaults(name, () => ({}));
          await this.waitForUserData(readyMs, [name]);
          const readyAt = Date.now();
          booted.setInstanceStatus(stackFile, undefined, [instanceOf(name)]);
          this.log(`restart-all: ${name} is ready again after ${seconds(stopAt, readyAt)} (down ${seconds(downAt, readyAt)}); UPDATE_COMPLETE`);
          restarted.push({ name, stopAt, downAt, shutdown, bootedAt, readyAt });
        }),
      );
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    } finally {
      // A node that did not come back leaves no resource UPDATE_IN_PROGRESS behind: the next stop would wait for the others.
      booted.setInstanceStatus(stackFile, undefined, names.map(instanceOf));
    }
    const nodes = restarted.sort((a, b) => a.downAt - b.downAt);
    this.log(`restart-all: every node restarted in ${seconds(stopAt)} (down in this order: ${nodes.map((n) => n.name).join(', ')})`);
    return { nodes, seconds: (Date.now() - stopAt) / 1000 };
  }

  /**
   * `cdk-failover-agent drain` on a booted node, as an operator runs it before a reboot or a
   * replacement: under the cluster's lock and once every member runs, the leader switches over,
   * then Patroni stops (etcd goes on). Each of the agent's steps is logged; its failure line thrown.
   */
  public async drain(name: string): Promise<void> {
    this.requireBooted('drain');
    const started = Date.now();
    const r = await this.runOnNode(name, [NODE_AGENT_PATH, 'drain'], { allowFailure: true, timeoutMs: DRAIN_TIMEOUT_MS });
    for (const line of r.stdout.split('\n').filter((l) => l.trim())) this.log(`  ${name}: ${line}`);
    if (r.code !== 0) {
      const lines = r.stderr.split('\n').filter((l) => l.trim());
      throw new LocalClusterError(lines.filter((l) => l.startsWith('cdk-failover:')).pop() ?? `${NODE_AGENT_PATH} drain on ${name} exited ${r.code}: ${lines.pop() ?? ''}`);
    }
    this.log(`${name} drained in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  /**
   * A replacement instance: the container is destroyed and a fresh one boots from the image with
   * the node's address and data volume and a new instance ID, so the user data runs again.
   */
  public async replace(name: string, options: ReplaceOptions = {}): Promise<void> {
    this.requireBooted('fault replace');
    const node = this.node(name);
    if (options.drain) await this.drain(name);
    if (node.boot?.nspawn) await stopContainer(node.boot.nspawn.pid);
    const instanceId = booted.newInstanceId();
    booted.setInstancePhysicalId(path.join(this.state.dir, booted.CLOUDFORMATION_STACK_FILE), node.boot!.instanceId, instanceId);
    this.update((s) => {
      const b = s.nodes.find((x) => x.name === name)!.boot!;
      b.instanceId = instanceId;
      b.instances += 1;
      b.roots = 1;
      b.nspawn = undefined;
    });
    const config = booted.readStandInConfig(this.state.boot!);
    // The new instance launches from the image the stack names now.
    await this.restartStandIn({ ...config, instances: config.instances.map((i) => (i.address === node.address ? { ...i, instanceId, imageId: this.imageId } : i)) });
    const attach = options.attachVolume ?? true;
    this.log(`${name} terminated; booting instance ${instanceId} on ${node.address} ${attach ? 'with its volume' : 'WITHOUT its volume'}`);
    await this.bootNode(name, true, attach);
    this.setFaults(name, () => ({}));
    if (options.wait ?? true) await this.waitForUserData(USER_DATA_TIMEOUT_MS, [name]);
  }

  /**
   * Applies a changed specification as a deploy does (booted clusters): the stack is synthesized
   * again, its instances' metadata published to the stand-in's CloudFormation, and the nodes'
   * agents apply it one node at a time, the leader last. Returns once every node has signalled
   * the generation's wait condition; a node's FAILURE signal is thrown with its reason.
   */
  public async apply(change: ApplyChange): Promise<{ readonly handle: string; readonly seconds: number }> {
    this.requireBooted('apply');
    const started = Date.now();
    const { timing, profile } = change.timing === undefined ? { timing: this.timing, profile: this.timingProfile } : resolveTiming(change.timing);
    const parameters = { ...this.state.boot!.postgresParameters, ...change.parameters };
    if (change.imageId !== undefined) checkImageId(change.imageId, 'imageId');
    const imageId = change.imageId ?? this.imageId;
    const stack = await this.rehearsalStack(timing, parameters, this.state.boot!, imageId);
    try {
      await this.publishAndWait(stack, change.timeoutMs);
    } catch (err) {
      // As CloudFormation rolls back: the previous configuration goes back into the metadata, and
      // the agents apply it one node at a time (nothing waits for that, but a node whose root was
      // replaced needs EC2 to replace it back: that is performed here, for a bounded time).
      this.publish(await this.rehearsalStack(this.timing, { ...this.state.boot!.postgresParameters }));
      const back = imageId === this.imageId ? '' : await this.rootVolumeTasks().rollBack(this.imageId, change.timeoutMs);
      throw new LocalClusterError(`${oneLine(err)}; rolled back: the previous configuration is published again and the agents apply it${back}`);
    }
    this.update((st) => {
      st.spec = { ...st.spec, timing };
      st.timingProfile = profile;
      st.boot!.postgresParameters = parameters;
      st.boot!.imageId = imageId;
    });
    const seconds = (Date.now() - started) / 1000;
    this.log(`applied on every node in ${seconds.toFixed(1)} s`);
    return { handle: stack.waitHandle, seconds };
  }

  /**
   * A booted cluster's rotation, as a deploy with a new `ClusterTls.issued({ rotation })` does it:
   * the issuer's code renews the CAs and issues new certificates (an Update), the nodes' secret gets
   * a new version, and the agents install it one node at a time, the leader last (reload-tls). No
   * rollback: a failure leaves the new version published.
   */
  private async rotateBootedCertificates(): Promise<CertificateRotation> {
    const boot = this.state.boot!;
    const before = new Map<string, Awaited<ReturnType<LocalCluster['servedSerials']>>>();
    for (const name of this.nodeNames) before.set(name, await this.servedSerials(name));
    const version = randomUUID();
    const rotation = `r${Date.now().toString(36)}`;
    const stack = await this.rehearsalStack(this.timing, { ...boot.postgresParameters }, { nodeSecretVersion: version, certificateRotation: rotation });
    const arn = stack.certificates.NodeSecretArn;
    const nodeSecret = await booted.runCertificateIssuer('Update', stack, version, booted.readIssuerSecrets(this.state.dir), this.state.dir);
    booted.replaceDeployedSecret(boot, arn, nodeSecret);
    const config = booted.readStandInConfig(boot);
    await this.restartStandIn({ ...config, secrets: { ...config.secrets, [arn]: nodeSecret }, secretVersions: { ...config.secretVersions, [arn]: version } });
    this.update((st) => {
      st.boot!.nodeSecretVersion = version;
      st.boot!.certificateRotation = rotation;
    });
    this.log(`issued new certificates (rotation ${rotation}, secret version ${version})`);
    const order = await this.publishAndWait(stack);
    const nodes: CertificateRotation['nodes'][number][] = [];
    for (const name of order) {
      const served = await this.servedSerials(name);
      const stale = (Object.keys(served) as (keyof typeof served)[]).filter((k) => served[k] === before.get(name)![k]);
      if (stale.length) throw new LocalClusterError(`${name} applied the rotation but still serves the old certificate on ${stale.join(', ')}`);
      nodes.push({ name, ...served });
    }
    return { nodes };
  }

  /** The rehearsal stack of this cluster with `timing` and `parameters`, and its certificates and image as they are unless given. */
  private async rehearsalStack(
    timing: ClusterTiming,
    parameters: Record<string, string>,
    certificates: { readonly nodeSecretVersion: string; readonly certificateRotation?: string } = this.state.boot!,
    imageId = this.imageId,
  ) {
    const { synthesizeRehearsalStack } = await import('./boot/rehearsal-stack');
    try {
      return synthesizeRehearsalStack({
        clusterName: this.clusterName,
        nodeAddresses: this.state.nodes.map((n) => n.address),
        vpcCidr: this.state.subnet,
        timing,
        postgresParameters: parameters,
        endpointAddress: this.state.client.address,
        nodeSecretVersion: certificates.nodeSecretVersion,
        certificateRotation: certificates.certificateRotation,
        ssmAgent: standInSsmAgentKey(booted.ssmAgentDir(this.state.dir)),
        imageId,
      });
    } catch (err) {
      throw new LocalClusterError(`apply: ${oneLine(err)}`);
    }
  }

  /** EC2's side of the nodes' replace-root-volume tasks (an image change), on this cluster's nodes. */
  private rootVolumeTasks(): RootVolumeTasks {
    return new RootVolumeTasks({
      file: path.join(this.state.dir, ROOT_VOLUME_TASKS_FILE),
      log: (line) => this.log(line),
      nodeOf: (instanceId) => this.state.nodes.find((n) => n.boot?.instanceId === instanceId)?.name,
      shutDown: async (name) => {
        const nspawn = this.node(name).boot?.nspawn;
        return nspawn ? stopContainer(nspawn.pid, REBOOT_GRACE_MS) : 'not running';
      },
      bootFreshRoot: async (name) => {
        await this.bootNode(name, true);
        this.update((st) => {
          const b = st.nodes.find((n) => n.name === name)!.boot!;
          b.roots = (b.roots ?? 1) + 1;
        });
        this.setFaults(name, () => ({}));
      },
      launchImages: () => new Map(booted.readStandInConfig(this.state.boot!).instances.map((i) => [i.instanceId, i.imageId ?? REHEARSAL_IMAGE_ID])),
    });
  }

  private publish(stack: RehearsalStack): void {
    booted.publishStack(path.join(this.state.dir, booted.CLOUDFORMATION_STACK_FILE), stack, this.state.nodes.map((n) => n.boot!.instanceId));
  }

  /** Publishes the stack's metadata and waits for every node's signal; returns the nodes in the order they applied it. */
  private async publishAndWait(stack: RehearsalStack, timeoutMs?: number): Promise<string[]> {
    const since = Math.floor(Date.now() / 1000);
    this.publish(stack);
    this.log(`published the change (wait condition ${stack.waitHandle}); the nodes' agents apply it one node at a time`);
    const signalsFile = path.join(this.state.dir, booted.CLOUDFORMATION_SIGNALS_FILE);
    // An image change: the agents' replace-root-volume tasks are performed meanwhile, as EC2 would.
    const tasks = this.rootVolumeTasks().perform();
    try {
      await waitForGeneration({
      handle: stack.waitHandle,
      signalsFile,
      nodeNames: this.nodeNames,
      timeoutMs: timeoutMs ?? 1_800_000 * this.nodeNames.length,
      agentLines: async (name) => {
        const r = await runInContainer(this.containerInit(name), ['journalctl', '--quiet', '--no-pager', '-o', 'cat', '-u', AGENT_UNIT_NAMES.service, '--since', `@${since}`], { allowFailure: true });
          return r.stdout.split('\n').filter((l) => /^cdk-failover(-agent)?: /.test(l));
        },
        log: (line) => this.log(line),
      });
    } finally {
      await tasks.stop();
    }
    return [...handleSignals(readRecordedSignals(signalsFile), stack.waitHandle).keys()];
  }

  /** Where a booted node's user data is: 'done', 'running' or 'failed' (with its last error line). */
  public async userData(name: string): Promise<{ readonly state: 'done' | 'running' | 'failed'; readonly line?: string }> {
    this.requireBooted('user data');
    return booted.userDataState(this.containerInit(name));
  }

  /**
   * The Secrets Manager stand-in answers for the cluster's secrets (`true`, as deployed) or for
   * none (`false`: ResourceNotFoundException, as after a deleted secret). Booted clusters only.
   */
  public async setSecretsAvailable(available: boolean): Promise<void> {
    this.requireBooted('setSecretsAvailable');
    const config = booted.readStandInConfig(this.state.boot!);
    await this.restartStandIn({ ...config, secrets: available ? booted.readSecrets(this.state.boot!) : {} });
    this.log(`Secrets Manager stand-in: the cluster's secrets are ${available ? 'back' : 'gone'}`);
  }

  /** What the CloudWatch stand-in recorded (booted clusters). */
  public recordedMetrics(): RecordedDatum[] {
    this.requireBooted('recordedMetrics');
    return readRecordedMetrics(this.state.boot!.metricsFile);
  }

  private async createNetwork(): Promise<void> {
    const s = this.state;
    this.log(`creating namespaces and bridge on ${s.subnet} (${s.nodes.length} nodes + client)`);
    await createNetwork({
      switchNamespace: s.switchNamespace,
      prefixLength: s.prefixLength,
      attachments: [
        ...s.nodes.map((n) => ({ namespace: n.namespace, switchPort: n.switchPort, address: n.address })),
        { namespace: s.client.namespace, switchPort: s.client.switchPort, address: s.client.address },
      ],
    });
  }

  private async etcdHealthy() {
    for (const node of this.state.nodes) {
      const answer = await httpInNamespace(this.clientNamespace, {
        url: `${etcdScheme(this.spec)}://${node.address}:${this.spec.ports.etcdClient}/health`,
        timeoutMs: 1000,
        tls: this.etcdClientTls,
      });
      const health = parseJson<{ health?: string }>(answer);
      if (health?.health !== 'true') return notYet(`etcd on ${node.name}: ${answer.error ?? answer.body.trim() ?? answer.status}`);
    }
    return done(true);
  }

  /**
   * Why the front's writer or reader does not answer yet, or undefined when both do. A standby
   * cluster's writer has no server (HAProxy routes to a primary only): only its reader is asked.
   */
  private async checkEndpoints(standby: boolean): Promise<string | undefined> {
    const w = standby ? undefined : await this.trySql('SELECT pg_is_in_recovery()', { uri: this.writerUri, timeoutMs: 5000 });
    if (w && (w.code !== 0 || w.stdout.trim() !== 'f')) return `writer endpoint ${this.writer}: ${w.stderr.trim().split('\n')[0] || w.stdout.trim()}`;
    if (this.state.nodes.length > 1) {
      const r = await this.trySql('SELECT pg_is_in_recovery()', { uri: this.readerUri, timeoutMs: 5000 });
      if (r.code !== 0 || r.stdout.trim() !== 't') return `reader endpoint ${this.reader}: ${r.stderr.trim().split('\n')[0] || r.stdout.trim()}`;
    }
    return undefined;
  }

  private async startService(name: string, service: NodeService, extraArgs: readonly string[] = []): Promise<ProcessRecord> {
    const node = this.node(name);
    const postgres = postgresUser();
    const record = await startDetached({
      namespace: node.namespace,
      argv: [...nodeServiceArgv(service, node.paths), ...extraArgs],
      logFile: path.join(node.paths.logDir, `${service}.out`),
      runAs: service === 'patroni' || service === 'pgbackrest' ? postgres : service === 'etcd' ? etcdUser() : undefined,
      cwd: service === 'patroni' ? postgres.home : '/',
    });
    this.update((s) => {
      s.nodes.find((x) => x.name === name)!.processes[service] = record;
    });
    return record;
  }

  /**
   * A running service stopped (SIGTERM to its recorded PID) and started again with the same files,
   * as the agent's restarts do; nothing when it does not run. pgBackRest's TLS server loads its
   * certificate when it starts, etcd its trusted CA.
   */
  private async restartProcess(name: string, service: 'pgbackrest' | 'etcd'): Promise<void> {
    if (await this.stopProcess(name, service)) await this.startService(name, service);
  }

  /** SIGTERM to the service's recorded PID, and its exit awaited; false when it did not run. */
  private async stopProcess(name: string, service: 'pgbackrest' | 'etcd' | 'haproxy'): Promise<boolean> {
    const node = this.node(name);
    const pid = await recordedPidInNamespace(node.processes[service], node.namespace);
    if (pid === undefined) return false;
    signal(pid, 'SIGTERM');
    const left = await waitForExitOf([pid], 10_000);
    if (left.length) throw new LocalClusterError(`${service} on ${name} (pid ${pid}) did not stop within 10 s`);
    return true;
  }

  /**
   * The node's HAProxy stopped, so no endpoint routes a client to it (a planned fail-back's first
   * step; on EC2, `systemctl stop cdk-failover-haproxy.service`). `heal` starts it again. Processes mode only.
   */
  public async stopHaproxy(name: string): Promise<void> {
    if (this.booted()) throw new LocalClusterError('stopHaproxy: a booted cluster runs HAProxy under systemd');
    if (await this.stopProcess(name, 'haproxy')) this.log(`stopped HAProxy on ${name}`);
  }

  /**
   * HAProxy's soft reload: a new process takes the listeners (`-sf`: the old one stops accepting
   * and leaves once its sessions end), as `systemctl reload` does for the unit's master-worker.
   */
  private async reloadHaproxy(name: string): Promise<void> {
    const node = this.node(name);
    const pid = await recordedPidInNamespace(node.processes.haproxy, node.namespace);
    if (pid === undefined) throw new LocalClusterError(`HAProxy on ${name} does not run: there is nothing to reload`);
    await checkHaproxyConfig(configFilePath(node.paths, 'haproxy'));
    await this.startService(name, 'haproxy', ['-sf', String(pid)]);
  }

  /** What a renewed cluster CA takes on a node, as the agent's restart-etcd and reload-haproxy do: both load their trusted CA when they start. */
  private async loadRenewedCa(name: string): Promise<void> {
    // Never a member down beside another one: quorum first.
    await waitFor('etcd healthy on every member', () => this.etcdHealthy(), { timeoutMs: 60_000, intervalMs: 500 });
    await this.restartProcess(name, 'etcd');
    await waitFor('etcd healthy on every member', () => this.etcdHealthy(), { timeoutMs: 60_000, intervalMs: 500 });
    await this.reloadHaproxy(name);
  }

  /** The NLB stand-in: HAProxy in the client namespace in front of every node's HAProxy. */
  /** The S3 stand-in in the client namespace, and its name in every namespace's hosts file. */
  private async startRepository(): Promise<void> {
    const c = this.state.client;
    fs.mkdirSync(c.dir, { recursive: true, mode: 0o755 });
    for (const ns of [c.namespace, ...this.state.nodes.map((n) => n.namespace)]) writeNamespaceHosts(ns, c.address);
    this.log('starting the S3 stand-in (the backup repository)');
    const record = await startS3StandIn(this.state.stateRoot, c.namespace, c.address, path.join(c.dir, 's3-standin.out'));
    this.update((st) => {
      st.client.processes.s3 = record;
    });
  }

  /** A streaming standby's link to its primary's writer endpoint, before its nodes start. */
  private async startPeering(peering: StandbyPeeringState): Promise<void> {
    const c = this.state.client;
    this.log(`linking to the primary's writer endpoint (${peering.primaryNamespace}, ${peering.primaryAddress}:${peering.primaryPort}) at ${c.address}:${PEERING_PORT}`);
    const record = await startPeering({ namespace: c.namespace, address: c.address, dir: c.dir, ...peering });
    this.update((st) => {
      st.client.processes.peering = record;
    });
  }

  private async startFront(): Promise<void> {
    const c = this.state.client;
    fs.mkdirSync(c.dir, { recursive: true, mode: 0o755 });
    writeFiles(frontFiles(this.state.spec, c.address, c.dir));
    await checkHaproxyConfig(path.join(c.dir, FRONT_CONFIG));
    const record = await startDetached({
      namespace: c.namespace,
      argv: ['haproxy', '-db', '-f', path.join(c.dir, FRONT_CONFIG)],
      logFile: path.join(c.dir, 'front.out'),
    });
    this.update((s) => {
      s.client.processes.front = record;
    });
  }

  private node(name: string): LocalNodeState {
    const node = this.state.nodes.find((n) => n.name === name);
    if (!node) throw new LocalClusterError(`no node '${name}' in cluster '${this.clusterName}' (nodes: ${this.nodeNames.join(', ')})`);
    return node;
  }

  /** Records the node's faults (read from the state file afresh: another process may have changed them). */
  private setFaults(name: string, change: (faults: NodeFaults) => NodeFaults): void {
    this.update((s) => {
      const n = s.nodes.find((x) => x.name === name)!;
      n.faults = change(n.faults);
    });
  }

  /** Re-reads the state file (another process may have injected or healed a fault). */
  private reload(): this {
    const fresh = readState(stateFile(this.state.stateRoot, this.state.clusterName));
    if (fresh) this.state = fresh;
    return this;
  }

  /** Read, change, write the state file. */
  private update(change: (state: LocalClusterState) => void): void {
    this.reload();
    change(this.state);
    writeState(stateFile(this.state.stateRoot, this.state.clusterName), this.state);
  }

  private uri(hostPort: string): string {
    const { username, password } = this.spec.credentials.superuser;
    return `postgresql://${username}:${password}@${hostPort}/postgres?${this.uriParameters()}`;
  }

  /** connect_timeout, and with TLS the CA that the server's certificate and address are checked against. */
  private uriParameters(): string {
    const tls = this.spec.tls ? `&sslmode=verify-full&sslrootcert=${encodeURIComponent(localTlsFiles(this.state.dir).databaseCaCert)}` : '';
    return `connect_timeout=2${tls}`;
  }
}

/** `haproxy -c`: a file HAProxy would refuse is reported before anything starts with it. */
async function checkHaproxyConfig(file: string): Promise<void> {
  const check = await run('haproxy', ['-c', '-q', '-f', file], { allowFailure: true, timeoutMs: 10_000 });
  if (check.code !== 0) throw new LocalClusterError(`haproxy -c rejects ${file}: ${oneLine(check.stderr || check.stdout)}`);
}

/** Linux and root, or one clear line. */
export function assertHost(): void {
  if (process.platform !== 'linux') {
    throw new LocalClusterError(`the local cluster needs Linux (network namespaces); this is ${process.platform}`);
  }
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new LocalClusterError('the local cluster needs root (network namespaces, PostgreSQL as the postgres user); run it with sudo');
  }
}

function resolveTiming(timing: TimingProfileName | ClusterTiming): { timing: ClusterTiming; profile: string } {
  if (typeof timing === 'string') {
    if (!isTimingProfileName(timing)) {
      throw new LocalClusterError(`timing must be one of ${Object.keys(TIMING_PROFILES).join(', ')}, got '${timing}'`);
    }
    return { timing: TIMING_PROFILES[timing], profile: timing };
  }
  try {
    checkTiming(timing);
  } catch (err) {
    throw new LocalClusterError(oneLine(err));
  }
  return { timing, profile: 'custom' };
}

function faultNames(f: NodeFaults): string[] {
  return [f.killed && 'killed', f.frozen && 'frozen', f.partitioned && 'partitioned', f.etcdKilled && 'etcd-killed'].filter(
    (x): x is string => typeof x === 'string',
  );
}

function faultCount(f: NodeFaults): number {
  return faultNames(f).length;
}

function serialOf(certificatePem: string): string {
  return new X509Certificate(certificatePem).serialNumber;
}
