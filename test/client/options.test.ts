import { FailoverPool, FailoverPoolOptionsError, type FailoverPoolOptions } from '../../lib/client';
import { parseEndpoint, resolveOptions } from '../../lib/client/options';
import { issueCertificateAuthority } from '../../lib/tls/x509';

const WRITER = 'postgresql://app:s3cret@db.example.com:5000/orders?connect_timeout=2';

function refusal(options: unknown): string {
  try {
    resolveOptions(options as FailoverPoolOptions);
  } catch (err) {
    expect(err).toBeInstanceOf(FailoverPoolOptionsError);
    return (err as Error).message;
  }
  throw new Error('the options were accepted');
}

describe('FailoverPool options', () => {
  test('defaults: 10 attempts, 30 s deadline, 100 ms to 5 s backoff, 5 s reader cool-down', () => {
    const r = resolveOptions({ writer: WRITER });
    expect(r).toMatchObject({
      maxAttempts: 10,
      deadlineMs: 30_000,
      backoff: { baseDelayMs: 100, maxDelayMs: 5000 },
      readerCooldownMs: 5000,
      readers: [],
    });
    expect(r.writer).toMatchObject({ role: 'writer', label: 'db.example.com:5000/orders', connectTimeoutMs: 2000 });
  });

  test('durations take milliseconds or anything with toMilliseconds() (a CDK Duration)', () => {
    const seconds = (n: number) => ({ toMilliseconds: () => n * 1000 });
    const r = resolveOptions({ writer: WRITER, deadline: seconds(12), baseDelay: 50, maxDelay: seconds(1), readerCooldown: 0 });
    expect(r).toMatchObject({ deadlineMs: 12_000, backoff: { baseDelayMs: 50, maxDelayMs: 1000 }, readerCooldownMs: 0 });
  });

  test('refuses a missing or malformed writer URI, without showing its password', () => {
    expect(refusal({})).toBe('FailoverPool: writer must be a postgresql:// connection URI, got undefined');
    expect(refusal({ writer: '' })).toBe('FailoverPool: writer must be a postgresql:// connection URI, got an empty string');
    expect(refusal({ writer: 'mysql://app:s3cret@db:3306/x' })).toBe(
      "FailoverPool: writer must use the postgres:// or postgresql:// scheme, got 'mysql:' in mysql://app:***@db:3306/x",
    );
    const multi = refusal({ writer: 'postgresql://app:s3cret@10.0.0.1:5000,10.0.0.2:5000/db' });
    expect(multi).toContain('node-postgres takes one host per URI');
    expect(multi).not.toContain('s3cret');
    expect(refusal({ writer: 'postgresql:///db' })).toBe('FailoverPool: writer has no host: postgresql:///db');
    expect(resolveOptions({ writer: 'postgresql:///db?host=/var/run/postgresql' }).writer.label).toBe('/var/run/postgresql:5432/db');
  });

  test('names the reader that is wrong', () => {
    expect(refusal({ writer: WRITER, readers: [WRITER, 'http://x'] })).toBe(
      "FailoverPool: readers[1] must use the postgres:// or postgresql:// scheme, got 'http:' in http://x",
    );
    expect(refusal({ writer: WRITER, readers: WRITER })).toBe('FailoverPool: readers must be an array of URIs, got string');
  });

  test('refuses maxAttempts below 1 or not an integer', () => {
    expect(refusal({ writer: WRITER, maxAttempts: 0 })).toBe('FailoverPool: maxAttempts must be an integer of at least 1, got 0');
    expect(refusal({ writer: WRITER, maxAttempts: 2.5 })).toBe('FailoverPool: maxAttempts must be an integer of at least 1, got 2.5');
  });

  test('refuses a negative, zero or non-finite deadline and delays', () => {
    expect(refusal({ writer: WRITER, deadline: -1 })).toBe(
      'FailoverPool: deadline must be a finite, non-negative number of milliseconds or a Duration, got -1',
    );
    expect(refusal({ writer: WRITER, deadline: 0 })).toBe('FailoverPool: deadline must be more than 0 ms, got 0');
    expect(refusal({ writer: WRITER, deadline: Infinity })).toContain('deadline must be a finite');
    expect(refusal({ writer: WRITER, baseDelay: 500, maxDelay: 100 })).toBe('FailoverPool: maxDelay (100 ms) must be at least baseDelay (500 ms)');
    expect(refusal({ writer: WRITER, readerCooldown: -5 })).toContain('readerCooldown must be a finite, non-negative number');
  });

  test('refuses connection settings in pool (they come from the URIs) and hooks that are not functions', () => {
    expect(refusal({ writer: WRITER, pool: { connectionString: WRITER } })).toBe(
      "FailoverPool: pool.connectionString is not allowed: each endpoint's connection comes from its URI (writer, readers)",
    );
    expect(refusal({ writer: WRITER, pool: { password: 'x' } })).toContain('pool.password is not allowed');
    expect(refusal({ writer: WRITER, hooks: { onRetry: 'log' } })).toBe('FailoverPool: hooks.onRetry must be a function, got string');
  });

  test('caCertificate: TLS to every endpoint, trusting that CA alone; refused when not PEM, beside pool.ssl, or beside a URI that sets TLS itself', () => {
    const ca = issueCertificateAuthority({ commonName: 'orders-db cluster CA', days: 30 }).certificatePem;
    expect(resolveOptions({ writer: WRITER, caCertificate: ca, pool: { max: 3 } }).pool).toEqual({ max: 3, ssl: { ca, rejectUnauthorized: true } });
    expect(resolveOptions({ writer: WRITER }).pool).toEqual({});
    expect(refusal({ writer: WRITER, caCertificate: 'ca.crt' })).toBe(
      'FailoverPool: caCertificate must be a PEM certificate (-----BEGIN CERTIFICATE-----), got 6 characters without one',
    );
    expect(refusal({ writer: WRITER, caCertificate: 42 })).toBe('FailoverPool: caCertificate must be a PEM certificate (-----BEGIN CERTIFICATE-----), got number');
    expect(refusal({ writer: WRITER, caCertificate: ca, pool: { ssl: true } })).toBe('FailoverPool: give caCertificate or pool.ssl, not both');
    expect(refusal({ writer: WRITER, readers: [`${WRITER}&sslmode=disable`], caCertificate: ca })).toBe(
      "FailoverPool: caCertificate and the reader URI's sslmode both say how to use TLS (db.example.com:5000/orders): give one",
    );
    expect(refusal({ writer: `${WRITER}&sslcert=c.pem&sslkey=k.pem`, caCertificate: ca })).toBe(
      "FailoverPool: caCertificate and the writer URI's sslcert, sslkey both say how to use TLS (db.example.com:5000/orders): give one",
    );
  });

  test('an endpoint label never holds the credentials', () => {
    const e = parseEndpoint('postgres://user:p%40ss@127.0.0.1/appdb', 'writer', 'writer');
    expect(e.label).toBe('127.0.0.1:5432/appdb');
  });

  test('the constructor validates too, and connects to nothing', async () => {
    expect(() => new FailoverPool({ writer: WRITER, maxAttempts: -1 })).toThrow('maxAttempts must be an integer of at least 1, got -1');
    const pool = new FailoverPool({ writer: WRITER, readers: [WRITER] });
    expect(pool.status().map((s) => [s.role, s.totalCount])).toEqual([
      ['writer', 0],
      ['reader', 0],
    ]);
    await pool.end();
  });
});
