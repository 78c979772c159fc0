import { clusterPaths, configFilePath, debianNodePaths, nodePaths, renderPgHba } from '../../../lib/patroni/config';
import { ec2Spec, nodeTree } from './fixtures';

describe('node paths', () => {
  test('default to the Debian layout the bootstrap script prepares', () => {
    const spec = ec2Spec();
    expect(nodePaths(spec, spec.nodes[0])).toEqual(debianNodePaths(15));
    expect(configFilePath(debianNodePaths(15), 'roleChangeCallback')).toBe('/etc/cdk-failover/on_role_change.sh');
  });

  test('a node\'s own paths win over the spec\'s, which win over Debian\'s', () => {
    const specWide = nodeTree('/srv/cluster', 'all');
    const own = nodeTree('/srv/cluster', 'pg-1');
    const base = ec2Spec();
    const spec = ec2Spec({ paths: specWide, nodes: base.nodes.map((n) => (n.name === 'pg-1' ? { ...n, paths: own } : n)) });
    expect(clusterPaths(spec)).toEqual(specWide);
    expect(nodePaths(spec, spec.nodes[0])).toEqual(specWide);
    expect(nodePaths(spec, spec.nodes[1])).toEqual(own);
  });

  test('refuse a relative path, naming it', () => {
    expect(() => clusterPaths(ec2Spec({ paths: { ...debianNodePaths(15), logDir: 'log' } }))).toThrow(
      "paths.logDir must be an absolute path of letters, digits and . _ / -, got 'log'",
    );
  });
});

describe('renderPgHba', () => {
  test('writes a client CIDR that equals a cluster CIDR once', () => {
    const lines = renderPgHba(ec2Spec({ clusterCidrs: ['10.0.0.0/16'], clientCidrs: ['10.0.0.0/16'] }));
    expect(lines.filter((l) => l.includes('10.0.0.0/16'))).toHaveLength(2); // replication + all
  });

  test('refuses a superuser name that pg_hba would misread', () => {
    const spec = ec2Spec();
    const named = (username: string) => ec2Spec({ credentials: { ...spec.credentials, superuser: { username, password: 'x' } } });
    const allowed = "(letters, digits, _; not one of pg_hba's keywords all, sameuser, samerole, samegroup, replication)";
    expect(() => renderPgHba(named('my admin'))).toThrow(`credentials.superuser.username must be a plain role name ${allowed}, got 'my admin'`);
    // A plain word, but pg_hba would read it as every role: the reject line would shut everyone out.
    expect(() => renderPgHba(named('All'))).toThrow(`credentials.superuser.username must be a plain role name ${allowed}, got 'All'`);
  });

  test('the superuser line of an IPv6 node is its /128', () => {
    const spec = ec2Spec({ nodes: [{ name: 'pg-0', address: 'fd00::a' }, { name: 'pg-1', address: '10.0.2.10' }] });
    expect(renderPgHba(spec).filter((l) => / postgres .*scram/.test(l) && l.startsWith('host'))).toEqual([
      'host    all             postgres        fd00::a/128 scram-sha-256',
      'host    all             postgres        10.0.2.10/32 scram-sha-256',
    ]);
  });

  test('refuses ::/0 and an empty cluster CIDR list', () => {
    expect(() => renderPgHba(ec2Spec({ clusterCidrs: ['::/0'] }))).toThrow("clusterCidrs must not contain '::/0'");
    expect(() => renderPgHba(ec2Spec({ clusterCidrs: [] }))).toThrow('clusterCidrs must not be empty');
  });

  test('refuses a replication role name that pg_hba would misread', () => {
    const spec = ec2Spec();
    const credentials = { ...spec.credentials, replication: { username: 'repl user', password: '__R__' } };
    expect(() => renderPgHba(ec2Spec({ credentials }))).toThrow(
      "credentials.replication.username must be a plain role name (letters, digits, _; not one of pg_hba's keywords all, sameuser, samerole, samegroup, replication), got 'repl user'",
    );
  });
});
