// A stand-in for AWS's SSM agent package, for the booted rehearsal and the installer's tests: a
// Debian package named amazon-ssm-agent (a unit whose program only idles) signed, as AWS signs
// theirs, with a detached OpenPGP signature, by a key made here with gnupg. The nodes' installer
// then runs unchanged: download, gpgv against the pinned key, dpkg -i, systemctl.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SSM_AGENT_FILES } from '../../patroni/config/ssm-agent';
import { run } from '../../util/command';

const KEY_FILE = 'signing-key.asc';
const FINGERPRINT_FILE = 'signing-key.fingerprint';

export interface SigningKey {
  /** The GnuPG home holding the secret key. */
  readonly home: string;
  readonly fingerprint: string;
  /** The ASCII-armored public key. */
  readonly armored: string;
}

async function gpg(home: string, args: readonly string[]): Promise<string> {
  return (await run('gpg', ['--homedir', home, '--batch', '--quiet', '--no-tty', ...args])).stdout;
}

/** A new ed25519 signing key (no passphrase) in a GnuPG home of its own, `home`. */
export async function makeSigningKey(home: string, name: string): Promise<SigningKey> {
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  try {
    await gpg(home, ['--pinentry-mode', 'loopback', '--passphrase', '', '--quick-gen-key', `${name} <${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}@rehearsal.invalid>`, 'ed25519', 'sign', 'never']);
    const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(await gpg(home, ['--with-colons', '--list-secret-keys']))?.[1];
    if (!fingerprint) throw new Error(`gpg made no key in ${home}`);
    return { home, fingerprint, armored: await gpg(home, ['--armor', '--export', fingerprint]) };
  } finally {
    await stopAgent(home);
  }
}

/** `file`.sig, a detached binary signature of `file` by `key`. */
export async function signDetached(key: SigningKey, file: string): Promise<void> {
  try {
    await gpg(key.home, ['--yes', '--local-user', key.fingerprint, '--detach-sign', '--output', `${file}.sig`, file]);
  } finally {
    await stopAgent(key.home);
  }
}

/** gpg starts an agent per home: stopped here, so no process outlives the caller. */
async function stopAgent(home: string): Promise<void> {
  await run('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { allowFailure: true });
}

/** A Debian package `packageName` at `out` holding an idle /usr/bin/amazon-ssm-agent and its unit. */
export async function buildStandInPackage(out: string, packageName = 'amazon-ssm-agent'): Promise<void> {
  const root = `${out}.root`;
  fs.rmSync(root, { recursive: true, force: true });
  const write = (file: string, content: string, mode = 0o644) => {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true, mode: 0o755 });
    fs.writeFileSync(path.join(root, file), content, { mode });
  };
  write('DEBIAN/control', [
    `Package: ${packageName}`,
    'Version: 0.0.0-rehearsal',
    'Architecture: all',
    'Maintainer: cdk-failover rehearsal <rehearsal@rehearsal.invalid>',
    "Description: stand-in for AWS's SSM agent (the booted rehearsal has no Systems Manager)",
    '',
  ].join('\n'));
  write('usr/bin/amazon-ssm-agent', '#!/bin/sh\necho "stand-in SSM agent: nothing to connect to in the rehearsal"\nexec sleep infinity\n', 0o755);
  write('lib/systemd/system/amazon-ssm-agent.service', [
    '[Unit]',
    "Description=Stand-in for AWS's SSM agent (cdk-failover rehearsal)",
    '',
    '[Service]',
    'ExecStart=/usr/bin/amazon-ssm-agent',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n'));
  try {
    await run('dpkg-deb', ['--root-owner-group', '--build', root, out]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/**
 * The rehearsal's package, signature and key in `dir` (made once: every synthesis of the
 * rehearsal stack pins the same key). Returns what `PatroniCluster`'s `ssmAgent` takes.
 */
export async function ensureStandInSsmAgent(dir: string): Promise<{ signingKey: string; signingKeyFingerprint: string }> {
  // The fingerprint is written last: a run cut short before it starts afresh.
  if (!fs.existsSync(path.join(dir, FINGERPRINT_FILE))) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const key = await makeSigningKey(path.join(dir, 'gnupg'), 'Rehearsal SSM Agent');
    await buildStandInPackage(path.join(dir, SSM_AGENT_FILES.package));
    await signDetached(key, path.join(dir, SSM_AGENT_FILES.package));
    fs.writeFileSync(path.join(dir, KEY_FILE), key.armored);
    fs.writeFileSync(path.join(dir, FINGERPRINT_FILE), `${key.fingerprint}\n`);
  }
  return standInSsmAgentKey(dir);
}

/** The key `ensureStandInSsmAgent` made in `dir`, as `PatroniCluster`'s `ssmAgent` takes it. */
export function standInSsmAgentKey(dir: string): { signingKey: string; signingKeyFingerprint: string } {
  return {
    signingKey: fs.readFileSync(path.join(dir, KEY_FILE), 'utf8'),
    signingKeyFingerprint: fs.readFileSync(path.join(dir, FINGERPRINT_FILE), 'utf8').trim(),
  };
}
