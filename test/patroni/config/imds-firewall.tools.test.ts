// The node's IMDS firewall, loaded by nft 1.0.6 into a network namespace of this test's own (never
// this machine's), with a stand-in listening on IMDS's address there: who gets through, who not.
import * as fs from 'fs';
import * as path from 'path';
import { CREDENTIAL_BROKER_ADDRESS } from '../../../lib/patroni/config/credential-broker';
import { IMDS_FIREWALL_FILE, IMDS_FIREWALL_UNIT, renderImdsFirewall, renderImdsFirewallUnit } from '../../../lib/patroni/config/imds-firewall';
import { makeTmpDir, removeTmpDir, run } from './fixtures';

/**
 * In a fresh network namespace: IMDS's address on lo with a server there, a second server where
 * the credential broker listens, the ruleset, then per user what IMDS's address answers and what
 * the broker's port answers when called directly.
 */
const PROBE = `
set -u
ip link set lo up
ip addr add 169.254.169.254/32 dev lo
mkdir -p "$2/imds" "$2/broker"
echo imds > "$2/imds/who"
echo broker > "$2/broker/who"
python3 -m http.server --bind 169.254.169.254 --directory "$2/imds" 80 >/dev/null 2>&1 &
imds=$!
python3 -m http.server --bind ${CREDENTIAL_BROKER_ADDRESS.address} --directory "$2/broker" ${CREDENTIAL_BROKER_ADDRESS.port} >/dev/null 2>&1 &
broker=$!
trap 'kill $imds $broker' EXIT
for _ in $(seq 1 50); do
  curl -s -o /dev/null -m 1 http://169.254.169.254/who && curl -s -o /dev/null -m 1 http://${CREDENTIAL_BROKER_ADDRESS.address}:${CREDENTIAL_BROKER_ADDRESS.port}/who && break
  sleep 0.1
done
nft -f "$1"
nft -f "$1"   # a reload replaces the table whole
for user in root postgres haproxy etcd nobody; do
  via=$(runuser -u "$user" -- curl -s -m 2 http://169.254.169.254/who || echo refused)
  direct=$(runuser -u "$user" -- curl -s -m 2 http://${CREDENTIAL_BROKER_ADDRESS.address}:${CREDENTIAL_BROKER_ADDRESS.port}/who || echo refused)
  echo "$user $via $direct"
done
nft list table inet cdk_failover_imds | grep -c 'counter packets 3 '
`;

describe('the IMDS firewall', () => {
  test("the ruleset: IMDS (IPv4 and IPv6) for root only, postgres's requests to the credential broker, whose port takes no one else; never routed through the node", () => {
    const rules = renderImdsFirewall();
    expect(rules).toContain('ip daddr 169.254.169.254 meta skuid != { root } counter reject');
    expect(rules).toContain('ip6 daddr fd00:ec2::254 meta skuid != { root } counter reject');
    expect(rules).toContain('type nat hook output priority -100; policy accept;\n    ip daddr 169.254.169.254 tcp dport 80 meta skuid { postgres } counter dnat ip to 127.0.0.1:927');
    expect(rules).toContain('ip daddr 127.0.0.1 tcp dport 927 meta skuid != { postgres } counter reject');
    expect(rules).toContain('type filter hook forward priority filter; policy accept;\n    ip daddr 169.254.169.254 counter drop');
    // Declared, deleted, then defined: one transaction that replaces the table on every load.
    expect(rules).toMatch(/^table inet cdk_failover_imds\ndelete table inet cdk_failover_imds\ntable inet cdk_failover_imds \{$/m);
  });

  test('the unit loads it at every boot before the network, and reloads it in place', () => {
    const unit = renderImdsFirewallUnit('orders-db');
    expect(unit).toContain(`ExecStart=/usr/sbin/nft -f ${IMDS_FIREWALL_FILE}\n`);
    expect(unit).toContain(`ExecReload=/usr/sbin/nft -f ${IMDS_FIREWALL_FILE}\n`);
    expect(unit).toContain('Before=network-pre.target');
    expect(unit).toContain('WantedBy=sysinit.target');
    expect(IMDS_FIREWALL_UNIT).toBe('cdk-failover-imds-firewall.service');
  });

  test('systemd-analyze verify finds nothing to say about the unit', async () => {
    const dir = makeTmpDir('imds-unit');
    try {
      const file = path.join(dir, IMDS_FIREWALL_UNIT);
      fs.writeFileSync(file, renderImdsFirewallUnit('orders-db'));
      const verify = await run('systemd-analyze', ['verify', file], { timeoutMs: 60_000 });
      expect({ code: verify.code, stderr: verify.stderr, stdout: verify.stdout }).toEqual({ code: 0, stderr: '', stdout: '' });
    } finally {
      removeTmpDir(dir);
    }
  }, 120_000);

  test("nft loads it twice; root reaches IMDS, postgres the broker in IMDS's place; haproxy, etcd and nobody are refused and counted; only postgres reaches the broker's port", async () => {
    const dir = makeTmpDir('imds');
    try {
      const rules = path.join(dir, 'imds-firewall.nft');
      const probe = path.join(dir, 'probe.sh');
      fs.writeFileSync(rules, renderImdsFirewall());
      fs.writeFileSync(probe, PROBE);
      fs.chmodSync(dir, 0o755);
      const r = await run('unshare', ['--net', 'bash', probe, rules, dir], { timeoutMs: 60_000 });
      expect(r.stderr).toBe('');
      expect(r.stdout.trim().split('\n')).toEqual([
        'root imds refused',
        'postgres broker broker',
        'haproxy refused refused',
        'etcd refused refused',
        'nobody refused refused',
        // Three refused users at IMDS's IPv4 address; four users (root included) at the broker's port: only the first counter is 3.
        '1',
      ]);
    } finally {
      removeTmpDir(dir);
    }
  }, 120_000);

  test('a ruleset nft cannot parse is refused with the reason', async () => {
    const dir = makeTmpDir('imds-bad');
    try {
      const rules = path.join(dir, 'bad.nft');
      fs.writeFileSync(rules, renderImdsFirewall().replace('meta skuid', 'meta skuidd'));
      const r = await run('unshare', ['--net', 'nft', '-c', '-f', rules], { timeoutMs: 30_000 });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/skuidd/);
    } finally {
      removeTmpDir(dir);
    }
  }, 60_000);
});
