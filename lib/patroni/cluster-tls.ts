// Whether a PatroniCluster runs TLS on every link, and how its certificates are made.
import { Duration } from 'aws-cdk-lib';
import { issuerSettings } from './certificate-issuer';

/** How the cluster's certificates are issued at deploy time. */
export interface IssuedCertificatesOptions {
  /**
   * How long node, database and operator certificates are valid; the cluster's two CAs' certificates
   * twice as long. From 1 day to 10 years, whole days. A change is a rotation (below). Raising it
   * shortens the life of CA copies clients took before (docs/security.md).
   * @default Duration.days(365)
   */
  readonly validity?: Duration;

  /**
   * Change it (to any new value, for example the date) to rotate: the CAs renewed with their keys
   * and new certificates issued. The nodes roll them out one at a time, the leader last (etcd
   * restarted, Patroni and PostgreSQL reloaded, no failover). Rotate before `validity` runs out
   * (the CertificatesExpiring alarm). 1 to 64 of A-Z, a-z, 0-9, '.', '_', ':' and '-'.
   * @default '0'
   */
  readonly rotation?: string;
}

/**
 * TLS on the cluster's links: etcd (clients and peers show certificates), Patroni's REST API
 * (HTTPS; writes need a certificate, an allowlisted address and the password) and PostgreSQL
 * (TLS only; replication and pg_rewind with `verify-full`).
 */
export class ClusterTls {
  /**
   * A cluster CA and certificates issued at deploy time by a custom resource into Secrets Manager:
   * the CA keys in a secret only the issuing function reads, each node's certificate in one the
   * node role reads, an operator's client certificate in a third. No key is ever in a template,
   * the user data or a log.
   */
  public static issued(options: IssuedCertificatesOptions = {}): ClusterTls {
    try {
      issuerSettings(options);
    } catch (err) {
      throw new Error(`ClusterTls.issued: ${(err as Error).message}`, { cause: err });
    }
    return new ClusterTls(true, options);
  }

  /**
   * Plain HTTP and PostgreSQL without TLS, as clusters made before TLS existed run. Only for such
   * a cluster: TLS cannot be turned on or off on a running cluster (its nodes refuse the change).
   */
  public static readonly OFF = new ClusterTls(false, {});

  private constructor(
    /** Whether the links use TLS. */
    public readonly enabled: boolean,
    /** The issuing options (empty when off). */
    public readonly certificates: IssuedCertificatesOptions,
  ) {}
}
