// The etcd 3.4 membership procedures of the Patroni runbook, as steps of shell lines. The runbook
// prints them; a test runs the very same lines against real etcd 3.4 members started from the
// rendered etcd.conf.yml (test/runbook/etcd-procedures.test.ts).

/** Where etcd's files are on a node, and its unit. */
export interface EtcdNodeLayout {
  /** The rendered etcd.conf.yml. */
  readonly configFile: string;
  /** etcd's data directory (`data-dir` in the config). */
  readonly dataDir: string;
  /** The systemd unit running etcd. */
  readonly unit: string;
  /** patroni.yml, for `patronictl -c`. */
  readonly patroniConfigFile: string;
}

/** Which member a step runs on. */
export type StepHost = 'healthy member' | 'replaced member' | 'survivor' | 'returning member';

/** One step: what it does, where it runs, its shell lines. */
export interface ProcedureStep {
  readonly title: string;
  readonly on: StepHost;
  readonly lines: readonly string[];
  /** What to look for in the output, and what to do when it differs. */
  readonly expect?: string;
}

/** The member names, for the guard messages. */
export interface EtcdProcedureOptions {
  readonly layout: EtcdNodeLayout;
  readonly memberNames: readonly string[];
}

function orList(names: readonly string[]): string {
  return names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}

/** Lines that read this member's client URL and the peer URL of `$MEMBER` from the rendered config. */
function locate(layout: EtcdNodeLayout, memberNames: readonly string[], what: string): string[] {
  return [
    `MEMBER="\${MEMBER:?set MEMBER to the member to ${what}: ${orList(memberNames)}}"`,
    `ETCD="$(sed -n 's/^advertise-client-urls: //p' ${layout.configFile})"`,
    `PEER="$(sed -n 's/^initial-cluster: //p' ${layout.configFile} | tr ',' '\\n' | sed -n "s/^$MEMBER=//p")"`,
    'echo "asking $ETCD; $MEMBER peers at $PEER"',
  ];
}

/**
 * Replace one etcd member whose data is gone (a replaced instance: the data directory lives on the
 * root volume) while the others keep quorum: remove it, add it back, start it empty as `existing`.
 */
export function replaceMemberSteps(options: EtcdProcedureOptions): ProcedureStep[] {
  const { layout, memberNames } = options;
  return [
    {
      title: 'Find the member and check that the others have quorum.',
      on: 'healthy member',
      lines: [
        ...locate(layout, memberNames, 'replace'),
        'etcdctl --endpoints "$ETCD" member list -w table',
        'etcdctl --endpoints "$ETCD" endpoint health --cluster',
      ],
      expect:
        'Every member but $MEMBER healthy, and they are a majority of the list. If not, stop: this procedure needs quorum (see "If etcd lost its quorum").',
    },
    {
      title: 'Stop etcd on the member being replaced (after a new instance it fails at every start with "member ... has already been bootstrapped").',
      on: 'replaced member',
      lines: [`sudo journalctl -u ${layout.unit} -n 20 --no-pager`, `sudo systemctl stop ${layout.unit}`],
    },
    {
      title: 'Remove the member. Remove before adding: adding first makes four members, whose quorum of three the two running ones cannot reach.',
      on: 'healthy member',
      lines: [
        'ID="$(etcdctl --endpoints "$ETCD" member list | awk -F\', \' -v peer="$PEER" \'$4 == peer { print $1 }\')"',
        'echo "removing $MEMBER, ID $ID"',
        'etcdctl --endpoints "$ETCD" member remove "$ID"',
      ],
      expect: '`Member <ID> removed from cluster <cluster ID>`. An empty ID means no member has that peer URL: check `member list` and the value of $PEER.',
    },
    {
      title: 'Add it back under the same name and peer URL.',
      on: 'healthy member',
      lines: ['etcdctl --endpoints "$ETCD" member add "$MEMBER" --peer-urls="$PEER"'],
      expect:
        '`ETCD_INITIAL_CLUSTER` lists the same members as the `initial-cluster` line of the member\'s etcd.conf.yml (in any order), and ' +
        '`ETCD_INITIAL_CLUSTER_STATE="existing"`. On `etcdserver: unhealthy cluster`, a member joined moments ago: wait 10 s and add again.',
    },
    {
      title: 'Start the member empty, joining the existing cluster.',
      on: 'replaced member',
      lines: [
        `sudo rm -rf ${layout.dataDir}/member`,
        `sudo sed -i 's/^initial-cluster-state: new$/initial-cluster-state: existing/' ${layout.configFile}`,
        `grep '^initial-cluster' ${layout.configFile}`,
        `sudo systemctl start ${layout.unit}`,
      ],
      expect:
        '`initial-cluster-state: existing`, and the start returns once the member has joined. Leave the file as it is: etcd ignores the ' +
        'initial-cluster settings once its data directory exists, and a new instance writes the rendered file again.',
    },
    {
      title: 'Check the cluster and Patroni.',
      on: 'healthy member',
      lines: [
        'etcdctl --endpoints "$ETCD" member list -w table',
        'etcdctl --endpoints "$ETCD" endpoint health --cluster',
        'etcdctl --endpoints "$ETCD" endpoint status --cluster -w table',
        'ETCDCTL_API=2 etcdctl --endpoints "$ETCD" ls --recursive /service',
        `sudo -u postgres patronictl -c ${layout.patroniConfigFile} list`,
      ],
      expect:
        'Every member started and healthy, the same RAFT INDEX everywhere within seconds, Patroni\'s keys listed (it uses etcd\'s v2 API, ' +
        'hence `ETCDCTL_API=2`), and every Patroni member listed.',
    },
  ];
}

/**
 * Rebuild etcd from one survivor when a majority of members lost their data for good: force a
 * new one-member cluster from the survivor's data, then add the others back one at a time.
 */
export function rebuildFromSurvivorSteps(options: EtcdProcedureOptions): ProcedureStep[] {
  const { layout, memberNames } = options;
  return [
    {
      title: 'Keep a copy of the survivor\'s data, then restart it as a cluster of one, with its data. etcd 3.4 ignores command-line flags when it has a config file, so the switch goes into the file.',
      on: 'survivor',
      lines: [
        `sudo systemctl stop ${layout.unit}`,
        `sudo cp -a ${layout.dataDir} "${layout.dataDir}.backup-$(date -u +%Y%m%dT%H%M%SZ)"`,
        `echo 'force-new-cluster: true' | sudo tee -a ${layout.configFile}`,
        `sudo systemctl start ${layout.unit}`,
      ],
    },
    {
      title: 'Take the switch out again at once: left in, every restart would throw the other members out.',
      on: 'survivor',
      lines: [
        `sudo sed -i '/^force-new-cluster: true$/d' ${layout.configFile}`,
        `sudo systemctl restart ${layout.unit}`,
        `ETCD="$(sed -n 's/^advertise-client-urls: //p' ${layout.configFile})"`,
        'etcdctl --endpoints "$ETCD" member list -w table',
        'etcdctl --endpoints "$ETCD" endpoint health --cluster',
        'ETCDCTL_API=2 etcdctl --endpoints "$ETCD" ls --recursive /service',
      ],
      expect: 'One member, healthy, and Patroni\'s keys still there (it uses etcd\'s v2 API, hence `ETCDCTL_API=2`).',
    },
    {
      title: 'Add one member back (repeat this and the next two steps for each member, one at a time).',
      on: 'survivor',
      lines: [...locate(layout, memberNames, 'add back'), 'etcdctl --endpoints "$ETCD" member add "$MEMBER" --peer-urls="$PEER"'],
      expect:
        'Copy the `ETCD_INITIAL_CLUSTER` value it prints: it lists only the members added so far, and the new member must start with exactly that. ' +
        'Until the new member has joined, the cluster has no quorum. On `etcdserver: unhealthy cluster`, the previous member joined moments ago: wait 10 s and add again.',
    },
    {
      title: 'Start it empty, with the initial cluster `member add` printed.',
      on: 'returning member',
      lines: [
        'INITIAL_CLUSTER="${INITIAL_CLUSTER:?set INITIAL_CLUSTER to the ETCD_INITIAL_CLUSTER value member add printed}"',
        `sudo systemctl stop ${layout.unit}`,
        `sudo rm -rf ${layout.dataDir}/member`,
        `sudo sed -i -e "s|^initial-cluster: .*|initial-cluster: $INITIAL_CLUSTER|" -e 's/^initial-cluster-state: new$/initial-cluster-state: existing/' ${layout.configFile}`,
        `grep '^initial-cluster' ${layout.configFile}`,
        `sudo systemctl start ${layout.unit}`,
      ],
    },
    {
      title: 'Wait until every member is healthy before adding the next.',
      on: 'survivor',
      lines: ['etcdctl --endpoints "$ETCD" member list -w table', 'etcdctl --endpoints "$ETCD" endpoint health --cluster'],
    },
    {
      title: 'Once all are back: Patroni elects a leader by itself as soon as etcd has quorum.',
      on: 'survivor',
      lines: ['etcdctl --endpoints "$ETCD" endpoint status --cluster -w table', `sudo -u postgres patronictl -c ${layout.patroniConfigFile} list`],
    },
  ];
}
