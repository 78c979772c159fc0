// FailoverPool's caCertificate against a real PostgreSQL 15 serving a certificate from a cluster
// CA (lib/tls): TLS is used, the CA alone is trusted, and the address the URI dials must be in the
// server's certificate (verify-full).
import { FailoverPool, FailoverPoolError } from '../../lib/client';
import { issueClusterCertificates } from '../../lib/tls/cluster-certificates';
import { rejection } from './support/assertions';
import { cannotRunPostgres, TempPostgres } from './support/temp-postgres';

const reason = cannotRunPostgres();

if (reason) {
  test('a temporary PostgreSQL can run here', () => {
    throw new Error(`${reason}: the client's tests run against a real PostgreSQL 15`);
  });
} else {
  describe('FailoverPool with caCertificate, against PostgreSQL 15 serving the cluster CA\'s certificate', () => {
    const certificates = issueClusterCertificates({ clusterName: 'tls', nodes: [{ name: 'pg-0', address: '127.0.0.1' }], days: 1 });
    let pg: TempPostgres;
    const pools: FailoverPool[] = [];
    let retries = 0;
    const pool = (writer: string, caCertificate: string) => {
      const p = new FailoverPool({ writer, caCertificate, maxAttempts: 5, baseDelay: 10, hooks: { onRetry: () => retries++ } });
      pools.push(p);
      return p;
    };

    beforeAll(async () => {
      pg = await TempPostgres.start({ tls: certificates.database });
    });

    afterAll(async () => {
      await Promise.all(pools.map((p) => p.end()));
      await pg?.destroy();
    });

    test('connects over TLS when the certificate chains to the CA and names the address dialled', async () => {
      const db = pool(pg.uri(), certificates.databaseCa.certificatePem);
      const { rows } = await db.query('SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      expect(rows[0].ssl).toBe(true);
      expect(rows[0].version).toMatch(/^TLSv1\.[23]$/);
    });

    // A certificate that does not check out is no failover: the pool fails at once, no retry.
    test('refuses a server whose certificate another CA signed', async () => {
      retries = 0;
      const other = issueClusterCertificates({ clusterName: 'tls', nodes: [{ name: 'pg-0', address: '127.0.0.1' }], days: 1 });
      const err = await rejection(pool(pg.uri(), other.databaseCa.certificatePem).query('SELECT 1'));
      expect(err).not.toBeInstanceOf(FailoverPoolError);
      expect(err.message).toBe('unable to verify the first certificate');
      expect(retries).toBe(0);
    });

    test('refuses a name the certificate does not carry (verify-full, not only the chain)', async () => {
      retries = 0;
      const err = await rejection(pool(pg.uri().replace('@127.0.0.1:', '@localhost:'), certificates.databaseCa.certificatePem).query('SELECT 1'));
      expect(err.message).toMatch(/^Hostname\/IP does not match certificate's altnames: Host: localhost\./);
      expect(retries).toBe(0);
    });
  });
}
