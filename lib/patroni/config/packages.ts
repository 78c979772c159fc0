/**
 * The Debian 12 packages that run the database on a node: the local cluster installs exactly these
 * on the host, so it rehearses the versions the EC2 nodes get.
 */
export function serverPackages(postgresVersion: number): string[] {
  return ['patroni', 'python3-etcd', 'python3-yaml', 'etcd-server', 'etcd-client', 'haproxy', `postgresql-${postgresVersion}`, 'pgbackrest'];
}

/** Everything a node installs: the servers, the AWS CLI and jq its scripts call, nftables for its IMDS firewall. */
export function nodePackages(postgresVersion: number): string[] {
  return [...serverPackages(postgresVersion), 'awscli', 'jq', 'nftables'];
}
