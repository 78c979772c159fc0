// What the database runbook says about a PatroniCluster, read from the construct, its spec and
// the resources it created.
import { CfnResource } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { CLUSTER_PORTS, PatroniCluster } from '../patroni';
import { backupRunnerPath, clusterPaths, ClusterTiming, configFilePath, NodePaths, pgBackRestConfigPath, SYSTEMD_UNIT_NAMES } from '../patroni/config';
import { EtcdNodeLayout } from './etcd-procedures';
import { OutputRef, RunbookContext } from './stack-context';
import { tlsFilePath } from '../patroni/config/tls';

export interface NodeFacts {
  readonly index: number;
  /** Patroni and etcd member name. */
  readonly name: string;
  readonly availabilityZone?: string;
}

export interface PatroniFacts {
  readonly context: RunbookContext;
  readonly path: string;
  readonly clusterName: string;
  readonly nodes: readonly NodeFacts[];
  readonly instanceType?: string;
  readonly postgresVersion: number;
  readonly timingProfile: string;
  readonly timing: ClusterTiming;
  readonly synchronousMode: 'on' | 'strict' | 'off';
  readonly maximumLagOnFailoverBytes: number;
  readonly replicaMaxLagBytes: number;
  readonly watchdogMode: string;
  readonly superuser: string;
  readonly restApiUser: string;
  readonly metricsNamespace: string;
  readonly paths: NodePaths;
  readonly files: { readonly patroni: string; readonly etcd: string; readonly haproxy: string; readonly roleChangeCallback: string };
  readonly units: typeof SYSTEMD_UNIT_NAMES;
  readonly ports: typeof CLUSTER_PORTS;
  readonly outputs: ReadonlyMap<string, OutputRef>;
  /** Logical IDs of resources that hold deploy-time values without an output. */
  readonly resources: {
    readonly replicationSecret?: string;
    readonly rewindSecret?: string;
    readonly writerTargetGroup?: string;
    readonly readerTargetGroup?: string;
  };
  /** Where etcd's files are on every node. */
  readonly etcdLayout: EtcdNodeLayout;
  /** Whether the nodes install AWS's SSM agent themselves (`ssmAgent`). */
  readonly ssmAgent: boolean;
  /** With TLS: the files etcdctl shows on a node (the cluster CA, the node's certificate, etcd's copy of its key). */
  readonly tls?: { readonly caCert: string; readonly cert: string; readonly key: string };
  /** pgBackRest, when the cluster has `backup`. */
  readonly backup?: {
    readonly configFile: string;
    readonly runner: string;
    readonly archiveTimeoutSeconds: number;
    readonly schedules: { readonly full: string; readonly diff: string };
    readonly repositories: number;
    /** The primary repository bucket's logical ID, when this stack made it. */
    readonly bucketLogicalId?: string;
  };
}

/** Reads everything the database runbook says about `cluster`. */
export function patroniFacts(cluster: PatroniCluster): PatroniFacts {
  const context = RunbookContext.of(cluster);
  const spec = cluster.spec;
  const paths = clusterPaths(spec);
  const files = {
    patroni: configFilePath(paths, 'patroni'),
    etcd: configFilePath(paths, 'etcd'),
    haproxy: configFilePath(paths, 'haproxy'),
    roleChangeCallback: configFilePath(paths, 'roleChangeCallback'),
  };
  const secretId = (secret: secretsmanager.ISecret) => {
    const resource = secret.node.defaultChild;
    return resource instanceof CfnResource ? context.logicalId(resource) : undefined;
  };
  const targetGroups = cluster.node
    .findAll()
    .filter((c): c is elbv2.CfnTargetGroup => c instanceof elbv2.CfnTargetGroup)
    .map((tg) => ({ port: Number(context.concrete(tg.port)), logicalId: context.logicalId(tg) }));
  const firstInstance = cluster.nodes[0]?.instance.node.defaultChild as ec2.CfnInstance | undefined;
  return {
    context,
    path: cluster.node.path,
    clusterName: cluster.clusterName,
    nodes: cluster.nodes.map((node, index) => ({
      index,
      name: spec.nodes[index].name,
      availabilityZone: context.concrete(node.dataVolume.availabilityZone),
    })),
    instanceType: firstInstance ? context.concrete(firstInstance.instanceType) : undefined,
    postgresVersion: spec.postgresVersion,
    timingProfile: cluster.timing.name,
    timing: spec.timing,
    synchronousMode: spec.synchronousMode,
    maximumLagOnFailoverBytes: spec.maximumLagOnFailoverBytes,
    replicaMaxLagBytes: spec.replicaMaxLagBytes,
    watchdogMode: spec.watchdogMode,
    superuser: spec.credentials.superuser.username,
    restApiUser: spec.credentials.restApi.username,
    metricsNamespace: cluster.metricsNamespace,
    paths,
    files,
    units: SYSTEMD_UNIT_NAMES,
    ports: CLUSTER_PORTS,
    outputs: context.outputsOf(cluster, 'PatroniCluster'),
    resources: {
      replicationSecret: secretId(cluster.replicationSecret),
      rewindSecret: secretId(cluster.rewindSecret),
      writerTargetGroup: targetGroups.find((t) => t.port === CLUSTER_PORTS.haproxyPrimary)?.logicalId,
      readerTargetGroup: targetGroups.find((t) => t.port === CLUSTER_PORTS.haproxyReplica)?.logicalId,
    },
    ssmAgent: spec.ssmAgent !== undefined,
    etcdLayout: { configFile: files.etcd, dataDir: paths.etcdDataDir, unit: SYSTEMD_UNIT_NAMES.etcd, patroniConfigFile: files.patroni },
    ...(spec.tls ? { tls: { caCert: tlsFilePath(paths, 'caCert'), cert: tlsFilePath(paths, 'nodeCert'), key: tlsFilePath(paths, 'etcdKey') } } : {}),
    ...(spec.backup
      ? {
          backup: {
            configFile: pgBackRestConfigPath(paths),
            runner: backupRunnerPath(paths),
            archiveTimeoutSeconds: spec.backup.archiveTimeoutSeconds,
            schedules: spec.backup.schedules,
            repositories: spec.backup.repositories.length,
            bucketLogicalId: cluster.backupBucket?.node.defaultChild instanceof CfnResource ? context.logicalId(cluster.backupBucket.node.defaultChild) : undefined,
          },
        }
      : {}),
  };
}
