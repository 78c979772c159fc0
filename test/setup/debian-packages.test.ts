import * as fs from 'node:fs';
import * as path from 'node:path';
import { installCommand, TEST_PACKAGES } from '../../lib/local/packages';
import { clusterPrecondition, hasNetAdmin, packagePlan } from './debian-packages';

const debianRoot = { linux: true, netAdmin: true, hasDpkg: true, hasAptGet: true, root: true };

describe('the test packages plan', () => {
  test('nothing missing: nothing to do, root or not', () => {
    expect(packagePlan(debianRoot, [])).toEqual({ install: [] });
    expect(packagePlan({ ...debianRoot, root: false }, [])).toEqual({ install: [] });
  });

  test('root with apt-get installs what is missing', () => {
    expect(packagePlan(debianRoot, ['etcd-server', 'haproxy'])).toEqual({ install: ['etcd-server', 'haproxy'] });
  });

  test('not root: one line naming the packages and the exact command', () => {
    expect(packagePlan({ ...debianRoot, root: false }, ['etcd-server', 'haproxy'])).toEqual({
      stop:
        'missing Debian packages: etcd-server haproxy (only root can install them). ' +
        'Install them as root: apt-get update && apt-get install -y etcd-server haproxy; npm test as root installs them itself',
    });
  });

  test('root without apt-get says so', () => {
    const plan = packagePlan({ ...debianRoot, hasAptGet: false }, ['shellcheck']);
    expect(plan).toEqual({ stop: expect.stringContaining('missing Debian packages: shellcheck (there is no apt-get to install them)') });
  });

  test('not Debian: names every package and the Node-only project', () => {
    const plan = packagePlan({ linux: false, netAdmin: false, hasDpkg: false, hasAptGet: false, root: true }, []);
    expect(plan).toEqual({ stop: expect.stringContaining(`this machine has no dpkg. Run them on Debian 12, or run npm run test:unit`) });
    expect((plan as { stop: string }).stop).toContain(TEST_PACKAGES.join(' '));
  });

  test('every message is one line', () => {
    for (const plan of [packagePlan({ ...debianRoot, root: false }, ['a', 'b']), packagePlan({ ...debianRoot, hasDpkg: false }, [])]) {
      expect((plan as { stop: string }).stop).not.toMatch(/\n/);
    }
  });
});

describe('the cluster suites', () => {
  test('run as root on Linux', () => {
    expect(clusterPrecondition(debianRoot)).toBeUndefined();
  });

  test('refuse a non-root user, and say how to run or skip them', () => {
    expect(clusterPrecondition({ ...debianRoot, root: false })).toBe(
      'the cluster tests need root (network namespaces, PostgreSQL as postgres): run npm test as root, or set SKIP_CLUSTER=1 to skip them on purpose',
    );
  });

  test('refuse a root without the network capabilities (a container), naming them', () => {
    expect(clusterPrecondition({ ...debianRoot, netAdmin: false })).toMatch(/^the cluster tests need CAP_NET_ADMIN and CAP_SYS_ADMIN .*--capability=CAP_NET_ADMIN,CAP_SYS_ADMIN/);
  });

  test('reads the capabilities from /proc/self/status', () => {
    expect(hasNetAdmin('Name:\tnode\nCapEff:\t000001ffffffffff\n')).toBe(true); // full root
    expect(hasNetAdmin('CapEff:\t00000000a80425fb\n')).toBe(false); // Docker's default set: neither 12 nor 21
    expect(hasNetAdmin('CapEff:\t0000000000001000\n')).toBe(false); // CAP_NET_ADMIN alone
    expect(hasNetAdmin('CapEff:\t0000000000201000\n')).toBe(true);
    expect(hasNetAdmin('no such line')).toBe(false);
  });

  test('refuse another system', () => {
    expect(clusterPrecondition({ ...debianRoot, linux: false })).toMatch(/^the cluster tests need Linux/);
  });
});

describe('the one package list', () => {
  test('the tests need the servers the nodes install, and their checkers', () => {
    expect(TEST_PACKAGES).toEqual(
      expect.arrayContaining(['patroni', 'etcd-server', 'etcd-client', 'haproxy', 'postgresql-15', 'shellcheck', 'systemd', 'procps', 'python3']),
    );
    expect(new Set(TEST_PACKAGES).size).toBe(TEST_PACKAGES.length);
  });

  test('CONTRIBUTING.md lists exactly these packages', () => {
    const text = fs.readFileSync(path.join(__dirname, '../../CONTRIBUTING.md'), 'utf8').replace(/\s+/g, ' ');
    const listed = /drive and that are missing: `([^`]+)`/.exec(text)?.[1];
    expect(listed).toBe(TEST_PACKAGES.join(' '));
  });

  test('installCommand is what a user types', () => {
    expect(installCommand(['a', 'b'])).toBe('apt-get update && apt-get install -y a b');
  });
});
