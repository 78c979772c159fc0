import { LocalCluster } from '../lib/local';
import { backupRunnerPath, findNode, nodePaths, pgBackRestConfigPath } from '../lib/patroni/config';
const log = (l: string) => console.log(`[repro] ${l}`);
(async () => {
  const c = await LocalCluster.up({ clusterName: 'exp', timing: 'fast', backup: true, log });
  await c.sql('create table bulk as select g as id, md5(g::text) as v from generate_series(1, 1500000) g', { timeoutMs: 300000 });
  const leader = (await c.leader())!;
  const runner = (name: string) => backupRunnerPath(nodePaths(c.spec, findNode(c.spec, name)));
  const runs = c.nodeNames.map((name) => c.runOnNode(name, ['python3', '-I', runner(name), 'backup', 'full'], { allowFailure: true, timeoutMs: 600000 }).then((r) => ({ name, r })));
  let backingUp: string | undefined;
  for (let i = 0; i < 240 && !backingUp; i++) {
    for (const name of c.nodeNames) {
      const pattern = `pgbackrest --config=${pgBackRestConfigPath(nodePaths(c.spec, findNode(c.spec, name)))} .*--type=full backup`;
      if ((await c.runOnNode(name, ['pgrep', '-f', pattern], { allowFailure: true })).code === 0) backingUp = name;
    }
    if (!backingUp) await new Promise((r) => setTimeout(r, 250));
  }
  log(`leader ${leader}, backing up ${backingUp}; killing the leader at ${new Date().toISOString()}`);
  await c.kill(leader);
  const results = await Promise.all(runs);
  for (const { name, r } of results) log(`${name}: exit ${r.code}\n${r.stderr}`);
  log(`healing ${leader} at ${new Date().toISOString()}`);
  await c.heal(leader);
  try { await c.waitForHealthy({ timeoutMs: 180000 }); log('healthy'); } catch (e) { log(`NOT healthy: ${e}`); }
})().catch((e) => { console.error(e); process.exit(1); });
