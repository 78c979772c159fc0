// AWS's SSM agent (Session Manager, the only way onto a node): Debian's archive has none, so the
// node fetches AWS's package for its region and installs it only when gpgv verifies its detached
// signature against a key the construct pins. The node agent runs this script where the agent is
// missing: at first boot when it is required, else once the node is ready (see node-agent-py.ts).
import { quotedHeredoc, shellQuote } from './shell';
import { ClusterSpec, SsmAgentSpec } from './spec';

export const SSM_AGENT_INSTALLER_PATH = '/usr/local/sbin/cdk-failover-ssm-agent';
/** What AWS's package installs: the program whose absence means "not installed", and its unit. */
export const SSM_AGENT_PROGRAM = '/usr/bin/amazon-ssm-agent';
export const SSM_AGENT_UNIT = 'amazon-ssm-agent.service';
const PACKAGE = 'amazon-ssm-agent';
/** The files of AWS's distribution for one architecture: the package and its detached signature. */
export const SSM_AGENT_FILES = { package: `${PACKAGE}.deb`, signature: `${PACKAGE}.deb.sig` } as const;

function checkSpec(ssm: SsmAgentSpec): void {
  if (!ssm.fingerprints.length) throw new Error('ssmAgent.fingerprints must name at least one key');
  for (const f of ssm.fingerprints) if (!/^[0-9A-F]{40}$/.test(f)) throw new Error(`ssmAgent.fingerprints must be 40 upper-case hex digits each, got '${f}'`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(ssm.keyring)) throw new Error('ssmAgent.keyring must be base64');
}

/**
 * `cdk-failover-ssm-agent fetch DIR [URL]` downloads the package and its signature into DIR and
 * prints the verified package's path; `install [URL]` fetches into a temporary directory, installs
 * and starts the agent. URL is the directory holding `amazon-ssm-agent.deb` and its `.sig`.
 */
export function renderSsmAgentInstaller(spec: ClusterSpec): string {
  const ssm = spec.ssmAgent;
  if (!ssm) throw new Error('renderSsmAgentInstaller: the spec has no ssmAgent');
  checkSpec(ssm);
  if (spec.awsRegion === undefined) throw new Error('renderSsmAgentInstaller: the spec has no awsRegion (the package is fetched from the region)');
  const keyring = ssm.keyring.match(/.{1,76}/g)!.join('\n');
  return `#!/bin/bash
# Rendered by cdk-failover: installs AWS's SSM agent for Session Manager, verified against the
# pinned signing keys. Edits are overwritten.
set -euo pipefail
umask 077
readonly region=${shellQuote(spec.awsRegion)}
# The package's signature must come from one of these keys (primary key fingerprints).
readonly fingerprints=${shellQuote(ssm.fingerprints.join('|'))}

fail() {
  echo "cdk-failover: SSM agent: $1 (runbook: A node's bootstrap failed)" >&2
  exit 1
}

# The package and its detached signature into $1 from $2; prints the package's path once gpgv has
# verified it against the pinned keys alone. A published copy of AWS's key carries an expiry
# date: gpgv still verifies a signature by an expired copy (EXPKEYSIG); the fingerprint is pinned.
fetch() {
  local dir="$1" url="$2" name status
  name="$(basename "$url")"
  for file in ${SSM_AGENT_FILES.package} ${SSM_AGENT_FILES.signature}; do
    curl -fsS --retry 5 --retry-delay 10 --retry-max-time 120 --retry-connrefused --connect-timeout 10 --max-time 120 -o "$dir/$file" "$url/$file" 2>"$dir/curl.err" ||
      fail "cannot download $url/$file: $(tail -n 1 "$dir/curl.err")"
  done
  install -d -m 0700 "$dir/gnupg"
  ${quotedHeredoc('base64 -d >"$dir/keyring.gpg"', 'CDK_FAILOVER_SSM_AGENT_KEY', keyring)}
  status="$(GNUPGHOME="$dir/gnupg" gpgv --status-fd 1 --keyring "$dir/keyring.gpg" "$dir/${SSM_AGENT_FILES.signature}" "$dir/${SSM_AGENT_FILES.package}" 2>"$dir/gpgv.err")" ||
    fail "the package from $name does not verify against the pinned keys \${fingerprints//|/, }: $(tail -n 1 "$dir/gpgv.err")"
  # VALIDSIG's last field is the primary key's fingerprint, whichever of its subkeys signed.
  grep -Eq "^\\[GNUPG:\\] VALIDSIG .* ($fingerprints)\\$" <<<"$status" || fail "the package from $name is not signed by a pinned key (\${fingerprints//|/, })"
  [ "$(dpkg-deb -f "$dir/${SSM_AGENT_FILES.package}" Package)" = ${PACKAGE} ] || fail "the package from $name is not ${PACKAGE}"
  echo "$dir/${SSM_AGENT_FILES.package}"
}

default_url="https://s3.$region.amazonaws.com/amazon-ssm-$region/latest/debian_$(dpkg --print-architecture)"
case "\${1:-}" in
  fetch)
    if [ $# -lt 2 ] || [ $# -gt 3 ]; then fail "usage: $0 fetch DIR [URL]"; fi
    fetch "$2" "\${3:-$default_url}"
    ;;
  install)
    if [ $# -gt 2 ]; then fail "usage: $0 install [URL]"; fi
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    package="$(fetch "$work" "\${2:-$default_url}")"
    # apt waits for dpkg's lock (unattended-upgrades on a young instance) and names the error.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 "$package" >"$work/apt.out" 2>&1 ||
      fail "installing the package failed: $(grep -m 1 -E '^(E|dpkg): ' "$work/apt.out" || tail -n 1 "$work/apt.out")"
    systemctl enable --now ${SSM_AGENT_UNIT} 2>"$work/systemctl.err" || fail "the agent did not start: $(tail -n 1 "$work/systemctl.err")"
    echo "cdk-failover: SSM agent $(dpkg-query -W -f '\${Version}' ${PACKAGE}) installed and started"
    ;;
  *)
    fail "usage: $0 fetch DIR [URL] | install [URL]"
    ;;
esac
`;
}
