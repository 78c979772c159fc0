// What a node is: everything the node agent needs to boot it and to keep it at the desired
// configuration, rendered at synth with placeholders where deploy-time values go. It travels in
// the instance's CloudFormation metadata (gzip-compressed), never in the user data, so a changed
// file reaches running nodes through the agent and never touches the instance itself.
import { APT_PROXY_FILE } from './apt-proxy';
import { CREDENTIAL_BROKER_PROGRAM, CREDENTIAL_BROKER_UNIT } from './credential-broker';
import { IMDS_FIREWALL_FILE, IMDS_FIREWALL_UNIT } from './imds-firewall';
import { createHash } from 'crypto';
import * as path from 'path';
import { gzipSync } from 'zlib';
import { AGENT_UNIT_NAMES, DRAIN_UNIT_NAME, NODE_AGENT_PATH, renderAgentService, renderAgentTimer, renderDrainService } from './agent-units';
import { BACKUP_UNIT_NAMES, backupUnitsToRun } from './backup-runner';
import { BootstrapOptions, renderBootstrapScript } from './bootstrap-script';
import { FILL_PLACEHOLDERS_PY } from './fill-placeholders';
import { NODE_AGENT_PY } from './node-agent-py';
import { findNode } from './nodes';
import { configFilePath, nodePaths } from './paths';
import { dynamicConfiguration } from './patroni-yml';
import { backsUpFromStandby, backupRunnerPath, checkedBackup, pgBackRestConfigPath, pgBackRestDirs } from './pgbackrest';
import { RenderedFile, renderNodeConfigFiles, renderSystemdUnitFiles, renderSystemFiles } from './node-files';
import { ClusterCredentials, ClusterSpec, NodePaths } from './spec';
import { TLS_DIR_NAME, TLS_FILE_NAMES, TLS_FILE_OWNERS, TLS_FILE_SOURCES, TlsFile, tlsFileMode } from './tls';
import { SYSTEMD_UNIT_NAMES } from './systemd-units';
import { SSM_AGENT_INSTALLER_PATH, SSM_AGENT_PROGRAM, SSM_AGENT_UNIT } from './ssm-agent';
import { checkedStandby } from './standby';

/** Secrets Manager secret ARNs (or placeholders for them). Each SecretString is JSON with a string `password` field. */
export interface BootstrapSecretIds {
  readonly superuser: string;
  readonly replication: string;
  readonly rewind: string;
  readonly restApi: string;
}

/**
 * What the agent does when a file changes, in this order. Restarting Patroni (or PostgreSQL for a
 * `pending_restart`) comes last and, on the leader, after a switchover.
 */
export const AGENT_ACTIONS = [
  'daemon-reload',
  'prepare-backup',
  'restart-etcd',
  'reload-haproxy',
  'restart-haproxy',
  'restart-metrics',
  'restart-backup-timers',
  // New certificate files (a rotation): Patroni and PostgreSQL re-read theirs; etcd reads its pair at every handshake
  // (a renewed cluster CA adds restart-etcd, reload-haproxy and restart-metrics: each loads its trusted CA at start).
  'reload-tls',
  // Before the leader's switchover and restart: stanza-create needs pg1 to be the primary.
  'stanza-create',
  'reload-patroni',
  'restart-patroni',
] as const;
export type AgentAction = (typeof AGENT_ACTIONS)[number];

export interface BundleFile extends RenderedFile {
  /** What applying a change of this file takes. */
  readonly onChange: readonly AgentAction[];
  /** The file holds password placeholders the agent fills from Secrets Manager. */
  readonly passwords?: boolean;
}

export interface NodeBundleOptions extends BootstrapOptions {
  readonly secretIds: BootstrapSecretIds;
  /**
   * How long a node may take to lead or stream after its boot or a change.
   * @default 900
   */
  readonly readySeconds?: number;
  /**
   * How long one node's application of a change may take, the wait for the cluster's lock included.
   * @default 1800
   */
  readonly applySeconds?: number;
  /**
   * Where the nodes' certificates are (NodeTlsSecret's JSON): the secret and the version this
   * generation installs (placeholders). Required with `spec.tls`.
   * @default - none (no TLS)
   */
  readonly tlsSecret?: { readonly secretId: string; readonly versionId: string };
}

/** What the agent needs to install a node's certificate files (see tls.ts). */
export interface BundleTls {
  readonly secretId: string;
  readonly versionId: string;
  readonly node: string;
  /** `<configDir>/tls`: a symlink to the directory of the version installed. */
  readonly link: string;
  readonly files: readonly { readonly name: string; readonly source: string; readonly owner: string; readonly mode: string }[];
  /** How PostgreSQL is told to re-read its certificate (pg_ctl reload of the data directory). */
  readonly pgCtl: string;
  readonly dataDir: string;
  /**
   * A standby that streams: the primary's database CA (PEM or placeholder), appended to the
   * database CA file so that replication's `verify-full` accepts the primary. @default - none
   */
  readonly primaryDatabaseCa?: string;
}

/** The node's desired configuration, as the agent reads it (JSON). */
export interface NodeBundle {
  readonly bootstrap: string;
  readonly files: readonly BundleFile[];
  /** Password placeholder -> the secret (id or placeholder) whose `password` replaces it. */
  readonly passwords: Readonly<Record<string, string>>;
  readonly fillProgram: string;
  readonly dynamicConfiguration: ReturnType<typeof dynamicConfiguration>;
  /** The cluster's member names: a change of them is refused on the nodes (not applied live). */
  readonly members: readonly string[];
  readonly readySeconds: number;
  readonly applySeconds: number;
  readonly actionOrder: readonly AgentAction[];
  readonly patroniConfig: string;
  readonly haproxyConfig: string;
  /** pgBackRest's directories and the backup runner, when the cluster has backups. */
  readonly backup?: { readonly dirs: readonly string[]; readonly runner: string };
  readonly units: typeof SYSTEMD_UNIT_NAMES & {
    readonly agentTimer: string;
    /** Drains the node as it shuts down (`drain-on-stop`); agents of earlier versions ignore it. */
    readonly drain: string;
    readonly backupTimers: readonly string[];
    /** pgBackRest's TLS server, restarted with new certificates (a rotation). */
    readonly backupServer?: string;
  };
  /**
   * The IMDS firewall's unit and rules file, which the agent keeps loaded, and the credential
   * broker it sends postgres's requests to, which the agent keeps running (started first).
   */
  readonly imdsFirewall: { readonly unit: string; readonly rules: string; readonly broker: { readonly unit: string; readonly program: string } };
  /** With TLS: the node's certificate files, installed from Secrets Manager. */
  readonly tls?: BundleTls;
  /** The SSM agent, installed by the installer wherever its program is missing (at first boot when `required`). */
  readonly ssmAgent?: { readonly installer: string; readonly program: string; readonly unit: string; readonly required: boolean };
}

const PLACEHOLDER = /^__[A-Z0-9_]+__$/;
const CREDENTIALS = ['superuser', 'replication', 'rewind', 'restApi'] as const;

/** Throws unless every password in the spec is a distinct `__NAME__` placeholder (never a real secret in a template). */
function checkPlaceholders(credentials: ClusterCredentials): void {
  const seen = new Set<string>();
  for (const key of CREDENTIALS) {
    const placeholder = credentials[key].password;
    if (!PLACEHOLDER.test(placeholder)) {
      throw new Error(
        `credentials.${key}.password must be a placeholder like __${key.toUpperCase()}_PASSWORD__ in a template, not a password`,
      );
    }
    if (seen.has(placeholder)) {
      throw new Error(`credentials.${key}.password reuses placeholder ${placeholder}: each password needs its own`);
    }
    seen.add(placeholder);
  }
}

function positiveSeconds(value: number | undefined, fallback: number, what: string): number {
  const seconds = value ?? fallback;
  if (!Number.isInteger(seconds) || seconds < 1) throw new Error(`${what} must be a positive whole number of seconds, got ${seconds}`);
  return seconds;
}

function onChangeOf(spec: ClusterSpec, nodeName: string, file: RenderedFile): readonly AgentAction[] {
  const paths = nodePaths(spec, findNode(spec, nodeName));
  const unit = (name: string) => `/etc/systemd/system/${name}`;
  const table: Record<string, readonly AgentAction[]> = {
    [configFilePath(paths, 'patroni')]: ['reload-patroni'],
    [configFilePath(paths, 'etcd')]: ['restart-etcd'],
    [configFilePath(paths, 'haproxy')]: ['reload-haproxy'],
    [configFilePath(paths, 'roleChangeCallback')]: [], // run afresh at every role change
    [configFilePath(paths, 'metricsPublisher')]: ['restart-metrics'],
    [unit(SYSTEMD_UNIT_NAMES.etcd)]: ['daemon-reload', 'restart-etcd'],
    [unit(SYSTEMD_UNIT_NAMES.patroni)]: ['daemon-reload', 'restart-patroni'],
    [unit(SYSTEMD_UNIT_NAMES.haproxy)]: ['daemon-reload', 'restart-haproxy'],
    [unit(SYSTEMD_UNIT_NAMES.metrics)]: ['daemon-reload', 'restart-metrics'],
    // pgBackRest reads its configuration, and systemd runs backup.py, afresh every time.
    // The TLS server reads it only when it starts: restart-backup-timers restarts the server too.
    [pgBackRestConfigPath(paths)]: ['prepare-backup', 'restart-backup-timers', 'stanza-create'],
    [backupRunnerPath(paths)]: [],
    [APT_PROXY_FILE]: [], // apt reads it afresh
    // Loaded by the agent at every run (ensure_imds_firewall), not by an action: an older agent
    // rolls out the generation that brings these files and must know every action it meets.
    [IMDS_FIREWALL_FILE]: [],
    // Started, and restarted on a change, by the agent before it loads the firewall (ensure_imds_firewall).
    [CREDENTIAL_BROKER_PROGRAM]: [],
    [unit(CREDENTIAL_BROKER_UNIT)]: ['daemon-reload'],
    // Run by the agent where the SSM agent is missing (ensure_ssm_agent), never on a change.
    [SSM_AGENT_INSTALLER_PATH]: [],
    [unit(IMDS_FIREWALL_UNIT)]: ['daemon-reload'],
    [unit(BACKUP_UNIT_NAMES.service)]: ['daemon-reload'],
    [unit(BACKUP_UNIT_NAMES.full)]: ['daemon-reload', 'restart-backup-timers'],
    [unit(BACKUP_UNIT_NAMES.diff)]: ['daemon-reload', 'restart-backup-timers'],
    [unit(BACKUP_UNIT_NAMES.server)]: ['daemon-reload', 'restart-backup-timers'],
  };
  const actions = table[file.path];
  if (actions === undefined) throw new Error(`no rollout is defined for a change of ${file.path}`);
  return actions;
}

function bundleTls(spec: ClusterSpec, nodeName: string, paths: NodePaths, tlsSecret: NodeBundleOptions['tlsSecret']): BundleTls {
  if (!tlsSecret) throw new Error('spec.tls needs options.tlsSecret: the nodes install their certificates from it');
  const primaryDatabaseCa = checkedStandby(spec)?.primaryDatabaseCa;
  return {
    ...tlsSecret,
    node: nodeName,
    link: path.posix.join(paths.configDir, TLS_DIR_NAME),
    files: (Object.keys(TLS_FILE_NAMES) as TlsFile[]).map((file) => ({
      name: TLS_FILE_NAMES[file],
      source: TLS_FILE_SOURCES[file],
      owner: TLS_FILE_OWNERS[file],
      mode: `0${tlsFileMode(file).toString(8)}`,
    })),
    pgCtl: path.posix.join(paths.binDir, 'pg_ctl'),
    dataDir: paths.dataDir,
    ...(primaryDatabaseCa !== undefined ? { primaryDatabaseCa } : {}),
  };
}

/** The bundle for `nodeName`. The spec's passwords must be placeholders. */
export function renderNodeBundle(spec: ClusterSpec, nodeName: string, options: NodeBundleOptions): NodeBundle {
  checkPlaceholders(spec.credentials);
  const paths = nodePaths(spec, findNode(spec, nodeName));
  const readySeconds = positiveSeconds(options.readySeconds, 900, 'readySeconds');
  const applySeconds = positiveSeconds(options.applySeconds, 1800, 'applySeconds');
  const patroniConfig = configFilePath(paths, 'patroni');
  const rendered = [...renderNodeConfigFiles(spec, nodeName), ...renderSystemdUnitFiles(spec, nodeName), ...renderSystemFiles(spec, nodeName)].map(
    (f): BundleFile => ({ ...f, onChange: onChangeOf(spec, nodeName, f), ...(f.path === patroniConfig ? { passwords: true } : {}) }),
  );
  const root = (path: string, content: string, mode: string, onChange: readonly AgentAction[]): BundleFile => ({
    path,
    content,
    mode,
    owner: 'root',
    group: 'root',
    onChange,
  });
  const { credentials } = spec;
  const { secretIds } = options;
  return {
    bootstrap: renderBootstrapScript(spec, nodeName, options),
    files: [
      ...rendered,
      // A new agent takes over at its next run; its units need only a daemon-reload.
      root(NODE_AGENT_PATH, NODE_AGENT_PY, '0755', []),
      root(`/etc/systemd/system/${AGENT_UNIT_NAMES.service}`, renderAgentService(spec.clusterName, applySeconds), '0644', ['daemon-reload']),
      root(`/etc/systemd/system/${AGENT_UNIT_NAMES.timer}`, renderAgentTimer(spec.clusterName), '0644', ['daemon-reload']),
      // Enabled by the agent once the node is ready; a changed file counts at the next shutdown.
      root(
        `/etc/systemd/system/${DRAIN_UNIT_NAME}`,
        renderDrainService(spec.clusterName, [...Object.values(SYSTEMD_UNIT_NAMES), SSM_AGENT_UNIT]),
        '0644',
        ['daemon-reload'],
      ),
    ],
    passwords: {
      [credentials.superuser.password]: secretIds.superuser,
      [credentials.replication.password]: secretIds.replication,
      [credentials.rewind.password]: secretIds.rewind,
      [credentials.restApi.password]: secretIds.restApi,
    },
    fillProgram: FILL_PLACEHOLDERS_PY,
    dynamicConfiguration: dynamicConfiguration(spec),
    members: spec.nodes.map((n) => n.name),
    readySeconds,
    applySeconds,
    actionOrder: AGENT_ACTIONS,
    patroniConfig,
    haproxyConfig: configFilePath(paths, 'haproxy'),
    ...(checkedBackup(spec) ? { backup: { dirs: Object.values(pgBackRestDirs(paths)), runner: backupRunnerPath(paths) } } : {}),
    // `backupTimers` keeps its name, which agents of earlier versions read: it lists every backup unit to run.
    units: {
      ...SYSTEMD_UNIT_NAMES,
      agentTimer: AGENT_UNIT_NAMES.timer,
      drain: DRAIN_UNIT_NAME,
      backupTimers: backupUnitsToRun(spec),
      ...(backsUpFromStandby(spec) ? { backupServer: BACKUP_UNIT_NAMES.server } : {}),
    },
    imdsFirewall: { unit: IMDS_FIREWALL_UNIT, rules: IMDS_FIREWALL_FILE, broker: { unit: CREDENTIAL_BROKER_UNIT, program: CREDENTIAL_BROKER_PROGRAM } },
    ...(spec.tls ? { tls: bundleTls(spec, nodeName, paths, options.tlsSecret) } : {}),
    ...(spec.ssmAgent ? { ssmAgent: { installer: SSM_AGENT_INSTALLER_PATH, program: SSM_AGENT_PROGRAM, unit: SSM_AGENT_UNIT, required: spec.ssmAgent.required } } : {}),
  };
}

/** The bundle as it travels: gzip (fixed level, no mtime: the same bytes every synth), base64. */
export function packBundle(bundle: NodeBundle): string {
  return gzipSync(Buffer.from(JSON.stringify(bundle), 'utf8'), { level: 9 }).toString('base64');
}

/** The generation a node reports once applied: a digest of the packed bundle and its values. */
export function bundleGeneration(packed: string, values: unknown): string {
  return createHash('sha256').update(packed).update(JSON.stringify(values)).digest('hex').slice(0, 16);
}
