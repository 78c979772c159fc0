// EC2 user data is limited to 16 KB, and a node's bootstrap script with its embedded files is
// larger. So the script is rendered with placeholders where CloudFormation values go (addresses,
// ARNs, the volume ID), gzip-compressed at synth, and a short header fills the values in at boot.
import { gzipSync } from 'zlib';

/** EC2's limit on raw user data. */
export const USER_DATA_LIMIT_BYTES = 16 * 1024;

const PLACEHOLDER = /^__[A-Z0-9_]+__$/;

/**
 * The user data: `values` (placeholder -> value, values may be CDK tokens) and the compressed
 * script. At boot the header substitutes every placeholder in the script, then runs it.
 */
export function packUserData(script: string, values: Record<string, string>): string {
  const entries = Object.entries(values);
  for (const [placeholder] of entries) {
    if (!PLACEHOLDER.test(placeholder)) throw new Error(`user data placeholder must look like __NAME__, got '${placeholder}'`);
    if (!script.includes(placeholder)) throw new Error(`user data placeholder ${placeholder} does not occur in the script`);
  }
  // mtime 0 and a fixed level keep the bytes, and so the template, the same on every synth.
  const compressed = gzipSync(Buffer.from(script, 'utf8'), { level: 9 }).toString('base64');
  const wrapped = compressed.match(/.{1,76}/g)!.join('\n');
  return [
    '#!/bin/bash',
    '# cdk-failover node bootstrap. The script travels gzip-compressed (EC2 user data is limited to',
    '# 16 KB); the values CloudFormation resolves at deploy time are substituted into it here.',
    'set -euo pipefail',
    'umask 077',
    'boot=/run/cdk-failover-boot',
    'install -d -m 0700 "$boot"',
    "cat >\"$boot/values\" <<'CDK_FAILOVER_VALUES'",
    ...entries.map(([placeholder, value]) => `${placeholder} ${value}`),
    'CDK_FAILOVER_VALUES',
    "base64 -d >\"$boot/bootstrap.sh.gz\" <<'CDK_FAILOVER_SCRIPT'",
    wrapped,
    'CDK_FAILOVER_SCRIPT',
    "python3 - \"$boot/values\" \"$boot/bootstrap.sh.gz\" \"$boot/bootstrap.sh\" <<'CDK_FAILOVER_UNPACK'",
    'import gzip, sys',
    "values = [line.rstrip('\\n').split(' ', 1) for line in open(sys.argv[1]) if line.strip()]",
    "script = gzip.open(sys.argv[2], 'rt', encoding='utf-8').read()",
    'for placeholder, value in values:',
    '    script = script.replace(placeholder, value)',
    "open(sys.argv[3], 'w', encoding='utf-8').write(script)",
    'CDK_FAILOVER_UNPACK',
    'exec /bin/bash "$boot/bootstrap.sh"',
    '',
  ].join('\n');
}
