// A cluster's stack outputs, from its interface: what `fromClusterAttributes` and the CLI read back.
import { joinOutputList } from '../util/failover-outputs';
import { PatroniClusterOutputKey } from '../util/output-contract';
import { IPatroniCluster } from './patroni-cluster-base';

/** Operator access that only the construct that made the cluster holds. */
export interface ClusterAccessOutputs {
  readonly superuserSecretArn: string;
  readonly restApiSecretArn: string;
  readonly operatorTlsSecretArn?: string;
}

/** The output values of `cluster`: its attributes, and the secrets' ARNs. */
export function clusterOutputValues(cluster: IPatroniCluster, access: ClusterAccessOutputs): { [K in PatroniClusterOutputKey]?: string } {
  const list = (values: readonly string[]) => (values.length ? joinOutputList(values) : undefined);
  const seconds = (d: { toSeconds(): number } | undefined) => (d ? String(d.toSeconds()) : undefined);
  return {
    clusterName: cluster.clusterName,
    writerEndpoint: cluster.writerEndpoint.socketAddress,
    readerEndpoint: cluster.readerEndpoint.socketAddress,
    superuserSecretArn: access.superuserSecretArn,
    restApiSecretArn: access.restApiSecretArn,
    metricsNamespace: cluster.metricsNamespace,
    replicaMaxLagBytes: String(cluster.replicaMaxLag.toBytes()),
    operatorTlsSecretArn: access.operatorTlsSecretArn,
    nodeInstanceIds: list(cluster.nodeInstanceIds),
    nodeAddresses: list(cluster.nodeAddresses),
    securityGroupId: cluster.connections.securityGroups[0]?.securityGroupId,
    loadBalancerFullName: cluster.loadBalancerFullName,
    writerTargetGroupFullName: cluster.writerTargetGroupFullName,
    maxBackupAgeSeconds: seconds(cluster.backupLimits?.maxBackupAge),
    maxArchiveWaitSeconds: seconds(cluster.backupLimits?.maxArchiveWait),
    primaryClusterName: cluster.primaryClusterName,
    certificateValiditySeconds: seconds(cluster.certificateValidity),
  };
}
