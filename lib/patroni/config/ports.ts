// The production ports, one place for the EC2 nodes and the local rehearsal cluster alike.
import { ClusterPorts } from './spec';

/** PostgreSQL, Patroni's REST API, etcd, and HAProxy's primary, replica and health listeners. */
export const PRODUCTION_PORTS: ClusterPorts = {
  postgres: 5432,
  restApi: 8008,
  etcdClient: 2379,
  etcdPeer: 2380,
  etcdMetrics: 2381,
  haproxyPrimary: 5000,
  haproxyReplica: 5001,
  haproxyHealth: 8404,
};

/**
 * How long an idle client session lives, the same at every hop: HAProxy's `timeout client` and
 * `timeout server`, and the load balancer's TCP idle timeout (which defaults to 350 s). Clients
 * that idle longer send TCP keepalives (the library's client does, every 60 s).
 */
export const SESSION_IDLE_TIMEOUT_SECONDS = 1800;

/** pgBackRest's TLS server on every node of a cluster with backups and TLS (pgBackRest's default port). */
export const PGBACKREST_TLS_PORT = 8432;
