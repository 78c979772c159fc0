// A local standby's bad input, refused before anything is made (no cluster is needed for these).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stateFile } from '../../lib/local/layout';
import { PEERING_PORT } from '../../lib/local/peering';
import { standbyPrimary, standbySource, standbySpec } from '../../lib/local/standby';
import { buildLocalSpec } from '../../lib/local/local-spec';
import { localBackupSpec } from '../../lib/local/backup/repository';
import { TIMING_PROFILES } from '../../lib/local/profiles';
import type { ClusterSpec } from '../../lib/patroni/config';

describe('a local standby cluster: its primary, checked first', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cdkf-standby-unit-'));
  /** No primary here was promoted: only clusters made as standbys are asked. */
  const notPromoted = async () => false;
  const spec = (name: string, backup: boolean): ClusterSpec => {
    const built = buildLocalSpec({ clusterName: name, nodeCount: 3, timing: TIMING_PROFILES.fast, clusterDir: path.join(root, name) });
    return backup ? { ...built, backup: localBackupSpec(root, name) } : built;
  };
  const save = (name: string, s: ClusterSpec) => {
    fs.mkdirSync(path.dirname(stateFile(root, name)), { recursive: true });
    const client = { namespace: `cdkfo-${name}-client`, address: '10.213.77.100' };
    fs.writeFileSync(stateFile(root, name), JSON.stringify({ version: 1, clusterName: name, dir: path.join(root, name), client, spec: s }));
  };
  save('prim', spec('prim', true));
  save('nobk', spec('nobk', false));
  const peering = { primaryNamespace: 'cdkfo-prim-client', primaryAddress: '10.213.77.100', primaryPort: 5000 };
  save('foll', standbySpec(spec('foll', true), { clusterName: 'prim', credentials: spec('prim', true).credentials, peering }));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test.each([
    ['sec', 'sec', "a standby follows another cluster: --standby-of must differ from --cluster 'sec'"],
    ['prim', 'foll', "cluster 'prim' exists: a standby is a new cluster"],
    ['sec', 'gone', "no local cluster 'gone' to follow: make it first with 'failover local up --cluster gone --backup'"],
    ['sec', 'nobk', "cluster 'nobk' has no backup repository: a standby follows its primary through it (make the primary with --backup)"],
    ['sec', 'foll', "cluster 'foll' is itself a standby of 'prim': a standby of a standby is not supported; follow 'prim' instead"],
    ['sec', 'Bad_Name', /Bad_Name/],
  ])('%s as a standby of %s is refused', async (name, primary, message) => {
    await expect(standbyPrimary(name, root, primary, notPromoted)).rejects.toThrow(message);
  });

  test("a cluster made as a standby and promoted since (its /config follows no one) may be followed; its /config is asked", async () => {
    const asked: string[] = [];
    const made = await standbyPrimary('sec', root, 'foll', async (name) => {
      asked.push(name);
      return true;
    });
    expect(asked).toEqual(['foll']);
    expect(made.clusterName).toBe('foll');
  });

  test("the standby takes the primary's database roles (its data holds them), keeps its own REST API password, and follows the primary's stanza", async () => {
    const primary = await standbyPrimary('sec', root, 'prim', notPromoted);
    const own = spec('sec', true);
    const made = standbySpec(own, primary);
    const theirs = spec('prim', true).credentials;
    expect(made.credentials.restApi).toEqual(own.credentials.restApi);
    expect(made.credentials.replication.username).toBe(theirs.replication.username);
    expect(made.credentials.replication.password).toBe(primary.credentials.replication.password);
    expect(made.credentials.superuser.password).toBe(primary.credentials.superuser.password);
    expect(made.backup?.standbyOf).toEqual({ stanza: 'prim', path: '/prim' });
    expect(made.backup?.repositories[0]?.path).toBe('/sec');
    expect(standbySource(made)).toEqual({ stanza: 'prim', path: '/prim', target: { type: 'latest' } });
    expect(standbySource(own)).toBeUndefined();
  });

  test("streaming: the standby follows the primary's writer endpoint through the peering relay at its own client address, and the repository still", async () => {
    const primary = await standbyPrimary('sec', root, 'prim', notPromoted);
    expect(primary.peering).toEqual({ primaryNamespace: 'cdkfo-prim-client', primaryAddress: '10.213.77.100', primaryPort: spec('prim', true).ports.haproxyPrimary });
    const made = standbySpec(spec('sec', true), primary, { clientAddress: '10.213.77.100' });
    expect(made.backup?.standbyOf).toEqual({ stanza: 'prim', path: '/prim', host: '10.213.77.100', port: PEERING_PORT });
    expect(standbySource(made)).toEqual({ stanza: 'prim', path: '/prim', target: { type: 'latest' } });
  });
});
