import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { FAULT_KINDS, LocalCluster, type FaultKind, type LocalClusterStatus, type LocalStandbyStatus } from '../local/cluster';
import { DEFAULT_STATE_ROOT } from '../local/layout';
import { TIMING_PROFILES, type TimingProfileName } from '../local/profiles';
import { rejoinAsStandby } from '../local/rejoin';
import { IMAGE_ID_PATTERN, IMAGE_ID_SHAPE } from '../local/boot/root-volume-tasks';
import { standbyReadiness } from './standby-line';

interface CommonOptions {
  readonly cluster: string;
  readonly stateRoot: string;
}

function withCommon(cmd: Command): Command {
  return cmd
    .option('--cluster <name>', 'cluster name (namespaces cdkfo-<name>-*, state under <state-root>/<name>)', 'local')
    .option('--state-root <dir>', 'where clusters keep their files', DEFAULT_STATE_ROOT);
}

function progress(line: string): void {
  console.error(line);
}

/** `NAME=VALUE` of a PostgreSQL parameter (checked again, with the construct's rules, at synth). */
function parameter(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const m = /^([a-z_][a-z0-9_.]*)=(.+)$/.exec(value);
  if (!m) throw new InvalidArgumentError(`'${value}' is not NAME=VALUE (a PostgreSQL parameter name, '=', a non-empty value).`);
  return { ...previous, [m[1]!]: m[2]! };
}

/** An AMI ID, as the rehearsal's EC2 stand-in takes it. */
function imageId(value: string): string {
  if (!IMAGE_ID_PATTERN.test(value)) throw new InvalidArgumentError(`must be ${IMAGE_ID_SHAPE}, e.g. ami-0123456789abcdef0.`);
  return value;
}

function nodeCount(value: string): number {
  if (value !== '3' && value !== '5') throw new InvalidArgumentError('must be 3 or 5.');
  return Number(value);
}

/** `failover local ...`: a thin layer over LocalCluster. */
export function localCommands(): Command {
  const local = new Command('local')
    .description('a local rehearsal cluster: Patroni, etcd, HAProxy and PostgreSQL in network namespaces (Linux, root)')
    .enablePositionalOptions();

  withCommon(local.command('up'))
    .description('create the cluster (clearing stale state first); returns once a leader and streaming replicas exist')
    .addOption(new Option('--nodes <n>', 'number of nodes: 3 or 5').argParser(nodeCount).default(3))
    .addOption(new Option('--timing <profile>', 'timing profile').choices(Object.keys(TIMING_PROFILES)).default('default'))
    .option('--no-install', 'do not install missing Debian packages')
    .option('--boot', "boot each node as a Debian 12 system container that runs the synthesized template's user data")
    .option('--backup', 'archive WAL and take backups with pgBackRest into an S3 stand-in (the repository outlives the cluster)')
    .option('--standby-of <cluster>', "a standby cluster of that local cluster (made with --backup), following it through the repository until 'failover promote'")
    .option('--streaming', "with --standby-of: stream from the primary's writer endpoint too, through a relay standing in for the link between regions")
    .action(async (opts: CommonOptions & { nodes: number; timing: TimingProfileName; install: boolean; boot?: boolean; backup?: boolean; standbyOf?: string; streaming?: boolean }) => {
      const cluster = await LocalCluster.up({
        clusterName: opts.cluster,
        stateRoot: opts.stateRoot,
        nodes: opts.nodes,
        timing: opts.timing,
        installPackages: opts.install,
        boot: opts.boot ?? false,
        backup: opts.backup ?? false,
        standbyOf: opts.standbyOf,
        streaming: opts.streaming ?? false,
        log: progress,
      });
      printStatus(await cluster.status());
    });

  withCommon(local.command('rejoin'))
    .description(
      'rebuild a cluster that a promotion fenced as a standby of the cluster promoted in its place: its data is discarded, its old repository path moved aside (fail-back, step 1)',
    )
    .requiredOption('--standby-of <cluster>', 'the cluster promoted in its place')
    .action(async (opts: CommonOptions & { standbyOf: string }) => {
      const { cluster, movedAside } = await rejoinAsStandby({ clusterName: opts.cluster, stateRoot: opts.stateRoot, standbyOf: opts.standbyOf, log: progress });
      progress(`the old repository path is kept as '${movedAside}'`);
      printStatus(await cluster.status());
    });

  withCommon(local.command('status'))
    .description('per node: address, role, state, timeline, lag; the writer and reader endpoints and URIs')
    .option('--json', 'print JSON (a stable interface)')
    .action(async (opts: CommonOptions & { json?: boolean }) => {
      const status = await LocalCluster.open({ clusterName: opts.cluster, stateRoot: opts.stateRoot }).status();
      if (opts.json) console.log(JSON.stringify(status, null, 2));
      else printStatus(status);
    });

  withCommon(local.command('exec'))
    .description(
      'run a command in the client namespace (FAILOVER_WRITER_URI, FAILOVER_READER_URI, PGPASSWORD set), or with --node on ' +
        'that node (inside its container when booted, else in its namespace); exits with its code',
    )
    .option('--node <name>', 'run it on this node instead of the client')
    .argument('<command...>', 'the command and its arguments (put them after --)')
    .passThroughOptions()
    .action(async (argv: string[], opts: CommonOptions & { node?: string }) => {
      const cluster = LocalCluster.open({ clusterName: opts.cluster, stateRoot: opts.stateRoot });
      const command = opts.node ? cluster.spawnOnNode(opts.node, argv) : cluster.spawnInClient(argv);
      // Ctrl-C reaches the child from the terminal itself; pass on what is sent to this process alone.
      const relay = (sig: NodeJS.Signals) => () => command.kill(sig);
      process.on('SIGINT', () => undefined);
      process.on('SIGTERM', relay('SIGTERM'));
      process.on('SIGHUP', relay('SIGHUP'));
      process.exitCode = await command.exitCode();
    });

  withCommon(local.command('fault'))
    .description(
      'inject or heal a fault: kill (SIGKILL every process of the node), freeze (SIGSTOP), partition (link down), ' +
        'kill-etcd (its etcd member only), heal (link up, SIGCONT, restart what is not running); booted clusters also: ' +
        'reboot (a clean reboot), replace (a new instance on the same address and data volume: the user data runs again)',
    )
    .addArgument(new Argument('<kind>', FAULT_KINDS.join(' | ')).choices([...FAULT_KINDS]))
    .argument('<node>', 'node name, e.g. pg-0 (booted: <cluster>-0)')
    .option(
      '--drain',
      'reboot and replace: planned, not a fault: run `cdk-failover-agent drain` on the node first (the leader switches over, Patroni stops); ' +
        'its failure line stops the command with nothing stopped',
    )
    .action(async (kind: FaultKind, node: string, opts: CommonOptions & { drain?: boolean }) => {
      if (opts.drain && kind !== 'reboot' && kind !== 'replace') throw new InvalidArgumentError(`--drain is for reboot and replace only, not ${kind}.`);
      const cluster = LocalCluster.open({ clusterName: opts.cluster, stateRoot: opts.stateRoot, log: progress });
      await cluster.fault(kind, node, { drain: opts.drain });
    });

  withCommon(local.command('restart-all'))
    .description(
      "stops every booted node at once, as CloudFormation's instance-type change does, and starts each again once it is down " +
        "(each instance UPDATE_IN_PROGRESS meanwhile, so each node's shutdown drains it in turn, the leader last); prints when each went down and came back",
    )
    .action(async (opts: CommonOptions) => {
      const cluster = LocalCluster.open({ clusterName: opts.cluster, stateRoot: opts.stateRoot, log: progress });
      const report = await cluster.restartAll();
      for (const n of report.nodes) {
        const at = (t: number) => `${((t - n.stopAt) / 1000).toFixed(1)} s`;
        console.log(`${n.name}  down ${at(n.downAt)} (${n.shutdown})  ready ${at(n.readyAt)}`);
      }
    });

  withCommon(local.command('apply'))
    .description(
      'apply a changed specification to a running booted cluster as a deploy does: the stack is synthesized again and ' +
        "the nodes' agents apply it one node at a time (the leader last, after a switchover if PostgreSQL must restart); prints each step",
    )
    .addOption(new Option('--timing <profile>', 'a new timing profile').choices(Object.keys(TIMING_PROFILES)))
    .option('--set-parameter <name=value>', 'a PostgreSQL parameter to set (repeatable)', parameter)
    .option('--image <ami-id>', "a new machine image: each node's agent replaces its own root volume (EC2's replace-root-volume task, performed here), the leader last", imageId)
    .action(async (opts: CommonOptions & { timing?: TimingProfileName; setParameter?: Record<string, string>; image?: string }) => {
      if (opts.timing === undefined && opts.setParameter === undefined && opts.image === undefined) {
        throw new InvalidArgumentError('nothing to apply: give --timing, --set-parameter and/or --image.');
      }
      const cluster = LocalCluster.open({ clusterName: opts.cluster, stateRoot: opts.stateRoot, log: progress });
      await cluster.apply({ timing: opts.timing, parameters: opts.setParameter, imageId: opts.image });
    });

  withCommon(local.command('rotate-certificates'))
    .description(
      "the cluster's CAs renewed (same keys) and new node, database and operator certificates, rolled out one node at a time (the leader last): " +
        'etcd restarted, HAProxy, Patroni and PostgreSQL reloaded, no failover (booted nodes: as a deploy with a new ClusterTls rotation does it); returns once every node serves them',
    )
    .action(async (opts: CommonOptions) => {
      const cluster = LocalCluster.open({ clusterName: opts.cluster, stateRoot: opts.stateRoot, log: progress });
      const rotation = await cluster.rotateCertificates();
      for (const n of rotation.nodes) console.log(`${n.name}  etcd ${n.etcd}  patroni ${n.restApi}  postgresql ${n.postgres}`);
    });

  withCommon(local.command('down'))
    .description('remove every namespace, process and file of the cluster (also after a crash); idempotent')
    .action(async (opts: CommonOptions) => {
      const report = await LocalCluster.down({ clusterName: opts.cluster, stateRoot: opts.stateRoot, log: progress });
      const nothing = report.namespaces.length === 0 && !report.removedDir;
      progress(nothing ? `nothing to remove for cluster '${opts.cluster}'` : `cluster '${opts.cluster}' removed`);
    });

  return local;
}

/** The status table and endpoints of a local cluster. */
export function printStatus(s: LocalClusterStatus): void {
  const rows = [
    ['NODE', 'ADDRESS', 'ROLE', 'STATE', 'TL', 'LAG', 'FAULTS'],
    ...s.nodes.map((n) => [
      n.name,
      n.address,
      n.role,
      n.state,
      n.timeline === null ? '-' : String(n.timeline),
      n.lagBytes === null ? '-' : String(n.lagBytes),
      n.faults.join(',') || '-',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  console.log('');
  console.log(`cluster    ${s.cluster}, ${s.mode === 'booted' ? 'booted nodes' : 'processes'} (timing ${s.timingProfile}: ttl ${s.timing.ttlSeconds} s, loop_wait ${s.timing.loopWaitSeconds} s, retry_timeout ${s.timing.retryTimeoutSeconds} s)`);
  console.log(`writer     ${s.writer}   ${s.writerUri}`);
  console.log(`reader     ${s.reader}   ${s.readerUri}`);
  console.log(`client ns  ${s.clientNamespace}   (failover local exec -- psql "$FAILOVER_WRITER_URI")`);
  if (s.standby) console.log(`standby    ${standbyLine(s.standby)}`);
  if (!s.source) console.log('warning    no Patroni REST API answered');
}

/** A standby cluster's readiness in one line. */
export function standbyLine(s: LocalStandbyStatus): string {
  return `of '${s.of}': ${standbyReadiness(s.leader, s.replayAgeSeconds)}`;
}
